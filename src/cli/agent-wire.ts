// The JSON the agent's local API answers (src/agent/api.ts), as the command line reads it. Types
// only: the commands import them with `import type`, and this file imports the agent's own types
// the same way, so Node's type stripping erases all of it and reading the agent costs no module
// load. Where the agent declares the shape it serves, the CLI takes it from there; what differs is
// what an agent of another version may leave out, or a route whose answer the agent never names.
import type {
  AgentStatus,
  DatapathView,
  FlowStats as AgentFlowStats,
  KubeProxyReplacementStatus,
  LocalEndpointInfo,
  ServiceInfo,
} from '../agent/types.ts';
import type { ExplainSide } from '../agent/api-services.ts';

/** Agents older than Hubble's flows_rate send no `rate`. */
export type FlowStats = Omit<AgentFlowStats, 'rate'> & Partial<Pick<AgentFlowStats, 'rate'>>;

export type KubeProxyReplacement = KubeProxyReplacementStatus;

/** GET /v1/status. The CLI reads no map's type; agents older than the services part send no KPR. */
export interface StatusResponse extends Omit<AgentStatus, 'maps' | 'flows' | 'kubeProxyReplacement'> {
  maps: Array<Omit<AgentStatus['maps'][number], 'type'>>;
  /** the flow ring behind the Hubble observer API; absent when the agent runs without it */
  flows?: FlowStats;
  kubeProxyReplacement?: KubeProxyReplacement;
}

/** GET /v1/service: one frontend with its backends (new flows pick among the first `selectable`). */
export type ServiceResponse = ServiceInfo;

/** GET /v1/endpoint */
export type EndpointResponse = LocalEndpointInfo;

/** One side (egress of the source, ingress of the destination) of a `policy explain` answer. */
export type ExplainedSide = ExplainSide;

// The routes below answer objects the agent builds inline, never naming their type.

/** GET /v1/bpf/lb: the LB maps as the kernel holds them (bpfLbList in src/agent/api-services.ts). */
export interface BpfLbResponse {
  services: Array<{
    family: number;
    frontend: string;
    scope: string;
    slot: number;
    revNatId: number;
    count?: number;
    flags?: string[];
    backendId?: number;
  }>;
  backends: Array<{ id: number; address: string; port: number; protocol: string; state: string }>;
  reverseNat: Array<{ id: number; address: string; port: number }>;
  sourceRanges: Array<{ revNatId: number; cidr: string }>;
  maglev: Array<{ revNatId: number; innerMapId: number }>;
}

/** `policy explain FROM svc:NS/NAME`: one answer per backend a new flow may pick. */
export interface ServiceExplainResponse {
  verdict: string;
  fromIdentity: number;
  to: string;
  service: string;
  frontend: string;
  port: number;
  protocol: string;
  backends: Array<{
    backend: string;
    pod?: string;
    note?: string;
    verdict: string;
    port: number;
    protocol: string;
    egress: ExplainedSide;
    ingress: ExplainedSide;
  }>;
}

export interface IdentityResponse {
  id: number;
  labels: string[];
}

export interface PolicyListResponse {
  policies: Array<{ kind: string; namespace?: string; name: string; revision?: string; rules: number }>;
  notes: string[];
}

export interface ExplainResponse {
  verdict: string;
  fromIdentity: number;
  to: string;
  port: number;
  protocol: string;
  egress: ExplainedSide;
  ingress: ExplainedSide;
}

export interface BpfPolicyEntry {
  identity: number;
  direction: string;
  protocol: number;
  port: number;
  portPrefixLen: number;
  verdict: string;
  rules: string[];
}

export interface ConntrackEntry {
  protocol: number;
  saddr: string;
  sport: number;
  daddr: string;
  dport: number;
  dir: string;
  packets: number;
  bytes: number;
  ageSeconds: number;
  srcIdentity: number;
}

export interface IpcacheEntry {
  prefix: string;
  identity: number;
  /** the node the address lives behind; absent from agents before the routing part */
  tunnelEndpoint?: string | null;
}

/** GET /v1/map */
export type MapStat = ReturnType<DatapathView['mapStats']>[number];
