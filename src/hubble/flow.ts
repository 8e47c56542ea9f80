// The Hubble Flow in TypeScript: the types are generated from src/hubble/proto/flow/flow.proto
// (src/hubble/generated/, by tools/generate.ts) in the proto-loader's form — field names as in the
// .proto, enums as their names, google.protobuf wrappers as {value}. An object of this shape is what
// the gRPC server sends as it is, so the agent builds these and nothing converts them again. Here:
// the old names for the generated types, Cilium's constants, and building a Flow from the datapath's
// flow event.
import type { FlowEvent } from '../datapath/codecs.ts';
import { dropReasonName } from './proto.ts';
import {
  ReservedIdentity,
  reservedIdentityNames as policyReservedNames,
  UNKNOWN_IDENTITY_NAME,
} from '../policy/api/index.ts';
import type { Flow__Output } from './generated/flow/Flow.ts';
import type { Endpoint__Output } from './generated/flow/Endpoint.ts';
import type { Workload__Output } from './generated/flow/Workload.ts';
import type { TCPFlags__Output } from './generated/flow/TCPFlags.ts';
import type { Layer4__Output } from './generated/flow/Layer4.ts';
import type { Layer7__Output } from './generated/flow/Layer7.ts';
import type { Policy__Output } from './generated/flow/Policy.ts';
import type { LostEvent__Output } from './generated/flow/LostEvent.ts';
import type { Verdict__Output } from './generated/flow/Verdict.ts';
import type { TrafficDirection__Output } from './generated/flow/TrafficDirection.ts';
import type { IPVersion__Output } from './generated/flow/IPVersion.ts';
import type { FlowType__Output } from './generated/flow/FlowType.ts';
import type { LostEventSource__Output } from './generated/flow/LostEventSource.ts';
import type { DropReason__Output } from './generated/flow/DropReason.ts';
import type { Timestamp__Output } from './generated/google/protobuf/Timestamp.ts';

// The restricted (__Output) forms: enums only as names and 64-bit integers only as numbers, which
// is what the agent builds and what the loader decodes with proto.ts's options.
export type Flow = Flow__Output;
export type Endpoint = Endpoint__Output;
export type Workload = Workload__Output;
export type TCPFlags = TCPFlags__Output;
export type Layer4 = Layer4__Output;
export type Layer7 = Layer7__Output;
/** A policy that allowed or denied a flow (Hubble's flow.Policy). */
export type Policy = Policy__Output;
export type LostEvent = LostEvent__Output;
export type Timestamp = Timestamp__Output;
export type VerdictName = Verdict__Output;
export type TrafficDirectionName = TrafficDirection__Output;
export type IPVersionName = IPVersion__Output;
export type FlowTypeName = FlowType__Output;
export type LostEventSourceName = LostEventSource__Output;
export type DropReasonName = DropReason__Output;

/** Cilium's monitor message types (pkg/monitor/api), the `type` of Flow.event_type. */
export const MessageType = { DROP: 1, DEBUG: 2, CAPTURE: 3, TRACE: 4, POLICY_VERDICT: 5, TRACE_SOCK: 7 } as const;
export const messageTypeNames: Readonly<Record<string, number>> = {
  drop: 1,
  debug: 2,
  capture: 3,
  trace: 4,
  'policy-verdict': 5,
  'trace-sock': 7,
  l7: 129,
  agent: 130,
};
/** Trace observation points (bpf/lib/trace.h), the sub_type of a trace event. */
export const TracePoint = { TO_ENDPOINT: 0, TO_STACK: 3, FROM_ENDPOINT: 5 } as const;
export const tracePointNames: Readonly<Record<number, string>> = {
  0: 'to-endpoint',
  1: 'to-proxy',
  2: 'to-host',
  3: 'to-stack',
  4: 'to-overlay',
  5: 'from-endpoint',
  6: 'from-proxy',
  7: 'from-host',
  8: 'from-stack',
  9: 'from-overlay',
  10: 'from-network',
  11: 'to-network',
  12: 'from-crypto',
  13: 'to-crypto',
};

/** Reserved security identities as Hubble prints them: "(world)" instead of "(ID:2)". */
export const reservedIdentityNames: Readonly<Record<number, string>> = {
  [ReservedIdentity.UNKNOWN]: UNKNOWN_IDENTITY_NAME,
  ...policyReservedNames,
};

/** Both fields set: a Timestamp we build, unlike one decoded (proto3 leaves out zeros). */
export function timestampFromMs(ms: number): Required<Timestamp> {
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: Math.round((ms - seconds * 1000) * 1e6) };
}
export function timestampFromNs(ns: bigint): Required<Timestamp> {
  return { seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) };
}
/** Nanoseconds since the epoch as a float: exact to ~0.25µs, which is enough for ordering. */
export function timestampNs(t: Timestamp | undefined): number {
  return t ? Number(t.seconds ?? 0) * 1e9 + (t.nanos ?? 0) : 0;
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
  ['SYN', 2],
  ['ACK', 16],
  ['RST', 4],
  ['FIN', 1],
  ['PSH', 8],
  ['URG', 32],
  ['ECE', 64],
  ['CWR', 128],
];
export function tcpFlagsFromBits(bits: number): TCPFlags {
  const flags: TCPFlags = {};
  for (const [name, bit] of tcpFlagOrder) if (bits & bit) flags[name] = true;
  return flags;
}
/** "SYN, ACK", in Hubble's order. */
export function tcpFlagsText(flags: TCPFlags | undefined): string {
  return tcpFlagOrder
    .filter(([name]) => flags?.[name])
    .map(([name]) => name)
    .concat(flags?.NS ? ['NS'] : [])
    .join(', ');
}

const icmpv4Types: Readonly<Record<number, string>> = {
  0: 'EchoReply',
  3: 'DestinationUnreachable',
  5: 'Redirect',
  8: 'EchoRequest',
  11: 'TimeExceeded',
};
const icmpv6Types: Readonly<Record<number, string>> = {
  1: 'DestinationUnreachable',
  2: 'PacketTooBig',
  3: 'TimeExceeded',
  128: 'EchoRequest',
  129: 'EchoReply',
  133: 'RouterSolicitation',
  134: 'RouterAdvertisement',
  135: 'NeighborSolicitation',
  136: 'NeighborAdvertisement',
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
  dropReasonName?: (n: number) => DropReasonName | undefined;
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
    case 6:
      return { TCP: { source_port: ev.sport, destination_port: ev.dport, flags: tcpFlagsFromBits(ev.tcpFlags) } };
    case 17:
      return { UDP: { source_port: ev.sport, destination_port: ev.dport } };
    case 132:
      return { SCTP: { source_port: ev.sport, destination_port: ev.dport } };
    case 1:
      return { ICMPv4: { type: ev.icmpType, code: 0 } };
    case 58:
      return { ICMPv6: { type: ev.icmpType, code: 0 } };
    default:
      return undefined;
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
