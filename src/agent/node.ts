// This node's CiliumNode. As Cilium's agent does, we own spec.addresses: the Node's InternalIP and
// the CiliumInternalIP (the router address of the pod CIDR, Cilium's cilium_host address), applied
// with our field manager so the operator's spec.ipam.podCIDRs is never touched. The pod CIDR is
// learned from the operator's write (or given by a flag); the addresses are re-applied when it
// arrives and whenever the Node's InternalIP changes. A failed apply is retried with backoff.
import {
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Node,
} from '@kubernetes/client-node';
import type { CiliumNode } from '../api/types.generated.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import { WorkQueue } from '../lib/workqueue.ts';
import { AGENT_FIELD_MANAGER } from './cilium-endpoint.ts';
import { podCidrInfo } from './endpoint-state.ts';
import { HUBBLE_ADDRESS_ANNOTATION } from '../hubble/peer-source.ts';
import type { AgentPart } from './types.ts';
import type { WatchCache, WatchHandler, WatchedKinds } from './watchers.ts';

export interface NodeAddress {
  type: 'InternalIP' | 'CiliumInternalIP';
  ip: string;
}

/** The CiliumNode's spec.addresses: the Node's InternalIPs, then the router address. */
export function ciliumNodeAddresses(node: V1Node | undefined, podCidr: string | undefined): NodeAddress[] {
  const internal = (node?.status?.addresses ?? [])
    .filter((a) => a.type === 'InternalIP')
    .map((a): NodeAddress => ({ type: 'InternalIP', ip: a.address }));
  const router: NodeAddress[] = podCidr ? [{ type: 'CiliumInternalIP', ip: podCidrInfo(podCidr).routerIp }] : [];
  return [...internal, ...router];
}

/** The first IPv4 pod CIDR the operator gave the CiliumNode. */
export function podCidrOf(cn: CiliumNode | undefined): string | undefined {
  return cn?.spec?.ipam?.podCIDRs?.find((c) => !c.includes(':'));
}

export interface NodePartOptions {
  kc: KubeConfig;
  nodeName: string;
  log: Logger;
  /** a pod CIDR given by flag: the CiliumNode's is not waited for */
  podCidr?: string | undefined;
  watch: WatchCache & { on<K extends 'nodes' | 'ciliumnode'>(name: K, h: WatchHandler<WatchedKinds[K]>): void };
  /** the pod CIDR became known */
  onPodCidr: (cidr: string) => void;
  /** where this node's observer API is reachable, published for Hubble Relay's peer service; undefined = none */
  hubbleAddress?: (internalIP: string | undefined) => string | undefined;
}

export class NodePart implements AgentPart {
  readonly #o: NodePartOptions;
  readonly #custom: CustomObjectsApi;
  readonly #queue: WorkQueue;
  #podCidr: string | undefined;
  #applied: string | undefined;
  #started = false;

  constructor(opts: NodePartOptions) {
    this.#o = opts;
    this.#podCidr = opts.podCidr;
    this.#custom = opts.kc.makeApiClient(CustomObjectsApi);
    this.#queue = new WorkQueue(() => this.#apply(), {
      concurrency: 1,
      baseDelayMs: 500,
      onError: (_key, err, retryInMs) =>
        opts.log.warn('updating the CiliumNode failed, will retry', {
          node: opts.nodeName,
          error: errorText(err),
          retryInMs,
        }),
    });
    opts.watch.on('ciliumnode', (type, obj) => {
      if (obj.metadata.name !== opts.nodeName || type === 'delete' || this.#podCidr) return;
      const cidr = podCidrOf(obj);
      if (cidr) this.#learn(cidr);
    });
    opts.watch.on('nodes', (type, obj) => {
      if (obj.metadata?.name === opts.nodeName && type !== 'delete' && this.#started) this.#queue.add('apply');
    });
  }

  /** This node's pod CIDR; undefined until the operator has given one. */
  get podCidr(): string | undefined {
    return this.#podCidr;
  }

  /** Registers the addresses (after the watches synced: the Node and CiliumNode are cached). */
  async start(): Promise<void> {
    this.#podCidr ??= podCidrOf(this.#o.watch.get('ciliumnode', this.#o.nodeName));
    await this.#apply();
    this.#started = true;
  }

  async stop(): Promise<void> {
    this.#started = false;
    await this.#queue.stop();
  }

  #learn(cidr: string): void {
    this.#podCidr = cidr;
    this.#o.log.info('pod CIDR assigned', { node: this.#o.nodeName, podCidr: cidr });
    this.#o.onPodCidr(cidr);
    if (this.#started) this.#queue.add('apply');
  }

  async #apply(): Promise<void> {
    const addresses = ciliumNodeAddresses(this.#o.watch.get('nodes', this.#o.nodeName), this.#podCidr);
    const internalIP = addresses.find((a) => a.type === 'InternalIP' && !a.ip.includes(':'))?.ip;
    const hubble = this.#o.hubbleAddress?.(internalIP);
    const annotations = hubble ? { [HUBBLE_ADDRESS_ANNOTATION]: hubble } : undefined;
    const key = JSON.stringify({ addresses, annotations });
    if (key === this.#applied) return;
    const { nodeName: name } = this.#o;
    await this.#custom.patchClusterCustomObject(
      {
        group: 'cilium.io',
        version: 'v2',
        plural: 'ciliumnodes',
        name,
        fieldManager: AGENT_FIELD_MANAGER,
        force: true,
        body: {
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNode',
          metadata: { name, ...(annotations ? { annotations } : {}) },
          spec: { addresses },
        },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    this.#applied = key;
  }
}
