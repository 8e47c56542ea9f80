// What `cilium-ts status` shows, built from the parts' views (pure).
import type {
  AgentStatus,
  ClusterHealthStatus,
  DatapathView,
  FlowStats,
  KubeProxyReplacementStatus,
  LocalEndpointInfo,
  PolicyView,
  RoutingStatus,
} from './types.ts';

export interface StatusInput {
  node: string;
  /** 'stopping', or what keeps the agent from being ready, or undefined */
  problem: string | undefined;
  watches: AgentStatus['kubernetes'];
  datapath: Pick<DatapathView, 'pinRoot' | 'mapStats'>;
  podCidr: string | undefined;
  enforcementMode: string;
  endpoints: LocalEndpointInfo[];
  engine: Pick<PolicyView, 'identities' | 'rules'>;
  flows: FlowStats | undefined;
  /** undefined: the services part does not run (kube-proxy replacement off) */
  kubeProxyReplacement?: KubeProxyReplacementStatus | undefined;
  routing?: RoutingStatus | undefined;
  clusterHealth?: ClusterHealthStatus | undefined;
}

const KPR_OFF: KubeProxyReplacementStatus = {
  enabled: false,
  features: [],
  services: 0,
  backends: 0,
  lastSync: null,
  error: null,
};

export function agentStatus(s: StatusInput): AgentStatus {
  const eps = s.endpoints;
  return {
    node: s.node,
    agent: s.problem ?? 'ok',
    kubernetes: s.watches,
    datapath: { mode: 'tc (bpf_lxc on each pod veth)', pinRoot: s.datapath.pinRoot, podCidr: s.podCidr ?? null },
    enforcementMode: s.enforcementMode,
    endpoints: {
      total: eps.length,
      ready: eps.filter((e) => e.state === 'ready').length,
      enforcingIngress: eps.filter((e) => e.ingress).length,
      enforcingEgress: eps.filter((e) => e.egress).length,
    },
    identities: s.engine.identities().size,
    policies: new Set(s.engine.rules().map((r) => `${r.policy.kind}/${r.policy.namespace ?? ''}/${r.policy.name}`))
      .size,
    maps: s.datapath.mapStats().map((m) => ({ ...m, pressure: m.maxEntries ? m.entries / m.maxEntries : 0 })),
    ...(s.flows ? { flows: s.flows } : {}),
    kubeProxyReplacement: s.kubeProxyReplacement ?? KPR_OFF,
    ...(s.routing ? { routing: s.routing } : {}),
    ...(s.clusterHealth ? { clusterHealth: s.clusterHealth } : {}),
  };
}
