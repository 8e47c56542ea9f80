// Node reachability (cilium-health's idea): every few seconds this agent probes every node's agent
// health endpoint, GET http://<InternalIP>:<health port>/healthz, this node's own included (Cilium
// lists it as "(localhost)"), so `cilium-ts status` can say `Cluster health: 2/2 reachable` and
// name the nodes it cannot reach. Probes cross the underlay exactly as node traffic does; a node
// without an InternalIP counts as unreachable. Nothing here changes forwarding.
import { request } from 'node:http';
import { nodeInternalIps, type IpcacheCiliumNode, type IpcacheNode } from './ipcache.ts';
import type { AgentPart, ClusterHealthStatus, NodeHealth } from './types.ts';
import type { WatchCache } from './watchers.ts';

export const DEFAULT_PROBE_INTERVAL_MS = 5000;
const DEFAULT_PROBE_TIMEOUT_MS = 2000;

export interface ClusterHealthOptions {
  nodeName: string;
  /** the other agents' health port (the cluster runs them all on the same one) */
  port: number;
  watch: WatchCache;
  intervalMs?: number;
  timeoutMs?: number;
}

/** The nodes to probe: every Node and CiliumNode by name, with its InternalIP when known, sorted. */
export function probeTargets(
  nodes: readonly IpcacheNode[],
  ciliumNodes: readonly IpcacheCiliumNode[],
): Array<{ name: string; address: string | null }> {
  const internal = nodeInternalIps(nodes, ciliumNodes);
  const names = new Set<string>();
  for (const n of [...nodes, ...ciliumNodes]) if (n.metadata?.name) names.add(n.metadata.name);
  return [...names].sort().map((name) => ({ name, address: internal.get(name) ?? null }));
}

/** Probes /healthz once; resolves with the round trip in ms, rejects with what went wrong. */
export function probeHealthz(address: string, port: number, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = request({ host: address, port, path: '/healthz', method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume();
      res.on('end', () => {
        if (res.statusCode === 200) resolve(performance.now() - t0);
        else reject(new Error(`/healthz answered ${res.statusCode}`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export class ClusterHealth implements AgentPart {
  readonly #o: ClusterHealthOptions;
  #nodes: NodeHealth[] = [];
  #lastProbe: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;
  #waiters: Array<() => void> = [];

  constructor(opts: ClusterHealthOptions) {
    this.#o = opts;
  }

  start(): Promise<void> {
    this.#stopped = false;
    this.#tick();
    return Promise.resolve();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
  }

  /** Probes every node now; resolves when done (tests, and the first round at start). */
  async probeAll(): Promise<void> {
    const { port, nodeName, watch } = this.#o;
    const timeout = this.#o.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    const targets = probeTargets(watch.list('nodes'), watch.list('ciliumnode'));
    this.#nodes = await Promise.all(
      targets.map(async ({ name, address }): Promise<NodeHealth> => {
        const base = { name, address, local: name === nodeName };
        if (!address) return { ...base, reachable: false, latencyMs: null, error: 'no InternalIP' };
        try {
          const ms = await probeHealthz(address, port, timeout);
          return { ...base, reachable: true, latencyMs: Math.round(ms * 1000) / 1000, error: null };
        } catch (e) {
          return { ...base, reachable: false, latencyMs: null, error: e instanceof Error ? e.message : String(e) };
        }
      }),
    );
    this.#lastProbe = new Date().toISOString();
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves after the next completed round of probes. */
  nextRound(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }

  status(): ClusterHealthStatus {
    return {
      reachable: this.#nodes.filter((n) => n.reachable).length,
      total: this.#nodes.length,
      lastProbe: this.#lastProbe,
      nodes: this.#nodes.map((n) => ({ ...n })),
    };
  }

  #tick(): void {
    if (this.#stopped) return;
    this.#running = this.probeAll().finally(() => {
      this.#running = undefined;
      if (this.#stopped) return;
      this.#timer = setTimeout(() => this.#tick(), this.#o.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS);
      this.#timer.unref();
    });
  }
}
