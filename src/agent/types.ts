// The narrow views the agent's parts offer one another. The API server, the flow pipeline and the
// metrics read the agent through these, never through the Agent class, so nothing in src/agent
// imports agent.ts and a new part (services, tunnels, proxies) needs only the views it reads.
import type { LxcDatapath } from '../datapath/loader.ts';
import type { PolicyEngine } from '../policy/index.ts';
import type { RingStats } from '../hubble/flow-ring.ts';
import type { BackendState, Frontend, L4Proto } from '../services/index.ts';

/** Cilium's endpoint lifecycle states, as CiliumEndpoint status.state shows them. */
export type EndpointStateName =
  | 'creating'
  | 'waiting-for-identity'
  | 'not-ready'
  | 'waiting-to-regenerate'
  | 'regenerating'
  | 'ready'
  | 'disconnecting'
  | 'disconnected';

/** One part of the agent: started in wiring order, stopped in reverse. */
export interface AgentPart {
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** A local endpoint as status and inspection show it. */
export interface LocalEndpointInfo {
  id: number;
  namespace: string;
  pod: string;
  identity: number;
  state: EndpointStateName;
  ip: string;
  ingress: boolean;
  egress: boolean;
  labels: string[];
}

/** The pods of this node, and who holds an address anywhere in the cluster. */
export interface EndpointSource {
  localEndpoints(): LocalEndpointInfo[];
  /** The CiliumEndpoint (of any node) holding this address. */
  remoteEndpointByIp(ip: string): { namespace: string; name: string } | undefined;
}

/** What readers of the policy engine may ask it (never change it). */
export type PolicyView = Pick<
  PolicyEngine,
  'policyOf' | 'allPolicies' | 'identities' | 'rules' | 'notes' | 'explain' | 'requiredCidrPrefixes'
>;

export interface PolicySource {
  readonly engine: PolicyView;
  /** "Kind/namespace/name" → resourceVersion of the policy objects the engine holds */
  readonly policyRevisions: ReadonlyMap<string, string>;
}

/** What the API and metrics read of the kernel side. */
export type DatapathView = Pick<
  LxcDatapath,
  'maps' | 'addon' | 'pinRoot' | 'mapStats' | 'endpointPolicyEntries' | 'lb'
>;

/** Asks the regeneration queue to recompute these endpoints (ids not local are ignored). */
export type Regenerate = (endpointIds: Iterable<number>) => void;

export interface FlowStats extends RingStats {
  address: string | null;
  /** flows per second over the last minute (Hubble's flows_rate) */
  rate: number;
}

/** One backend of a frontend, as `cilium-ts service list` shows it. */
export interface ServiceBackendInfo {
  id: number;
  address: string;
  port: number;
  protocol: L4Proto;
  state: BackendState;
  /** the pod behind it, when its EndpointSlice names one */
  pod?: { namespace: string; name: string };
}

/** One frontend with its backends: what the kernel holds, named after the Service it serves. */
export interface ServiceInfo {
  /** the service id, which is also the rev-NAT id */
  id: number;
  /** empty when the kernel holds a frontend the agent has not matched to a Service (yet) */
  namespace: string;
  name: string;
  portName: string;
  frontend: Frontend;
  /** backends new flows may pick first (the datapath's slots), then the others (terminating ...) */
  backends: ServiceBackendInfo[];
  /** how many of `backends`, from the first, new flows are spread over */
  selectable: number;
  sessionAffinityTimeoutSec?: number;
  sourceRanges: string[];
  externalTrafficLocal: boolean;
  internalTrafficLocal: boolean;
}

export interface KubeProxyReplacementStatus {
  enabled: boolean;
  /** ClusterIP, NodePort, LoadBalancer, ExternalIPs, HostPort, SessionAffinity, SourceRanges, SocketLB */
  features: string[];
  /** frontends and distinct backends in the maps */
  services: number;
  backends: number;
  /** ISO time of the last successful sync of the LB maps; null before the first */
  lastSync: string | null;
  /** the last sync's failure, retried with backoff; null when the last sync succeeded */
  error: string | null;
}

/** The services part as the API, the flows and `policy explain` read it. */
export interface ServiceSource {
  /** every frontend the kernel holds, sorted by id */
  services(): ServiceInfo[];
  /** the frontends of one Service (from the agent's memory of the last sync) */
  serviceFrontends(namespace: string, name: string): ServiceInfo[];
  /** the frontend of a rev-NAT id (flows) */
  serviceByRevNat(id: number): ServiceInfo | undefined;
  /** the frontend at this address, port and protocol (scope external first) */
  serviceByFrontend(address: string, port: number, protocol: string): ServiceInfo | undefined;
  kubeProxyReplacement(): KubeProxyReplacementStatus;
}

/** How pods reach pods of other nodes (the routing part). */
export interface RoutingStatus {
  mode: 'tunnel' | 'native';
  /** null in native mode */
  tunnelProtocol: 'vxlan' | 'geneve' | null;
  tunnelDevice: string | null;
  autoDirectNodeRoutes: boolean;
  /** the underlay MTU, and the pods' (less the encapsulation in tunnel mode) */
  mtu: number;
  podMtu: number;
  /** native mode's routes to the other nodes' pod CIDRs */
  nodeRoutes: Array<{ cidr: string; via: string }>;
  /** the last route sync's failure (retried), null when it succeeded */
  error: string | null;
}

/** One node's agent health endpoint as this agent last probed it. */
export interface NodeHealth {
  name: string;
  address: string | null;
  /** this node itself */
  local: boolean;
  reachable: boolean;
  latencyMs: number | null;
  error: string | null;
}

/** cilium-health's view: how many nodes' agents answer their health endpoint. */
export interface ClusterHealthStatus {
  reachable: number;
  total: number;
  /** ISO time of the last completed round; null before the first */
  lastProbe: string | null;
  nodes: NodeHealth[];
}

/** What `cilium-ts status` shows (GET /v1/status). */
export interface AgentStatus {
  node: string;
  agent: string;
  kubernetes: Array<{ watch: string; synced: boolean; error: string | null }>;
  datapath: { mode: string; pinRoot: string; podCidr: string | null };
  enforcementMode: string;
  endpoints: { total: number; ready: number; enforcingIngress: number; enforcingEgress: number };
  identities: number;
  policies: number;
  maps: Array<{ name: string; type: number; entries: number; maxEntries: number; pressure: number }>;
  flows?: FlowStats;
  kubeProxyReplacement: KubeProxyReplacementStatus;
  /** absent from agents before the routing part */
  routing?: RoutingStatus;
  /** absent when the agent has no health port to probe the others on */
  clusterHealth?: ClusterHealthStatus;
}

/** Everything the agent's local API serves. */
export interface AgentView extends EndpointSource, PolicySource {
  readonly datapath: DatapathView;
  /** undefined when the agent runs without kube-proxy replacement */
  readonly serviceSource: ServiceSource | undefined;
  status(): AgentStatus;
}
