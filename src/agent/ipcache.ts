// The ipcache: which identity every address of the cluster has, as bpf_lxc looks it up for the
// peer of each packet. desiredIpcache is the pure core (cluster state in, prefix → identity out);
// IpcacheSync is the shell that recomputes it shortly after a change and writes only the
// difference into cilium_ipcache.
import type { RemoteEndpointInfo } from '../datapath/codecs.ts';
import type { BpfMap } from '../datapath/bpf-map.ts';
import { syncMap } from '../datapath/map-sync.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import { ReservedIdentity } from '../policy/index.ts';
import { podCidrInfo } from './endpoint-state.ts';
import type { AgentPart } from './types.ts';

/** A Node as the ipcache reads it (V1Node fits). */
export interface IpcacheNode {
  metadata?: { name?: string };
  status?: { addresses?: Array<{ type: string; address: string }> };
}

/** A CiliumEndpoint as the ipcache reads it (CiliumEndpoint fits). */
export interface IpcacheEndpoint {
  status?: {
    identity?: { id?: number };
    networking?: { addressing?: Array<{ ipv4?: string; ipv6?: string }> };
  };
}

export interface IpcacheInput {
  nodeName: string;
  nodes: readonly IpcacheNode[];
  /** every CiliumEndpoint of the cluster, this node's included */
  ciliumEndpoints: readonly IpcacheEndpoint[];
  /** this node's endpoints first-hand (their CiliumEndpoint may not have come back yet) */
  localEndpoints: ReadonlyArray<{ ip: string; identity: number }>;
  /** CIDR prefix (or bare address) → node-local identity */
  cidrIdentities: ReadonlyMap<string, number>;
  podCidr?: string | undefined;
}

export function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

/**
 * The ipcache's desired content. Later sources win over earlier ones for the same prefix:
 * CIDR identities, then node addresses, then CiliumEndpoints, then local endpoints, then the
 * pods' gateway (this node's router address, on the host side, is the host).
 */
export function desiredIpcache(input: IpcacheInput): Map<string, number> {
  const want = new Map<string, number>();
  for (const [prefix, id] of input.cidrIdentities) want.set(prefix.includes('/') ? prefix : hostPrefix(prefix), id);
  for (const n of input.nodes) {
    const id = n.metadata?.name === input.nodeName ? ReservedIdentity.HOST : ReservedIdentity.REMOTE_NODE;
    for (const a of n.status?.addresses ?? []) {
      if (a.type === 'InternalIP' || a.type === 'ExternalIP') want.set(hostPrefix(a.address), id);
    }
  }
  for (const cep of input.ciliumEndpoints) {
    const id = cep.status?.identity?.id;
    if (!id) continue;
    for (const a of cep.status?.networking?.addressing ?? []) {
      for (const ip of [a.ipv4, a.ipv6]) if (ip) want.set(hostPrefix(ip), id);
    }
  }
  for (const ep of input.localEndpoints) want.set(hostPrefix(ep.ip), ep.identity);
  if (input.podCidr) want.set(hostPrefix(podCidrInfo(input.podCidr).routerIp), ReservedIdentity.HOST);
  return want;
}

export interface IpcacheSyncOptions {
  map: () => BpfMap<string, RemoteEndpointInfo>;
  input: () => IpcacheInput;
  log: Logger;
  /** how long changes are gathered before one sync; default 20 ms */
  delayMs?: number;
}

export class IpcacheSync implements AgentPart {
  readonly #o: IpcacheSyncOptions;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #waiters: Array<() => void> = [];

  constructor(opts: IpcacheSyncOptions) {
    this.#o = opts;
  }

  start(): Promise<void> {
    this.#stopped = false;
    this.schedule();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake();
    return Promise.resolve();
  }

  /** Something the ipcache reads changed: sync soon, once for all changes until then. */
  schedule(): void {
    if (this.#timer || this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      try {
        this.sync();
      } catch (e) {
        this.#o.log.error('ipcache sync failed', { error: errorText(e) });
      }
      this.#wake();
    }, this.#o.delayMs ?? 20);
  }

  desired(): Map<string, number> {
    return desiredIpcache(this.#o.input());
  }

  sync(): void {
    const entries: Array<[string, RemoteEndpointInfo]> = [...this.desired()].map(([prefix, identity]) => [
      prefix,
      { identity, tunnelEndpoint: null, flags: 0 },
    ]);
    const r = syncMap(this.#o.map(), entries);
    if (r.added || r.changed || r.removed) this.#o.log.debug('ipcache synced', { ...r });
  }

  /** Resolves when no sync is pending. */
  idle(): Promise<void> {
    if (!this.#timer) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  get pending(): boolean {
    return this.#timer !== undefined;
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
