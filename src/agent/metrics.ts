// The agent's Prometheus metrics, under the names a Cilium user searches for (Cilium's
// pkg/metrics): endpoint regenerations and their duration, endpoint states, identities, policies,
// drops and forwards by reason and direction (read from the datapath's per-CPU counters at
// scrape time), and BPF map pressure.
import type { Counter, Gauge, Histogram, Registry } from '../lib/metrics.ts';
import { dropReasonNames } from '../datapath/constants.ts';
import type { Agent } from './agent.ts';

export class AgentMetrics {
  readonly registry: Registry;
  readonly regenerations: Counter;
  readonly regenerationSeconds: Histogram;
  readonly policyChanges: Counter;
  readonly identitiesAllocated: Counter;
  readonly #endpoints: Gauge;
  readonly #endpointState: Gauge;
  readonly #identities: Gauge;
  readonly #policyEntries: Gauge;
  readonly #drops: Gauge;
  readonly #dropBytes: Gauge;
  readonly #forwards: Gauge;
  readonly #forwardBytes: Gauge;
  readonly #mapPressure: Gauge;
  readonly #flows: Gauge;
  readonly #lost: Gauge;

  constructor(registry: Registry, agent: () => Agent) {
    this.registry = registry;
    this.regenerations = registry.counter('cilium_endpoint_regenerations_total', 'Endpoint regenerations, by outcome');
    this.regenerationSeconds = registry.histogram('cilium_endpoint_regeneration_time_stats_seconds', 'Time to regenerate an endpoint: policy computed, map swapped, flags written');
    this.policyChanges = registry.counter('cilium_policy_change_total', 'Policy objects added, updated or deleted, by kind');
    this.identitiesAllocated = registry.counter('cilium_ts_identities_allocated_total', 'CiliumIdentity objects this agent created');
    this.#endpoints = registry.gauge('cilium_endpoint', 'Endpoints managed by this agent');
    this.#endpointState = registry.gauge('cilium_endpoint_state', 'Endpoints by lifecycle state');
    this.#identities = registry.gauge('cilium_identity', 'Identities known to this agent, by type');
    this.#policyEntries = registry.gauge('cilium_policy_map_entries', 'Entries in the endpoints\' policy maps, summed');
    this.#drops = registry.gauge('cilium_drop_count_total', 'Packets dropped by the datapath, by reason and direction');
    this.#dropBytes = registry.gauge('cilium_drop_bytes_total', 'Bytes dropped by the datapath, by reason and direction');
    this.#forwards = registry.gauge('cilium_forward_count_total', 'Packets forwarded by the datapath, by direction');
    this.#forwardBytes = registry.gauge('cilium_forward_bytes_total', 'Bytes forwarded by the datapath, by direction');
    this.#mapPressure = registry.gauge('cilium_bpf_map_pressure', 'Fill level of a BPF map (entries / max entries)');
    this.#flows = registry.gauge('hubble_flows_processed_total', 'Flows turned from kernel events into Hubble flows, by type and verdict');
    this.#lost = registry.gauge('hubble_lost_events_total', 'Flow events lost, by source');
    registry.onCollect(() => this.#collect(agent()));
  }

  #collect(a: Agent): void {
    const eps = a.localEndpoints();
    this.#endpoints.set({}, eps.length);
    this.#endpointState.reset();
    const byState = new Map<string, number>();
    for (const e of eps) byState.set(e.state, (byState.get(e.state) ?? 0) + 1);
    for (const [state, n] of byState) this.#endpointState.set({ endpoint_state: state }, n);
    let reserved = 0, cluster = 0, local = 0;
    for (const id of a.engine.identities().keys()) {
      if (id < 256) reserved++;
      else if (id >= 0x01000000) local++;
      else cluster++;
    }
    this.#identities.set({ type: 'reserved' }, reserved);
    this.#identities.set({ type: 'cluster_local' }, cluster);
    this.#identities.set({ type: 'node_local' }, local);
    let entries = 0;
    for (const p of a.engine.allPolicies().values()) entries += p.entries.length;
    this.#policyEntries.set({}, entries);
    if (a.flows) {
      for (const [verdict, n] of a.flows.processed) this.#flows.set({ type: 'L3_L4', verdict }, n);
      const st = a.flows.ring.stats();
      this.#lost.set({ source: 'PERF_EVENT_RING_BUFFER' }, st.lostKernel);
      this.#lost.set({ source: 'HUBBLE_RING_BUFFER' }, st.lostFollowers);
    }
    if (!a.datapath) return;
    for (const [k, v] of a.datapath.maps.metrics.entries()) {
      const direction = k.direction.toUpperCase();
      if (k.reason === 0) {
        this.#forwards.set({ direction }, Number(v.count));
        this.#forwardBytes.set({ direction }, Number(v.bytes));
      } else {
        const reason = dropReasonNames[k.reason] ?? `reason ${k.reason}`;
        this.#drops.set({ reason, direction }, Number(v.count));
        this.#dropBytes.set({ reason, direction }, Number(v.bytes));
      }
    }
    const ipcache = a.datapath.maps.ipcache;
    const info = a.datapath.addon.mapInfo(ipcache.fd);
    this.#mapPressure.set({ map_name: 'cilium_ipcache' }, ipcache.rawEntries().length / info.maxEntries);
  }
}
