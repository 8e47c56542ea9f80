// The ipcache: which identity every address of the cluster has, and behind which node it lives
// (the tunnel endpoint), as bpf_lxc looks up the peer of each packet and, in tunnel mode, the node
// to encapsulate to. desiredIpcacheEntries is the pure core (cluster state in, prefix → identity
// and tunnel endpoint out); IpcacheSync is the shell that recomputes it shortly after a change and
// writes only the difference into cilium_ipcache.
//
// The tunnel endpoint is filled whatever the routing mode (as Cilium's ipcache does): in native
// mode bpf_lxc ignores it (cilium_encap_cfg says native), and `bpf ipcache list` shows where each
// remote address lives either way.
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

/** A CiliumNode as the ipcache reads it (CiliumNode fits). */
export interface IpcacheCiliumNode {
  metadata?: { name?: string };
  spec?: { addresses?: Array<{ type?: string; ip?: string }>; ipam?: { podCIDRs?: string[] } };
}

/** A CiliumEndpoint as the ipcache reads it (CiliumEndpoint fits). */
export interface IpcacheEndpoint {
  status?: {
    identity?: { id?: number };
    /** node: the hosting node's address (Cilium) or name (older cilium-ts agents) */
    networking?: { addressing?: Array<{ ipv4?: string; ipv6?: string }>; node?: string };
  };
}

export interface IpcacheInput {
  nodeName: string;
  nodes: readonly IpcacheNode[];
  /** the CiliumNodes: other nodes' pod CIDRs and router addresses */
  ciliumNodes?: readonly IpcacheCiliumNode[];
  /** node name → the identity of its addresses (per-node identities); default remote-node */
  nodeIdentities?: ReadonlyMap<string, number>;
  /** every CiliumEndpoint of the cluster, this node's included */
  ciliumEndpoints: readonly IpcacheEndpoint[];
  /** this node's endpoints first-hand (their CiliumEndpoint may not have come back yet) */
  localEndpoints: ReadonlyArray<{ ip: string; identity: number }>;
  /** CIDR prefix (or bare address) → node-local identity */
  cidrIdentities: ReadonlyMap<string, number>;
  podCidr?: string | undefined;
}

/** One ipcache entry: the identity, and the node (its underlay IPv4 address) it lives behind. */
export interface IpcacheEntry {
  identity: number;
  /** null: on this node, or not behind a node (a CIDR, a node's own address) */
  tunnelEndpoint: string | null;
}

export function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}

const isIpv4 = (s: string | undefined): s is string => !!s && /^\d+\.\d+\.\d+\.\d+$/.test(s);

/** Each node's underlay IPv4 address (its InternalIP), from the Node or else from its CiliumNode. */
export function nodeInternalIps(
  nodes: readonly IpcacheNode[],
  ciliumNodes: readonly IpcacheCiliumNode[] = [],
): Map<string, string> {
  const out = new Map<string, string>();
  for (const cn of ciliumNodes) {
    const ip = cn.spec?.addresses?.find((a) => a.type === 'InternalIP' && isIpv4(a.ip))?.ip;
    if (cn.metadata?.name && ip) out.set(cn.metadata.name, ip);
  }
  for (const n of nodes) {
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP' && isIpv4(a.address))?.address;
    if (n.metadata?.name && ip) out.set(n.metadata.name, ip);
  }
  return out;
}

/**
 * The ipcache's desired content. Later sources win over earlier ones for the same prefix: other
 * nodes' pod CIDRs (world, behind their node), CIDR identities, node addresses, CiliumEndpoints,
 * local endpoints, then the pods' gateway (this node's router address, on the host side, is the host).
 */
export function desiredIpcacheEntries(input: IpcacheInput): Map<string, IpcacheEntry> {
  const want = new Map<string, IpcacheEntry>();
  const internal = nodeInternalIps(input.nodes, input.ciliumNodes);
  const ownIp = internal.get(input.nodeName);
  /** the tunnel endpoint of an address on node `node` (a name or an address); null on this node */
  const behind = (node: string | undefined): string | null => {
    if (!node || node === input.nodeName || node === ownIp) return null;
    return isIpv4(node) ? node : (internal.get(node) ?? null);
  };
  const nodeIdentity = (name: string | undefined): number =>
    name === input.nodeName
      ? ReservedIdentity.HOST
      : ((name ? input.nodeIdentities?.get(name) : undefined) ?? ReservedIdentity.REMOTE_NODE);

  for (const cn of input.ciliumNodes ?? []) {
    const name = cn.metadata?.name;
    const tep = behind(name);
    if (!tep) continue;
    for (const cidr of cn.spec?.ipam?.podCIDRs ?? []) {
      if (!cidr.includes(':')) want.set(cidr, { identity: ReservedIdentity.WORLD, tunnelEndpoint: tep });
    }
  }
  for (const [prefix, identity] of input.cidrIdentities) {
    const p = prefix.includes('/') ? prefix : hostPrefix(prefix);
    want.set(p, { identity, tunnelEndpoint: want.get(p)?.tunnelEndpoint ?? null });
  }
  for (const n of input.nodes) {
    const identity = nodeIdentity(n.metadata?.name);
    for (const a of n.status?.addresses ?? []) {
      if (a.type === 'InternalIP' || a.type === 'ExternalIP') {
        want.set(hostPrefix(a.address), { identity, tunnelEndpoint: null });
      }
    }
  }
  for (const cn of input.ciliumNodes ?? []) {
    const name = cn.metadata?.name;
    const identity = nodeIdentity(name);
    for (const a of cn.spec?.addresses ?? []) {
      if (!a.ip) continue;
      // The router address lives inside the node's pod CIDR: reached through the tunnel.
      const tunnelEndpoint = a.type === 'CiliumInternalIP' ? behind(name) : null;
      if (a.type === 'InternalIP' || a.type === 'ExternalIP' || a.type === 'CiliumInternalIP') {
        want.set(hostPrefix(a.ip), { identity, tunnelEndpoint });
      }
    }
  }
  for (const cep of input.ciliumEndpoints) {
    const identity = cep.status?.identity?.id;
    if (!identity) continue;
    const tunnelEndpoint = behind(cep.status?.networking?.node);
    for (const a of cep.status?.networking?.addressing ?? []) {
      for (const ip of [a.ipv4, a.ipv6]) {
        if (ip) want.set(hostPrefix(ip), { identity, tunnelEndpoint: ip.includes(':') ? null : tunnelEndpoint });
      }
    }
  }
  for (const ep of input.localEndpoints) want.set(hostPrefix(ep.ip), { identity: ep.identity, tunnelEndpoint: null });
  if (input.podCidr) {
    want.set(hostPrefix(podCidrInfo(input.podCidr).routerIp), {
      identity: ReservedIdentity.HOST,
      tunnelEndpoint: null,
    });
  }
  return want;
}

/** The identities alone: prefix → identity. */
export function desiredIpcache(input: IpcacheInput): Map<string, number> {
  return new Map([...desiredIpcacheEntries(input)].map(([prefix, e]) => [prefix, e.identity]));
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

  desired(): Map<string, IpcacheEntry> {
    return desiredIpcacheEntries(this.#o.input());
  }

  sync(): void {
    const entries: Array<[string, RemoteEndpointInfo]> = [...this.desired()].map(([prefix, e]) => [
      prefix,
      { identity: e.identity, tunnelEndpoint: e.tunnelEndpoint, flags: 0 },
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
