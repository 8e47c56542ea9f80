// The CiliumEndpoint of a local endpoint: ciliumEndpointObject builds it (pure), and
// CiliumEndpointWriter applies it with the agent's field manager or deletes it. Other agents read
// these objects for their ipcache and for policies that select pods on other nodes.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from '@kubernetes/client-node';
import type { CiliumEndpoint, EndpointStatus } from '../api/types.generated.ts';
import { statusOf } from '../lib/kube.ts';
import { formatLabelSet } from '../policy/index.ts';
import type { LocalEndpoint } from './local-endpoint.ts';

export const AGENT_FIELD_MANAGER = 'cilium-ts-agent';

const CEP = { group: 'cilium.io', version: 'v2', plural: 'ciliumendpoints' } as const;

export function ciliumEndpointObject(ep: LocalEndpoint, nodeName: string): CiliumEndpoint {
  const p = ep.policy;
  const enforcement = (on: boolean | undefined) => ({ enforcing: !!on, state: on ? 'enforcing' : 'non-enforcing' });
  const { ev } = ep;
  const status: EndpointStatus = {
    id: ev.epId,
    state: ep.state,
    identity: { id: ep.identity, labels: formatLabelSet(ep.labels) },
    networking: { addressing: [{ ipv4: ev.ip }], node: nodeName },
    'external-identifiers': {
      'container-id': ev.containerId,
      'k8s-namespace': ev.namespace,
      'k8s-pod-name': ev.podName,
      'pod-name': `${ev.namespace}/${ev.podName}`,
      'cni-attachment-id': `${ev.containerId}:${ev.ifname}`,
    },
    'named-ports': ep.namedPorts,
    policy: { ingress: enforcement(p?.enforceIngress), egress: enforcement(p?.enforceEgress) },
    'service-account': ep.serviceAccount,
    // A failing regeneration shows as Cilium shows it: a failing controller, retried.
    ...(ep.failure
      ? {
          controllers: [
            {
              name: `endpoint-${ev.epId}-regeneration-recovery`,
              configuration: { 'error-retry': true },
              status: {
                'consecutive-failure-count': ep.failure.attempts,
                'last-failure-msg': ep.failure.message,
                'last-failure-timestamp': ep.failure.at,
              },
            },
          ],
        }
      : {}),
  };
  const owner = ep.podUid
    ? {
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Pod', name: ev.podName, uid: ep.podUid, blockOwnerDeletion: true },
        ],
      }
    : {};
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumEndpoint',
    metadata: { name: ev.podName, namespace: ev.namespace, ...owner },
    status,
  };
}

export class CiliumEndpointWriter {
  readonly #custom: CustomObjectsApi;
  readonly #nodeName: string;

  constructor(kc: KubeConfig, nodeName: string) {
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#nodeName = nodeName;
  }

  async apply(ep: LocalEndpoint): Promise<void> {
    await this.#custom.patchNamespacedCustomObject(
      {
        ...CEP,
        namespace: ep.ev.namespace,
        name: ep.ev.podName,
        body: ciliumEndpointObject(ep, this.#nodeName),
        fieldManager: AGENT_FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  async delete(namespace: string, name: string): Promise<void> {
    try {
      await this.#custom.deleteNamespacedCustomObject({ ...CEP, namespace, name });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }
}
