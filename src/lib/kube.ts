// The Kubernetes client of our own code (@kubernetes/client-node 2.x). Libraries that bring their
// own client-node versions (the operator framework, kubernetes-fluent-client) get their own
// KubeConfig from the same file: objects never cross between versions.
import { KubeConfig } from '@kubernetes/client-node';

/** --kubeconfig, then $KUBECONFIG, then in-cluster service account, then ~/.kube/config. */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  const file = path ?? process.env.KUBECONFIG;
  if (file) kc.loadFromFile(file);
  else if (process.env.KUBERNETES_SERVICE_HOST) kc.loadFromCluster();
  else kc.loadFromDefault();
  return kc;
}

/** The HTTP status of a client-node error, when it has one. */
export function statusOf(err: unknown): number | undefined {
  const e = err as { code?: unknown; statusCode?: unknown; response?: { statusCode?: unknown } };
  for (const v of [e?.code, e?.statusCode, e?.response?.statusCode]) if (typeof v === 'number') return v;
  return undefined;
}

/** A client-node error as one line: the apiserver's Status message when there is one, not the headers. */
export function errorText(err: unknown): string {
  const e = err as { body?: unknown; message?: unknown; code?: unknown };
  let body = e?.body;
  if (typeof body === 'string') {
    try {
      body = JSON.parse(body);
    } catch {
      /* not JSON */
    }
  }
  const status = body as { message?: unknown } | undefined;
  if (status && typeof status === 'object' && typeof status.message === 'string') {
    return typeof e.code === 'number' ? `${status.message} (HTTP ${e.code})` : status.message;
  }
  return typeof e?.message === 'string' ? e.message : String(err);
}
