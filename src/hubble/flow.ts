// The Hubble Flow as TypeScript: field names exactly as in src/hubble/proto/flow/flow.proto (the
// proto-loader's keepCase form), enums as their proto names, google.protobuf wrappers as {value}.
// An object of this shape is what the gRPC server sends as it is, so the agent builds these and
// nothing converts them again. Also here: building a Flow from the datapath's flow event.
import type { FlowEvent } from '../datapath/codecs.ts';
import { dropReasonName } from './proto.ts';

export interface Timestamp {
  seconds: number;
  nanos: number;
}

export type VerdictName =
  | 'VERDICT_UNKNOWN' | 'FORWARDED' | 'DROPPED' | 'ERROR' | 'AUDIT' | 'REDIRECTED' | 'TRACED' | 'TRANSLATED';
export type TrafficDirectionName = 'TRAFFIC_DIRECTION_UNKNOWN' | 'INGRESS' | 'EGRESS';
export type IPVersionName = 'IP_NOT_USED' | 'IPv4' | 'IPv6';
export type FlowTypeName = 'UNKNOWN_TYPE' | 'L3_L4' | 'L7' | 'SOCK';
export type LostEventSourceName =
  | 'UNKNOWN_LOST_EVENT_SOURCE' | 'PERF_EVENT_RING_BUFFER' | 'OBSERVER_EVENTS_QUEUE' | 'HUBBLE_RING_BUFFER';

export interface Workload { name?: string; kind?: string }

export interface Endpoint {
  ID?: number;
  identity?: number;
  cluster_name?: string;
  namespace?: string;
  /** "source:key=value", e.g. "k8s:app=web", "reserved:world" */
  labels?: string[];
  pod_name?: string;
  workloads?: Workload[];
}

export interface TCPFlags {
  FIN?: boolean; SYN?: boolean; RST?: boolean; PSH?: boolean; ACK?: boolean;
  URG?: boolean; ECE?: boolean; CWR?: boolean; NS?: boolean;
}

export interface Layer4 {
  TCP?: { source_port?: number; destination_port?: number; flags?: TCPFlags };
  UDP?: { source_port?: number; destination_port?: number };
  ICMPv4?: { type?: number; code?: number };
  ICMPv6?: { type?: number; code?: number };
  SCTP?: { source_port?: number; destination_port?: number };
}

export interface Layer7 {
  type?: 'UNKNOWN_L7_TYPE' | 'REQUEST' | 'RESPONSE' | 'SAMPLE';
  latency_ns?: number;
  dns?: { query?: string; ips?: string[]; rcode?: number; qtypes?: string[] };
  http?: { code?: number; method?: string; url?: string; protocol?: string; headers?: { key: string; value: string }[] };
}

/** A policy that allowed or denied a flow (Hubble's flow.Policy). */
export interface Policy {
  name?: string;
  namespace?: string;
  labels?: string[];
  revision?: number;
  /** "CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy", "NetworkPolicy" */
  kind?: string;
}

export interface Flow {
  time?: Timestamp;
  uuid?: string;
  emitter?: { name?: string; version?: string };
  verdict?: VerdictName;
  /** Cilium's drop reason number; kept because older Hubble clients read it */
  drop_reason?: number;
  /** the same as a DropReason enum name, e.g. "POLICY_DENIED" */
  drop_reason_desc?: string;
  ethernet?: { source?: string; destination?: string };
  IP?: { source?: string; source_xlated?: string; destination?: string; ipVersion?: IPVersionName; encrypted?: boolean };
  l4?: Layer4;
  source?: Endpoint;
  destination?: Endpoint;
  Type?: FlowTypeName;
  node_name?: string;
  node_labels?: string[];
  source_names?: string[];
  destination_names?: string[];
  l7?: Layer7;
  event_type?: { type?: number; sub_type?: number };
  source_service?: { name?: string; namespace?: string };
  destination_service?: { name?: string; namespace?: string };
  traffic_direction?: TrafficDirectionName;
  policy_match_type?: number;
  trace_observation_point?: string;
  trace_reason?: string;
  is_reply?: { value: boolean };
  interface?: { index?: number; name?: string };
  proxy_port?: number;
  /** what Hubble prints after the verdict, e.g. "TCP Flags: SYN" */
  Summary?: string;
  egress_allowed_by?: Policy[];
  ingress_allowed_by?: Policy[];
  egress_denied_by?: Policy[];
  ingress_denied_by?: Policy[];
  policy_log?: string[];
}

export interface LostEvent {
  source: LostEventSourceName;
  num_events_lost: number;
  cpu?: { value: number };
  first?: Timestamp;
  last?: Timestamp;
}

/** Cilium's monitor message types (pkg/monitor/api), the `type` of Flow.event_type. */
export const MessageType = { DROP: 1, DEBUG: 2, CAPTURE: 3, TRACE: 4, POLICY_VERDICT: 5, TRACE_SOCK: 7 } as const;
export const messageTypeNames: Readonly<Record<string, number>> = {
  drop: 1, debug: 2, capture: 3, trace: 4, 'policy-verdict': 5, 'trace-sock': 7, l7: 129, agent: 130,
};
/** Trace observation points (bpf/lib/trace.h), the sub_type of a trace event. */
export const TracePoint = { TO_ENDPOINT: 0, TO_STACK: 3, FROM_ENDPOINT: 5 } as const;
export const tracePointNames: Readonly<Record<number, string>> = {
  0: 'to-endpoint', 1: 'to-proxy', 2: 'to-host', 3: 'to-stack', 4: 'to-overlay', 5: 'from-endpoint',
  6: 'from-proxy', 7: 'from-host', 8: 'from-stack', 9: 'from-overlay', 10: 'from-network', 11: 'to-network',
  12: 'from-crypto', 13: 'to-crypto',
};

/** Reserved security identities as Hubble prints them: "(world)" instead of "(ID:2)". */
export const reservedIdentityNames: Readonly<Record<number, string>> = {
  0: 'unknown', 1: 'host', 2: 'world', 3: 'unmanaged', 4: 'health', 5: 'init', 6: 'remote-node',
  7: 'kube-apiserver', 8: 'ingress', 9: 'world-ipv4', 10: 'world-ipv6',
};

export function timestampFromMs(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}
export function timestampFromNs(ns: bigint): Timestamp {
  return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
}
/** Nanoseconds since the epoch as a float: exact to ~0.25µs, which is enough for ordering. */
export function timestampNs(t: Timestamp | undefined): number {
  return t ? Number(t.seconds) * 1e9 + (t.nanos ?? 0) : 0;
}

/**
 * bpf_ktime_get_ns() is CLOCK_MONOTONIC, the same clock as process.hrtime: one offset taken now
 * turns kernel event times into wall-clock times (drifts only if the wall clock is stepped).
 */
export function ktimeConverter(): (ktimeNs: bigint) => Timestamp {
  const offset = BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return (ktimeNs) => timestampFromNs(ktimeNs + offset);
}

const tcpFlagOrder: [keyof TCPFlags, number][] = [
  ['SYN', 2], ['ACK', 16], ['RST', 4], ['FIN', 1], ['PSH', 8], ['URG', 32], ['ECE', 64], ['CWR', 128],
];
export function tcpFlagsFromBits(bits: number): TCPFlags {
  const flags: TCPFlags = {};
  for (const [name, bit] of tcpFlagOrder) if (bits & bit) flags[name] = true;
  return flags;
}
/** "SYN, ACK", in Hubble's order. */
export function tcpFlagsText(flags: TCPFlags | undefined): string {
  return tcpFlagOrder.filter(([name]) => flags?.[name]).map(([name]) => name).concat(flags?.NS ? ['NS'] : []).join(', ');
}

const icmpv4Types: Readonly<Record<number, string>> = {
  0: 'EchoReply', 3: 'DestinationUnreachable', 5: 'Redirect', 8: 'EchoRequest', 11: 'TimeExceeded',
};
const icmpv6Types: Readonly<Record<number, string>> = {
  1: 'DestinationUnreachable', 2: 'PacketTooBig', 3: 'TimeExceeded', 128: 'EchoRequest', 129: 'EchoReply',
  133: 'RouterSolicitation', 134: 'RouterAdvertisement', 135: 'NeighborSolicitation', 136: 'NeighborAdvertisement',
};

/** Hubble's Summary for an L3/L4 flow: "TCP Flags: SYN", "UDP", "ICMPv4 EchoRequest". */
export function l4Summary(l4: Layer4 | undefined): string {
  if (l4?.TCP) return `TCP Flags: ${tcpFlagsText(l4.TCP.flags)}`;
  if (l4?.UDP) return 'UDP';
  if (l4?.SCTP) return 'SCTP';
  if (l4?.ICMPv4) return `ICMPv4 ${icmpv4Types[l4.ICMPv4.type ?? 0] ?? String(l4.ICMPv4.type ?? 0)}`;
  if (l4?.ICMPv6) return `ICMPv6 ${icmpv6Types[l4.ICMPv6.type ?? 0] ?? String(l4.ICMPv6.type ?? 0)}`;
  return '';
}

// ---- the deciding rules, carried in Hubble's *_allowed_by / *_denied_by Policy lists ----

/** The label that says which rule inside the policy decided: "cilium-ts:rule=ingressDeny[0]". */
export const RULE_LABEL = 'cilium-ts:rule';

/**
 * "CiliumNetworkPolicy/ns/name ingress[0]" (or "CiliumClusterwideNetworkPolicy/name egress[1]")
 * → Hubble Policy. The rule part becomes the label cilium-ts:rule=…; the policy also carries
 * Cilium's derived-from labels so that Hubble's own tools see what Cilium would send.
 */
export function policyFromRule(rule: string): Policy {
  const [ref = '', section] = rule.trim().split(/\s+/, 2);
  const parts = ref.split('/');
  const kind = parts[0] ?? '';
  const namespaced = parts.length >= 3;
  const namespace = namespaced ? parts[1]! : '';
  const name = namespaced ? parts.slice(2).join('/') : (parts[1] ?? '');
  const labels = [
    `k8s:io.cilium.k8s.policy.derived-from=${kind}`,
    `k8s:io.cilium.k8s.policy.name=${name}`,
    ...(namespace ? [`k8s:io.cilium.k8s.policy.namespace=${namespace}`] : []),
    ...(section ? [`${RULE_LABEL}=${section}`] : []),
  ];
  return { kind, name, ...(namespace ? { namespace } : {}), labels };
}

/** The inverse of policyFromRule: "CiliumNetworkPolicy/ns/name ingress[0]". */
export function ruleFromPolicy(p: Policy): string {
  const ref = [p.kind || 'Policy', ...(p.namespace ? [p.namespace] : []), p.name ?? ''].join('/');
  const section = p.labels?.find((l) => l.startsWith(`${RULE_LABEL}=`))?.slice(RULE_LABEL.length + 1);
  return section ? `${ref} ${section}` : ref;
}

/** The policies that decided this flow in its own direction (egress, ingress, or both if unknown). */
export function decidingPolicies(f: Flow): Policy[] {
  const dropped = f.verdict === 'DROPPED' || f.verdict === 'AUDIT';
  const egress = dropped ? f.egress_denied_by : f.egress_allowed_by;
  const ingress = dropped ? f.ingress_denied_by : f.ingress_allowed_by;
  if (f.traffic_direction === 'EGRESS') return egress ?? [];
  if (f.traffic_direction === 'INGRESS') return ingress ?? [];
  return [...(egress ?? []), ...(ingress ?? [])];
}

// ---- from the datapath's event ----

/** What the agent knows about one end of a flow. */
export interface EndpointInfo {
  /** local endpoint id (0 for remote ends) */
  id?: number;
  namespace?: string;
  podName?: string;
  /** "k8s:app=web" */
  labels?: string[];
  workloads?: Workload[];
}

export interface FlowContext {
  nodeName: string;
  /** kernel ktime (ns) → wall time; default: ktimeConverter() made once per process */
  time?: (ktimeNs: bigint) => Timestamp;
  /** endpoint info by security identity and address; unknown ends keep identity + reserved labels */
  endpoint?: (identity: number, ip: string) => EndpointInfo | undefined;
  /** interface name by ifindex */
  ifname?: (ifindex: number) => string | undefined;
  /** the policy rules that decided, e.g. ["CiliumNetworkPolicy/y/deny-b ingressDeny[0]"] */
  rules?: string[];
  /** Hubble drop reason enum name by number; default: from flow.proto's DropReason enum */
  dropReasonName?: (n: number) => string | undefined;
}

let defaultTime: ((ktimeNs: bigint) => Timestamp) | undefined;

function endpointOf(identity: number, ip: string, ctx: FlowContext): Endpoint {
  const info = ctx.endpoint?.(identity, ip);
  const reserved = reservedIdentityNames[identity];
  const labels = info?.labels ?? (reserved && identity !== 0 ? [`reserved:${reserved}`] : []);
  return {
    ...(info?.id ? { ID: info.id } : {}),
    identity,
    ...(info?.namespace ? { namespace: info.namespace } : {}),
    ...(labels.length ? { labels } : {}),
    ...(info?.podName ? { pod_name: info.podName } : {}),
    ...(info?.workloads?.length ? { workloads: info.workloads } : {}),
  };
}

function layer4Of(ev: FlowEvent): Layer4 | undefined {
  switch (ev.protocol) {
    case 6: return { TCP: { source_port: ev.sport, destination_port: ev.dport, flags: tcpFlagsFromBits(ev.tcpFlags) } };
    case 17: return { UDP: { source_port: ev.sport, destination_port: ev.dport } };
    case 132: return { SCTP: { source_port: ev.sport, destination_port: ev.dport } };
    case 1: return { ICMPv4: { type: ev.icmpType, code: 0 } };
    case 58: return { ICMPv6: { type: ev.icmpType, code: 0 } };
    default: return undefined;
  }
}

const CT_REPLY = 2;

/**
 * The datapath's flow event as a Hubble Flow. A drop becomes a drop event (type 1, sub_type the
 * drop reason: Hubble prints "Policy denied DROPPED"); a forwarded packet a trace event at the
 * endpoint (to-endpoint on ingress, from-endpoint on egress), as Cilium reports them.
 */
export function flowFromEvent(ev: FlowEvent, ctx: FlowContext): Flow {
  const time = (ctx.time ?? (defaultTime ??= ktimeConverter()))(ev.timestamp);
  const dropped = ev.verdict === 2;
  const ingress = ev.direction === 'ingress';
  const l4 = layer4Of(ev);
  const ifname = ctx.ifname?.(ev.ifindex);
  const policies = (ctx.rules ?? []).map(policyFromRule);
  const flow: Flow = {
    time,
    verdict: dropped ? 'DROPPED' : ev.verdict === 1 ? 'FORWARDED' : 'VERDICT_UNKNOWN',
    IP: { source: ev.saddr, destination: ev.daddr, ipVersion: ev.family === 6 ? 'IPv6' : 'IPv4' },
    ...(l4 ? { l4 } : {}),
    source: endpointOf(ev.srcIdentity, ev.saddr, ctx),
    destination: endpointOf(ev.dstIdentity, ev.daddr, ctx),
    Type: 'L3_L4',
    node_name: ctx.nodeName,
    event_type: dropped
      ? { type: MessageType.DROP, sub_type: ev.dropReason }
      : { type: MessageType.TRACE, sub_type: ingress ? TracePoint.TO_ENDPOINT : TracePoint.FROM_ENDPOINT },
    traffic_direction: ingress ? 'INGRESS' : 'EGRESS',
    is_reply: { value: ev.ctState === CT_REPLY },
    ...(ev.ifindex ? { interface: { index: ev.ifindex, ...(ifname ? { name: ifname } : {}) } } : {}),
    Summary: l4Summary(l4),
  };
  if (dropped) {
    flow.drop_reason = ev.dropReason;
    const name = (ctx.dropReasonName ?? dropReasonName)(ev.dropReason);
    if (name) flow.drop_reason_desc = name;
  } else {
    flow.trace_observation_point = ingress ? 'TO_ENDPOINT' : 'FROM_ENDPOINT';
  }
  if (policies.length) {
    const key = `${ingress ? 'ingress' : 'egress'}_${dropped ? 'denied' : 'allowed'}_by` as const;
    flow[key] = policies;
  }
  return flow;
}
