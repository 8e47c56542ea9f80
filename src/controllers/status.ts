// Status writes of our custom resources: a JSON merge patch of the status subresource that carries
// the resourceVersion the status was computed from, so a stale write is refused (409) and retried
// by the work queue instead of overwriting a newer status (optimistic concurrency).
import { PatchStrategy, setHeaderOptions, type CustomObjectsApi, type KubernetesObject } from '@kubernetes/client-node';

/** Where a status write goes; plain data, no client objects. */
export interface StatusTarget {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespace?: string;
  name: string;
  /** the version the status was computed from; the write fails (409) if the object moved on */
  resourceVersion: string;
}

/** Merge-patches /status; resolves to the new resourceVersion, throws (409 on conflict) on failure. */
export async function patchStatus(custom: CustomObjectsApi, target: StatusTarget, status: unknown): Promise<string> {
  const { group, version, plural, kind, namespace, name, resourceVersion } = target;
  const body = {
    apiVersion: `${group}/${version}`,
    kind,
    metadata: { name, ...(namespace ? { namespace } : {}), resourceVersion },
    status,
  };
  const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
  const res = (
    namespace
      ? await custom.patchNamespacedCustomObjectStatus({ group, version, plural, namespace, name, body }, merge)
      : await custom.patchClusterCustomObjectStatus({ group, version, plural, name, body }, merge)
  ) as KubernetesObject;
  return res.metadata?.resourceVersion ?? '';
}
