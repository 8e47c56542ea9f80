// The JSON the agent's local API answers (src/agent/api.ts), as the command line reads it. Types
// only: the commands import them with `import type`, so reading the agent costs no module load,
// and the CLI start-up bench's fake agent serves exactly these shapes.

export interface StatusResponse {
  node: string;
  /** "ok", "stopping" or what keeps the agent from being ready */
  agent: string;
  kubernetes: Array<{ watch: string; synced: boolean; error: string | null }>;
  datapath: { mode: string; pinRoot: string; podCidr: string | null };
  enforcementMode: string;
  endpoints: { total: number; ready: number; enforcingIngress: number; enforcingEgress: number };
  identities: number;
  policies: number;
  maps: Array<{ name: string; entries: number; maxEntries: number; pressure: number }>;
  /** the flow ring behind the Hubble observer API; absent when the agent runs without it */
  flows?: FlowStats;
  /** absent from agents older than the services part */
  kubeProxyReplacement?: KubeProxyReplacement;
}

export interface KubeProxyReplacement {
  enabled: boolean;
  features: string[];
  services: number;
  backends: number;
  lastSync: string | null;
  error: string | null;
}

export interface ServiceBackend {
  id: number;
  address: string;
  port: number;
  protocol: string;
  state: string;
  pod?: { namespace: string; name: string };
}

/** GET /v1/service: one frontend with its backends (new flows pick among the first `selectable`). */
export interface ServiceResponse {
  id: number;
  namespace: string;
  name: string;
  portName: string;
  frontend: { address: string; port: number; protocol: string; type: string; scope: string };
  backends: ServiceBackend[];
  selectable: number;
  sessionAffinityTimeoutSec?: number;
  sourceRanges: string[];
  externalTrafficLocal: boolean;
  internalTrafficLocal: boolean;
}

/** GET /v1/bpf/lb: the LB maps as the kernel holds them. */
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

export interface FlowStats {
  capacity: number;
  size: number;
  seen: number;
  overwritten: number;
  lostKernel: number;
  lostFollowers: number;
  followers: number;
  /** where the observer API listens, null when it does not */
  address: string | null;
  /** flows per second over the last minute (as Hubble's ServerStatus flows_rate), when the agent says */
  rate?: number;
}

export interface EndpointResponse {
  id: number;
  namespace: string;
  pod: string;
  identity: number;
  state: string;
  ip: string;
  ingress: boolean;
  egress: boolean;
  labels: string[];
}

export interface IdentityResponse {
  id: number;
  labels: string[];
}

export interface PolicyListResponse {
  policies: Array<{ kind: string; namespace?: string; name: string; revision?: string; rules: number }>;
  notes: string[];
}

export interface ExplainedSide {
  verdict: string;
  rules: string[];
  policies: string[];
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
}

export interface MapStat {
  name: string;
  entries: number;
  maxEntries: number;
}
