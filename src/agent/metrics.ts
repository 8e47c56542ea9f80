// The agent's Prometheus metrics on prom-client, under Cilium's and Hubble's names and types
// (Cilium's pkg/metrics): endpoint regenerations and their duration, endpoint states, identities,
// policies, drops and forwards by reason and direction (the datapath's per-CPU counters, read at
// scrape time), BPF map pressure, Hubble's flow and lost-event counters, plus prom-client's
// process and Node.js runtime metrics.
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { dropReasonNames } from '../datapath/constants.ts';
import { CLUSTER_IDENTITY_MIN, LOCAL_IDENTITY_FLAG } from '../policy/index.ts';
import { policyMapEntries } from '../datapath/policy-encoding.ts';
import type { DatapathView, EndpointSource, FlowStats, PolicyView } from './types.ts';

/** What the scrape reads; each getter may answer undefined while that part is not up yet. */
export interface MetricsSources {
  endpoints: () => EndpointSource | undefined;
  engine: () => Pick<PolicyView, 'identities' | 'allPolicies'>;
  datapath: () => DatapathView | undefined;
  flows: () => { processed: ReadonlyMap<string, number>; stats(): FlowStats } | undefined;
}

type Labels<T extends string> = Partial<Record<T, string>>;

/**
 * A counter fed from a total kept elsewhere (the kernel's per-CPU counters, the flow ring): at
 * each scrape it adds what the source gained since the last one. A source that went backwards
 * was recreated (a map re-pinned, counters zeroed): its new total is all new.
 */
export class DeltaCounter<T extends string> {
  readonly counter: Counter<T>;
  readonly #last = new Map<string, number>();

  constructor(
    registry: Registry,
    name: string,
    help: string,
    labelNames: readonly T[],
    read: () => Iterable<readonly [Labels<T>, number]>,
  ) {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- prom-client binds collect's `this` to the counter
    const self = this;
    this.counter = new Counter<T>({
      name,
      help,
      labelNames,
      registers: [registry],
      collect() {
        for (const [labels, total] of read()) self.observe(labels, total);
      },
    });
  }

  /** The source's total now; adds the gain since the last observation. */
  observe(labels: Labels<T>, total: number): void {
    const key = JSON.stringify(Object.entries(labels).sort(([a], [b]) => a.localeCompare(b)));
    const last = this.#last.get(key) ?? 0;
    this.counter.inc(labels, total >= last ? total - last : total);
    this.#last.set(key, total);
  }
}

function identityType(id: number): 'reserved' | 'cluster_local' | 'node_local' {
  if (id < CLUSTER_IDENTITY_MIN) return 'reserved';
  return id >= LOCAL_IDENTITY_FLAG ? 'node_local' : 'cluster_local';
}

export class AgentMetrics {
  readonly registry = new Registry();
  readonly regenerations: Counter<'outcome'>;
  readonly regenerationSeconds: Histogram<'reason'>;
  readonly policyChanges: Counter<'kind' | 'event'>;
  readonly identitiesAllocated: Counter;

  constructor(src: MetricsSources) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.regenerations = new Counter({
      name: 'cilium_endpoint_regenerations_total',
      help: 'Endpoint regenerations, by outcome',
      labelNames: ['outcome'],
      registers,
    });
    this.regenerationSeconds = new Histogram({
      name: 'cilium_endpoint_regeneration_time_stats_seconds',
      help: 'Time to regenerate an endpoint: policy computed, map swapped, flags written',
      labelNames: ['reason'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.policyChanges = new Counter({
      name: 'cilium_policy_change_total',
      help: 'Policy objects added, updated or deleted, by kind',
      labelNames: ['kind', 'event'],
      registers,
    });
    this.identitiesAllocated = new Counter({
      name: 'cilium_ts_identities_allocated_total',
      help: 'CiliumIdentity objects this agent created',
      registers,
    });
    this.#endpointGauges(src);
    this.#policyGauges(src);
    this.#datapathMetrics(src);
    this.#hubbleMetrics(src);
  }

  #endpointGauges(src: MetricsSources): void {
    new Gauge({
      name: 'cilium_endpoint',
      help: 'Endpoints managed by this agent',
      registers: [this.registry],
      collect() {
        this.set(src.endpoints()?.localEndpoints().length ?? 0);
      },
    });
    new Gauge({
      name: 'cilium_endpoint_state',
      help: 'Endpoints by lifecycle state',
      labelNames: ['endpoint_state'],
      registers: [this.registry],
      collect() {
        this.reset();
        const byState = new Map<string, number>();
        for (const e of src.endpoints()?.localEndpoints() ?? []) byState.set(e.state, (byState.get(e.state) ?? 0) + 1);
        for (const [state, n] of byState) this.set({ endpoint_state: state }, n);
      },
    });
  }

  #policyGauges(src: MetricsSources): void {
    new Gauge({
      name: 'cilium_identity',
      help: 'Identities known to this agent, by type',
      labelNames: ['type'],
      registers: [this.registry],
      collect() {
        const n = { reserved: 0, cluster_local: 0, node_local: 0 };
        for (const id of src.engine().identities().keys()) n[identityType(id)]++;
        for (const [type, count] of Object.entries(n)) this.set({ type }, count);
      },
    });
    new Gauge({
      name: 'cilium_policy_map_entries',
      help: "Entries in the endpoints' policy maps, summed",
      registers: [this.registry],
      collect() {
        let entries = 0;
        for (const p of src.engine().allPolicies().values()) entries += policyMapEntries(p).length;
        this.set(entries);
      },
    });
  }

  #datapathMetrics(src: MetricsSources): void {
    const registry = this.registry;
    const kernel = () => src.datapath()?.maps.metrics.entries() ?? [];
    const drops = (field: 'count' | 'bytes') =>
      function* (): Generator<[Labels<'reason' | 'direction'>, number]> {
        for (const [k, v] of kernel()) {
          if (k.reason === 0) continue;
          const reason = dropReasonNames[k.reason] ?? `reason ${k.reason}`;
          yield [{ reason, direction: k.direction.toUpperCase() }, Number(v[field])];
        }
      };
    const forwards = (field: 'count' | 'bytes') =>
      function* (): Generator<[Labels<'direction'>, number]> {
        for (const [k, v] of kernel())
          if (k.reason === 0) yield [{ direction: k.direction.toUpperCase() }, Number(v[field])];
      };
    const dropHelp = 'dropped by the datapath, by reason and direction';
    new DeltaCounter(
      registry,
      'cilium_drop_count_total',
      `Packets ${dropHelp}`,
      ['reason', 'direction'],
      drops('count'),
    );
    new DeltaCounter(registry, 'cilium_drop_bytes_total', `Bytes ${dropHelp}`, ['reason', 'direction'], drops('bytes'));
    const fwdHelp = 'forwarded by the datapath, by direction';
    new DeltaCounter(registry, 'cilium_forward_count_total', `Packets ${fwdHelp}`, ['direction'], forwards('count'));
    new DeltaCounter(registry, 'cilium_forward_bytes_total', `Bytes ${fwdHelp}`, ['direction'], forwards('bytes'));
    new Gauge({
      name: 'cilium_bpf_map_pressure',
      help: 'Fill level of a BPF map (entries / max entries)',
      labelNames: ['map_name'],
      registers: [registry],
      collect() {
        const dp = src.datapath();
        if (!dp) return;
        const ipcache = dp.maps.ipcache;
        const info = dp.addon.mapInfo(ipcache.fd);
        this.set({ map_name: 'cilium_ipcache' }, ipcache.rawEntries().length / info.maxEntries);
      },
    });
  }

  #hubbleMetrics(src: MetricsSources): void {
    new DeltaCounter(
      this.registry,
      'hubble_flows_processed_total',
      'Flows turned from kernel events into Hubble flows, by type and verdict',
      ['type', 'verdict'],
      function* () {
        for (const [verdict, n] of src.flows()?.processed ?? []) yield [{ type: 'L3_L4', verdict }, n] as const;
      },
    );
    new DeltaCounter(
      this.registry,
      'hubble_lost_events_total',
      'Flow events lost, by source',
      ['source'],
      function* () {
        const st = src.flows()?.stats();
        if (!st) return;
        yield [{ source: 'PERF_EVENT_RING_BUFFER' }, st.lostKernel] as const;
        yield [{ source: 'HUBBLE_RING_BUFFER' }, st.lostFollowers] as const;
      },
    );
  }
}
