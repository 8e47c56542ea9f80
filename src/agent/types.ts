// The narrow views the agent's parts offer one another. The API server, the flow pipeline and the
// metrics read the agent through these, never through the Agent class, so nothing in src/agent
// imports agent.ts and a new part (services, tunnels, proxies) needs only the views it reads.
import type { LxcDatapath } from '../datapath/loader.ts';
import type { PolicyEngine } from '../policy/index.ts';
import type { RingStats } from '../hubble/flow-ring.ts';

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
export type DatapathView = Pick<LxcDatapath, 'maps' | 'addon' | 'pinRoot' | 'mapStats' | 'endpointPolicyEntries'>;

/** Asks the regeneration queue to recompute these endpoints (ids not local are ignored). */
export type Regenerate = (endpointIds: Iterable<number>) => void;

export interface FlowStats extends RingStats {
  address: string | null;
  /** flows per second over the last minute (Hubble's flows_rate) */
  rate: number;
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
}

/** Everything the agent's local API serves. */
export interface AgentView extends EndpointSource, PolicySource {
  readonly datapath: DatapathView;
  status(): AgentStatus;
}
