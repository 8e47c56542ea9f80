// The services part (kube-proxy replacement): Services, EndpointSlices, this node's pods (hostPorts)
// and this node's addresses → the service table (src/services, pure) → numbered frontends and
// backends → the LB maps (src/datapath/lb.ts writes only the difference). On start it reads back
// the ids the pinned maps hold before writing anything, so a restarted agent keeps every frontend's
// rev-NAT id and every backend's id, and established connections keep their backend. A change is
// synced shortly after (once for all changes until then); a failed sync is retried with backoff
// and shows in status and in cilium_ts_service_sync_errors_total.
import { Counter, type Registry } from 'prom-client';
import type { LbChangeSet, LbService, LbSyncResult } from '../datapath/lb.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import {
  backendKey,
  buildServiceTable,
  frontendKey,
  selectableBackends,
  type ServiceEntry,
} from '../services/index.ts';
import { IncrementalServiceTable, objectKey } from '../services/incremental.ts';
import { featuresInUse, idsFromRestored, nodeAddresses, planLbServices, type LbIds } from './lb-services.ts';
import { LbServiceCache } from './service-cache.ts';
import type { AgentPart, KubeProxyReplacementStatus, ServiceBackendInfo, ServiceInfo, ServiceSource } from './types.ts';
import type { WatchCache, Watchers } from './watchers.ts';

/** The datapath writer as this part uses it (LbMaps fits). */
export interface LbWriter {
  sync(services: readonly LbService[]): LbSyncResult;
  restore(): LbService[];
  /** writes only a changed subset (LbMaps has it); without it every change is a full sync */
  apply?(changes: LbChangeSet): LbSyncResult;
}

export interface ServicesPartOptions {
  nodeName: string;
  log: Logger;
  watch: Pick<Watchers, 'on'> & WatchCache;
  lb: () => LbWriter;
  /** where the part's counters are registered (the agent's registry) */
  registry?: Registry;
  /** socket-LB is attached (a status feature) */
  socketLB?: () => boolean;
  /** addresses NodePorts answer on besides the Node's own (the external interfaces', as Cilium's --devices) */
  extraNodeAddresses?: () => readonly string[];
  /** how long changes are gathered before one sync; default 20 ms */
  delayMs?: number;
  /** the longest wait between retries of a failing sync; default 5 s */
  maxBackoffMs?: number;
}

const MAX_BACKOFF_MS = 5000;

export class ServicesPart implements AgentPart, ServiceSource {
  readonly #o: ServicesPartOptions;
  readonly #events: Counter<'action'> | undefined;
  readonly #errors: Counter | undefined;
  #ids: LbIds = { services: new Map(), backends: new Map() };
  /** what the last successful sync wrote (= what the kernel holds), by rev-NAT id */
  #synced = new Map<number, ServiceInfo>();
  /** #synced by frontend address|port|protocol, built on the first lookup after a change (flows ask per event) */
  #byFrontend: Map<string, ServiceInfo> | undefined;
  /** every frontend written (undefined: ask the cache) */
  #lbServices: readonly LbService[] | undefined = [];
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #failures = 0;
  #error: string | null = null;
  #lastSync: Date | null = null;
  #waiters: Array<() => void> = [];
  /** kept between syncs when the writer can apply a subset: a change then costs what it changes */
  #table: IncrementalServiceTable | undefined;
  #cache: LbServiceCache | undefined;

  constructor(opts: ServicesPartOptions) {
    this.#o = opts;
    if (opts.registry) {
      this.#events = new Counter({
        name: 'cilium_services_events_total',
        help: 'Service events received, by action',
        labelNames: ['action'],
        registers: [opts.registry],
      });
      this.#errors = new Counter({
        name: 'cilium_ts_service_sync_errors_total',
        help: 'Syncs of the service load-balancing maps that failed (each is retried with backoff)',
        registers: [opts.registry],
      });
    }
    opts.watch.on('services', (type, svc) => {
      this.#events?.inc({ action: type });
      this.#table?.setService(objectKey(svc), type === 'delete' ? undefined : svc);
      this.schedule();
    });
    opts.watch.on('endpointslices', (type, slice) => {
      this.#table?.setSlice(objectKey(slice), type === 'delete' ? undefined : slice);
      this.schedule();
    });
    opts.watch.on('pods', (type, pod) => {
      this.#table?.setPod(objectKey(pod), type === 'delete' ? undefined : pod);
      this.schedule();
    });
    opts.watch.on('nodes', (_type, node) => {
      if (node.metadata?.name === opts.nodeName) this.schedule();
    });
  }

  /** Reads the ids the kernel holds, then syncs; nothing is written before the restore. */
  start(): Promise<void> {
    const restored = this.#o.lb().restore();
    this.#ids = idsFromRestored(restored);
    this.#synced = new Map(restored.map((s) => [s.id, infoOf(s, undefined)]));
    this.#byFrontend = undefined;
    this.#lbServices = restored;
    this.#o.log.info('service maps restored', { frontends: restored.length, backends: this.#ids.backends.size });
    this.#running = true;
    this.#run();
    return Promise.resolve();
  }

  stop(): Promise<void> {
    this.#running = false;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#wake();
    return Promise.resolve();
  }

  /** Something the table reads changed: sync soon, once for all changes until then. */
  schedule(): void {
    if (this.#timer || !this.#running) return;
    this.#timer = setTimeout(() => this.#run(), this.#o.delayMs ?? 20);
  }

  /**
   * Converges the LB maps on the table; throws what the writer throws. With a writer that can apply
   * a subset, only the objects changed since the last sync are recomputed and written; the first
   * sync, and the one after a failure, is full.
   */
  sync(): LbSyncResult {
    const lb = this.#o.lb();
    if (!lb.apply) return this.#fullSync(lb);
    if (!this.#table || !this.#cache) return this.#fullSyncKept(lb);
    return this.#incrementalSync(this.#table, this.#cache, lb.apply.bind(lb));
  }

  #incrementalSync(
    table: IncrementalServiceTable,
    cache: LbServiceCache,
    apply: (c: LbChangeSet) => LbSyncResult,
  ): LbSyncResult {
    table.setNode({ name: this.#o.nodeName, addresses: this.#nodeAddresses() });
    const changes = table.flush();
    if (changes.size === 0) return { added: 0, changed: 0, removed: 0, unchanged: 0, maglevReplaced: 0 };
    const c = cache.update(changes);
    if (c.exhausted.length) this.#o.log.error('service ids exhausted', { keys: c.exhausted.slice(0, 10) });
    let r: LbSyncResult;
    try {
      r = apply({ upsert: c.upsert, remove: c.remove });
    } catch (e) {
      this.#table = undefined; // the retry is a full sync: the kernel may hold half of this change
      this.#cache = undefined;
      throw e;
    }
    for (const s of c.remove) this.#synced.delete(s.id);
    for (const s of c.upsert) this.#synced.set(s.id, infoOf(s, namesOf(cache.entry(frontendKey(s.frontend)))));
    this.#byFrontend = undefined;
    this.#lbServices = undefined;
    if (r.added || r.changed || r.removed) this.#o.log.debug('service maps synced', { ...r });
    return r;
  }

  /** The whole table, numbered and written (a writer without `apply`). */
  #fullSync(lb: LbWriter): LbSyncResult {
    const { watch, nodeName } = this.#o;
    const { entries, conflicts } = buildServiceTable({
      services: watch.list('services'),
      endpointSlices: watch.list('endpointslices'),
      pods: watch.list('pods'),
      node: { name: nodeName, addresses: this.#nodeAddresses() },
    });
    const plan = planLbServices(entries, this.#ids);
    // The kernel may hold some of these ids even if the write fails half-way: keep them.
    this.#ids = plan.ids;
    if (plan.exhausted.length) this.#o.log.error('service ids exhausted', { keys: plan.exhausted.slice(0, 10) });
    const r = lb.sync(plan.services);
    const byKey = new Map(entries.map((e) => [frontendKey(e.frontend), e]));
    this.#synced = new Map(plan.services.map((s) => [s.id, infoOf(s, namesOf(byKey.get(frontendKey(s.frontend))))]));
    this.#byFrontend = undefined;
    this.#lbServices = plan.services;
    if (r.added || r.changed || r.removed) {
      this.#o.log.debug('service maps synced', { ...r, conflicts: conflicts.length });
    }
    return r;
  }

  /** The whole table, numbered and written; the incremental state starts from it. */
  #fullSyncKept(lb: LbWriter): LbSyncResult {
    const { watch, nodeName } = this.#o;
    const previous = this.#cache?.ids() ?? this.#ids;
    this.#table = undefined;
    this.#cache = undefined;
    const table = new IncrementalServiceTable({ name: nodeName, addresses: this.#nodeAddresses() });
    for (const svc of watch.list('services')) table.setService(objectKey(svc), svc);
    for (const slice of watch.list('endpointslices')) table.setSlice(objectKey(slice), slice);
    for (const pod of watch.list('pods')) table.setPod(objectKey(pod), pod);
    table.flush();
    const entries = table.entries();
    const plan = planLbServices(entries, previous);
    this.#ids = plan.ids;
    if (plan.exhausted.length) this.#o.log.error('service ids exhausted', { keys: plan.exhausted.slice(0, 10) });
    const r = lb.sync(plan.services);
    const byKey = new Map(entries.map((e) => [frontendKey(e.frontend), e]));
    this.#synced = new Map(plan.services.map((s) => [s.id, infoOf(s, namesOf(byKey.get(frontendKey(s.frontend))))]));
    this.#byFrontend = undefined;
    this.#lbServices = plan.services;
    this.#table = table;
    this.#cache = new LbServiceCache(entries, plan.services, plan.ids);
    if (r.added || r.changed || r.removed) {
      this.#o.log.debug('service maps synced', { ...r, conflicts: table.conflicts().length });
    }
    return r;
  }

  /** Resolves when no sync is pending (a failing one counts as done: its retry is in status). */
  idle(): Promise<void> {
    if (!this.pending) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  get pending(): boolean {
    return this.#timer !== undefined && this.#failures === 0;
  }

  services(): ServiceInfo[] {
    const restored = this.#o.lb().restore();
    return restored.map((s) => {
      const known = this.#synced.get(s.id);
      const same = known && frontendKey(known.frontend) === frontendKey(s.frontend);
      return infoOf(s, same ? namesOfInfo(known) : undefined);
    });
  }

  serviceFrontends(namespace: string, name: string): ServiceInfo[] {
    return [...this.#synced.values()]
      .filter((s) => s.namespace === namespace && s.name === name)
      .sort((a, b) => a.id - b.id);
  }

  serviceByRevNat(id: number): ServiceInfo | undefined {
    return this.#synced.get(id);
  }

  serviceByFrontend(address: string, port: number, protocol: string): ServiceInfo | undefined {
    if (!this.#byFrontend) {
      // One entry per address, port and protocol: an external-scope frontend wins over the internal one.
      const index = new Map<string, ServiceInfo>();
      for (const s of this.#synced.values()) {
        const key = `${s.frontend.address}|${s.frontend.port}|${s.frontend.protocol}`;
        const had = index.get(key);
        if (!had || (s.frontend.scope === 'external' && had.frontend.scope !== 'external')) index.set(key, s);
      }
      this.#byFrontend = index;
    }
    return this.#byFrontend.get(`${address}|${port}|${protocol}`);
  }

  kubeProxyReplacement(): KubeProxyReplacementStatus {
    const all = (this.#lbServices ??= this.#cache?.services() ?? []);
    const backends = new Set(all.flatMap((s) => s.backends.map((b) => b.id)));
    return {
      enabled: true,
      features: featuresInUse(all, this.#o.socketLB?.() ?? false),
      services: all.length,
      backends: backends.size,
      lastSync: this.#lastSync?.toISOString() ?? null,
      error: this.#error,
    };
  }

  #nodeAddresses(): string[] {
    const own = nodeAddresses(this.#o.watch.get('nodes', this.#o.nodeName));
    return [...new Set([...own, ...(this.#o.extraNodeAddresses?.() ?? [])])];
  }

  #run(): void {
    this.#timer = undefined;
    if (!this.#running) return;
    try {
      this.sync();
      this.#failures = 0;
      this.#error = null;
      this.#lastSync = new Date();
    } catch (e) {
      this.#failures++;
      this.#error = errorText(e);
      this.#errors?.inc();
      const delay = Math.min((this.#o.delayMs ?? 20) * 2 ** this.#failures, this.#o.maxBackoffMs ?? MAX_BACKOFF_MS);
      this.#o.log.error('service maps sync failed', { error: this.#error, attempt: this.#failures, retryInMs: delay });
      this.#timer = setTimeout(() => this.#run(), delay);
    }
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

/** Who a frontend belongs to and which pods its backends are: from a table entry or an earlier info. */
interface Names {
  namespace: string;
  name: string;
  portName: string;
  pods: ReadonlyMap<string, { namespace: string; name: string }>;
}

function namesOf(e: Pick<ServiceEntry, 'service' | 'portName' | 'backends'> | undefined): Names | undefined {
  if (!e) return undefined;
  const pods = new Map(e.backends.flatMap((b) => (b.pod ? [[backendKey(b), b.pod] as const] : [])));
  return { ...e.service, portName: e.portName, pods };
}

function namesOfInfo(i: ServiceInfo | undefined): Names | undefined {
  if (!i) return undefined;
  const pods = new Map(i.backends.flatMap((b) => (b.pod ? [[backendKey(b), b.pod] as const] : [])));
  return { namespace: i.namespace, name: i.name, portName: i.portName, pods };
}

/** The kernel's view of one frontend, named after the Service it came from (when known). */
function infoOf(s: LbService, names: Names | undefined): ServiceInfo {
  const backends: ServiceBackendInfo[] = s.backends.map((b) => {
    const pod = names?.pods.get(backendKey(b));
    return {
      id: b.id,
      address: b.address,
      port: b.port,
      protocol: b.protocol,
      state: b.state,
      ...(pod ? { pod } : {}),
    };
  });
  return {
    id: s.id,
    namespace: names?.namespace ?? '',
    name: names?.name ?? '',
    portName: names?.portName ?? '',
    frontend: { ...s.frontend },
    backends,
    selectable: selectableBackends(s.backends).length,
    ...(s.affinityTimeoutSec !== undefined ? { sessionAffinityTimeoutSec: s.affinityTimeoutSec } : {}),
    sourceRanges: [...s.sourceRanges],
    externalTrafficLocal: s.externalTrafficLocal ?? false,
    internalTrafficLocal: s.internalTrafficLocal ?? false,
  };
}
