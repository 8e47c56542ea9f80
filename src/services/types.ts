// The service table's shapes: what the pure core returns (ServiceEntry and its parts, shared with the
// agent's services part and the datapath writer) and the subsets of Kubernetes objects it reads.
// The input types are structural subsets, so the client's V1Service / V1EndpointSlice / V1Pod fit
// without conversion and a test can pass plain objects.

export type L4Proto = 'TCP' | 'UDP' | 'SCTP';

export type FrontendType = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP' | 'HostPort';

/**
 * Cilium's two-scope frontends: when exactly one of externalTrafficPolicy / internalTrafficPolicy is
 * Local, a NodePort or LoadBalancer address gets a second, `internal` entry serving traffic from
 * inside the cluster; `external` is the only scope otherwise.
 */
export type FrontendScope = 'external' | 'internal';

export interface Frontend {
  address: string;
  port: number;
  protocol: L4Proto;
  type: FrontendType;
  scope: FrontendScope;
}

/**
 * `active`: may be chosen for a new flow. `terminating`: serving but terminating; kept so existing
 * flows keep their backend, chosen for new flows only when a frontend has no active backend (see
 * selectable-backends.ts). `quarantined` / `maintenance` are never produced by the table: they are
 * Cilium's states set by health checking and by hand, listed so the datapath can carry them.
 */
export type BackendState = 'active' | 'terminating' | 'quarantined' | 'maintenance';

export interface Backend {
  address: string;
  port: number;
  protocol: L4Proto;
  state: BackendState;
  nodeName?: string;
  zone?: string;
  pod?: { namespace: string; name: string };
}

export interface ServiceEntry {
  /** The owning Service; for a hostPort, the pod's namespace and `<pod>:host-port:<hostPort>`. */
  service: { namespace: string; name: string };
  /** The Service port's name ('' when unnamed); for a hostPort, the container port's name. */
  portName: string;
  frontend: Frontend;
  /** Sorted; already filtered for the traffic policy; empty means traffic to it is dropped. */
  backends: Backend[];
  /** ClientIP session affinity timeout; absent when the Service has no affinity. */
  sessionAffinityTimeoutSec?: number;
  /**
   * Canonical CIDRs (both families) a client must come from; empty means no restriction. The
   * writer must check the frontend's family against ALL of them: a v4 frontend whose list holds
   * only v6 ranges admits no v4 client (as Cilium's "check source-range" flag does).
   */
  sourceRanges: string[];
  /** The Service's externalTrafficPolicy is Local (Cilium's `Local` service flag). */
  externalTrafficLocal: boolean;
  /** The Service's internalTrafficPolicy is Local (Cilium's `InternalLocal` service flag). */
  internalTrafficLocal: boolean;
}

// --- input: the fields of the Kubernetes objects the table reads ---

export interface ObjectMetaInput {
  namespace?: string;
  name?: string;
  uid?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: Date | string;
  deletionTimestamp?: Date | string;
}

export interface ServicePortInput {
  name?: string;
  protocol?: string;
  port: number;
  targetPort?: number | string;
  nodePort?: number;
}

export interface ServiceInput {
  metadata?: ObjectMetaInput;
  spec?: {
    type?: string;
    clusterIP?: string;
    clusterIPs?: string[];
    ipFamilies?: string[];
    ports?: ServicePortInput[];
    externalIPs?: string[];
    externalTrafficPolicy?: string;
    internalTrafficPolicy?: string;
    sessionAffinity?: string;
    sessionAffinityConfig?: { clientIP?: { timeoutSeconds?: number } };
    loadBalancerSourceRanges?: string[];
    allocateLoadBalancerNodePorts?: boolean;
  };
  status?: { loadBalancer?: { ingress?: { ip?: string; ipMode?: string }[] } };
}

export interface EndpointInput {
  addresses: string[];
  conditions?: { ready?: boolean; serving?: boolean; terminating?: boolean };
  nodeName?: string;
  zone?: string;
  targetRef?: { kind?: string; namespace?: string; name?: string };
}

export interface EndpointPortInput {
  name?: string;
  protocol?: string;
  port?: number;
}

export interface EndpointSliceInput {
  metadata?: ObjectMetaInput;
  addressType: string;
  endpoints?: EndpointInput[];
  ports?: EndpointPortInput[];
}

export interface ContainerPortInput {
  name?: string;
  containerPort: number;
  hostPort?: number;
  hostIP?: string;
  protocol?: string;
}

export interface PodInput {
  metadata?: ObjectMetaInput;
  spec?: {
    nodeName?: string;
    hostNetwork?: boolean;
    containers?: { ports?: ContainerPortInput[] }[];
    initContainers?: { ports?: ContainerPortInput[] }[];
  };
  status?: { phase?: string; podIP?: string; podIPs?: { ip: string }[] };
}

/** This node: its name (for the Local policies) and its addresses (NodePort and hostPort frontends). */
export interface NodeInput {
  name: string;
  addresses: readonly string[];
}

export interface TableOptions {
  /** Cilium's --enable-ipv4 / --enable-ipv6: frontends and backends of a disabled family are left out. */
  enableIPv4?: boolean;
  enableIPv6?: boolean;
  /** Cilium's --bpf-lb-source-range-all-types: source ranges on every frontend of the Service. */
  sourceRangesAllTypes?: boolean;
  /** Cilium's --enable-host-port (default true). */
  enableHostPort?: boolean;
  /** The NodePort range; a hostPort inside it is ignored, as Cilium does. Default [30000, 32767]. */
  nodePortRange?: readonly [number, number];
}

export interface TableInput {
  services: readonly ServiceInput[];
  endpointSlices: readonly EndpointSliceInput[];
  /** Pods for hostPort frontends; only those running on this node are read. */
  pods?: readonly PodInput[];
  node: NodeInput;
  options?: TableOptions;
}

/** A frontend two objects (or two parts of one Service) both asked for; the winner is in the table. */
export interface FrontendConflict {
  frontend: Frontend;
  kept: { namespace: string; name: string };
  dropped: { namespace: string; name: string; type: FrontendType };
}

export interface TableResult {
  entries: ServiceEntry[];
  conflicts: FrontendConflict[];
}
