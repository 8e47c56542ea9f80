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
