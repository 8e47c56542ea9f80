// Between nodes (Cilium's --routing-mode): how a pod's packet reaches a pod on another node.
//   tunnel  (default) the collect-metadata device cilium_vxlan in this node's namespace with
//           bpf_overlay on it; bpf_lxc encapsulates to the ipcache's tunnel endpoint with the
//           source identity as VNI (src/datapath/overlay.ts). Pods get the underlay MTU minus the
//           encapsulation (TUNNEL_OVERHEAD), so full-size segments never need fragmenting.
//   native  no encapsulation: with --auto-direct-node-routes, a route to every other node's pod
//           CIDRs via its InternalIP on the shared underlay (from the CiliumNodes), removed when the
//           node or its CIDR goes. The receiving node names the source from its ipcache.
// desiredNodeRoutes is the pure core; RoutingPart the shell. Our routes carry their own routing
// protocol number, so they are found again after a restart and nobody else's route is touched.
// stop() keeps the device, its program, the pinned mode and the routes: forwarding goes on.
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { TUNNEL_OVERHEAD, TunnelDevice } from '../datapath/constants.ts';
import { createTunnelDevice, OverlayDatapath, type RoutingMode, type TunnelProtocol } from '../datapath/overlay.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import { WorkQueue } from '../lib/workqueue.ts';
import { nodeInternalIps, type IpcacheCiliumNode, type IpcacheNode } from './ipcache.ts';
import type { AgentPart, RoutingStatus } from './types.ts';
import type { WatchCache, WatchHandler, WatchedKinds } from './watchers.ts';

export type { RoutingMode, TunnelProtocol } from '../datapath/overlay.ts';

/** The routing protocol number of the routes we install (`ip route show proto 193`). */
export const NODE_ROUTE_PROTO = 193;
export const DEFAULT_MTU = 1500;

export interface NodeRoute {
  /** another node's pod CIDR */
  cidr: string;
  /** that node's InternalIP */
  via: string;
}

/** Native routing's routes: every other node's IPv4 pod CIDRs via its InternalIP, sorted. */
export function desiredNodeRoutes(input: {
  nodeName: string;
  nodes: readonly IpcacheNode[];
  ciliumNodes: readonly IpcacheCiliumNode[];
}): NodeRoute[] {
  const internal = nodeInternalIps(input.nodes, input.ciliumNodes);
  const out: NodeRoute[] = [];
  for (const cn of input.ciliumNodes) {
    const name = cn.metadata?.name;
    const via = name ? internal.get(name) : undefined;
    if (!name || name === input.nodeName || !via) continue;
    for (const cidr of cn.spec?.ipam?.podCIDRs ?? []) if (!cidr.includes(':')) out.push({ cidr, via });
  }
  return out.sort((a, b) => (a.cidr < b.cidr ? -1 : a.cidr > b.cidr ? 1 : 0));
}

/** What to change to get from the routes we have to the routes we want. */
export function diffNodeRoutes(
  have: readonly NodeRoute[],
  want: readonly NodeRoute[],
): { replace: NodeRoute[]; remove: NodeRoute[] } {
  const haveBy = new Map(have.map((r) => [r.cidr, r.via]));
  const wantBy = new Set(want.map((r) => r.cidr));
  return {
    replace: want.filter((r) => haveBy.get(r.cidr) !== r.via),
    remove: have.filter((r) => !wantBy.has(r.cidr)),
  };
}

export interface RoutingOptions {
  nodeName: string;
  log: Logger;
  /** bpf_lxc's pin root: the routing mode is written into its cilium_encap_cfg */
  pinRoot: string;
  mode?: RoutingMode;
  tunnelProtocol?: TunnelProtocol;
  /** native mode: routes to the other nodes' pod CIDRs via their InternalIPs */
  autoDirectNodeRoutes?: boolean;
  /** the underlay MTU; default the MTU of the first device, else of the InternalIP's interface, else 1500 */
  mtu?: number | undefined;
  devices?: readonly string[];
  watch: WatchCache & { on<K extends 'nodes' | 'ciliumnode'>(name: K, h: WatchHandler<WatchedKinds[K]>): void };
}

interface IpLink {
  ifname: string;
  mtu: number;
  addr_info?: Array<{ family: string; local: string }>;
}

function ip(args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

export class RoutingPart implements AgentPart {
  readonly #o: RoutingOptions;
  readonly mode: RoutingMode;
  readonly tunnelProtocol: TunnelProtocol;
  readonly #queue: WorkQueue;
  #overlay: OverlayDatapath | undefined;
  #mtu = DEFAULT_MTU;
  #routes: NodeRoute[] = [];
  #error: string | null = null;
  #started = false;

  constructor(opts: RoutingOptions) {
    this.#o = opts;
    this.mode = opts.mode ?? 'tunnel';
    this.tunnelProtocol = opts.tunnelProtocol ?? 'vxlan';
    this.#queue = new WorkQueue(() => Promise.resolve().then(() => this.#syncRoutes()), {
      concurrency: 1,
      baseDelayMs: 500,
      onError: (_key, err, retryInMs) => {
        this.#error = errorText(err);
        opts.log.warn('syncing node routes failed, will retry', { error: this.#error, retryInMs });
      },
    });
    const changed = () => {
      if (this.#started) this.#queue.add('routes');
    };
    opts.watch.on('ciliumnode', changed);
    opts.watch.on('nodes', changed);
  }

  /** The MTU pods get: the underlay's, less the encapsulation in tunnel mode. */
  get podMtu(): number {
    return this.mode === 'tunnel' ? this.#mtu - TUNNEL_OVERHEAD : this.#mtu;
  }

  /** Sets the mode in the datapath; tunnel mode makes the device and attaches bpf_overlay. */
  start(): Promise<void> {
    const { log } = this.#o;
    this.#mtu = this.#o.mtu ?? this.#deviceMtu() ?? DEFAULT_MTU;
    // This namespace forwards between pods and the underlay (Cilium sets it too).
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    const overlay = OverlayDatapath.load({ pinRoot: this.#o.pinRoot, tunnelProtocol: this.tunnelProtocol });
    this.#overlay = overlay;
    if (this.mode === 'tunnel') {
      const ifindex = createTunnelDevice({ protocol: this.tunnelProtocol, mtu: this.#mtu });
      overlay.attach(ifindex);
      overlay.setRoutingMode('tunnel', ifindex);
    } else {
      overlay.setRoutingMode('native');
    }
    this.#started = true;
    try {
      this.#syncRoutes();
    } catch (e) {
      this.#error = errorText(e);
      this.#queue.add('routes');
    }
    log.info('routing', {
      mode: this.mode,
      ...(this.mode === 'tunnel' ? { tunnelDevice: TunnelDevice[this.tunnelProtocol] } : {}),
      mtu: this.#mtu,
      podMtu: this.podMtu,
      routes: this.#routes.length,
    });
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#started = false;
    await this.#queue.stop();
    this.#overlay?.close();
    this.#overlay = undefined;
  }

  /** Resolves when no route sync is queued or running (tests). */
  idle(): Promise<void> {
    return this.#queue.idle();
  }

  status(): RoutingStatus {
    return {
      mode: this.mode,
      tunnelProtocol: this.mode === 'tunnel' ? this.tunnelProtocol : null,
      tunnelDevice: this.mode === 'tunnel' ? TunnelDevice[this.tunnelProtocol] : null,
      autoDirectNodeRoutes: this.mode === 'native' && !!this.#o.autoDirectNodeRoutes,
      mtu: this.#mtu,
      podMtu: this.podMtu,
      nodeRoutes: this.#routes.map((r) => ({ ...r })),
      error: this.#error,
    };
  }

  /** Our routes as the kernel has them now. */
  #installedRoutes(): NodeRoute[] {
    const rows = JSON.parse(ip(['-j', '-4', 'route', 'show', 'proto', String(NODE_ROUTE_PROTO)]) || '[]') as Array<{
      dst: string;
      gateway?: string;
    }>;
    return rows.filter((r) => r.gateway).map((r) => ({ cidr: r.dst, via: r.gateway! }));
  }

  #syncRoutes(): void {
    const want =
      this.mode === 'native' && this.#o.autoDirectNodeRoutes
        ? desiredNodeRoutes({
            nodeName: this.#o.nodeName,
            nodes: this.#o.watch.list('nodes'),
            ciliumNodes: this.#o.watch.list('ciliumnode'),
          })
        : [];
    const { replace, remove } = diffNodeRoutes(this.#installedRoutes(), want);
    for (const r of remove) ip(['route', 'del', r.cidr, 'proto', String(NODE_ROUTE_PROTO)]);
    for (const r of replace) ip(['route', 'replace', r.cidr, 'via', r.via, 'proto', String(NODE_ROUTE_PROTO)]);
    if (replace.length || remove.length) {
      this.#o.log.info('node routes synced', { replaced: replace, removed: remove.map((r) => r.cidr) });
    }
    this.#routes = want;
    this.#error = null;
  }

  /** The underlay's MTU: the first --devices entry, else the interface holding the node's InternalIP. */
  #deviceMtu(): number | undefined {
    let links: IpLink[];
    try {
      links = JSON.parse(ip(['-j', 'addr', 'show'])) as IpLink[];
    } catch {
      return undefined;
    }
    const first = this.#o.devices?.[0];
    if (first) return links.find((l) => l.ifname === first)?.mtu;
    const internal = nodeInternalIps(this.#o.watch.list('nodes'), this.#o.watch.list('ciliumnode')).get(
      this.#o.nodeName,
    );
    if (!internal) return undefined;
    return links.find((l) => l.addr_info?.some((a) => a.local === internal))?.mtu;
  }
}
