// Numbers shared with bpf/lib/*.h. Drop reasons carry Cilium's numbering (bpf/lib/common.h,
// pkg/monitor/api/drop.go) so a Cilium user reads the same reason in metrics and flows. Reserved
// identities, protocols and directions are the policy vocabulary's (src/policy/api), re-exported.

import { Proto } from '../policy/api/index.ts';

export { ReservedIdentity } from '../policy/api/index.ts';
export type { Direction, EnforcementModeName } from '../policy/api/index.ts';

export const DropReason = {
  FORWARDED: 0,
  INVALID_SIP: 132,
  POLICY: 133,
  INVALID: 134,
  CT_INVALID_HDR: 135,
  FRAG_NEEDED: 136,
  CT_UNKNOWN_PROTO: 137,
  UNKNOWN_L3: 139,
  UNKNOWN_L4: 142,
  FRAG_NOSUPPORT: 157,
  NO_CONFIG: 165,
  INVALID_IDENTITY: 171,
  FORBIDDEN_ICMP6: 176,
  POLICY_DENY: 181,
} as const;

export const dropReasonNames: Readonly<Record<number, string>> = {
  0: 'Forwarded',
  132: 'Invalid source ip',
  133: 'Policy denied',
  134: 'Invalid packet',
  135: 'CT: Truncated or invalid header',
  136: 'Fragmentation needed',
  137: 'CT: Unknown L4 protocol',
  139: 'Unknown L3 target address',
  142: 'Unknown L4 protocol',
  157: 'Fragmented packet',
  165: 'No configuration available to perform policy decision',
  171: 'Invalid identity',
  176: 'Forbidden ICMPv6 message',
  181: 'Policy denied by denylist',
};

/** Metric/flow direction (Cilium's METRIC_INGRESS / METRIC_EGRESS). */
export const Dir = { INGRESS: 1, EGRESS: 2 } as const;

/** Hubble verdict numbers. */
export const Verdict = { FORWARDED: 1, DROPPED: 2 } as const;

export const CtState = { NEW: 0, ESTABLISHED: 1, REPLY: 2, RELATED: 3 } as const;

/** endpoint_info.flags */
export const EndpointFlags = { ENFORCE_INGRESS: 0x01, ENFORCE_EGRESS: 0x02 } as const;
/** endpoint_info.mode: Cilium's policy enforcement modes. */
export const EnforcementMode = { DEFAULT: 0, ALWAYS: 1, NEVER: 2 } as const;

/** The IP protocols the datapath parses (bpf/lib): numbers from the vocabulary. */
export const IpProto = {
  ANY: Proto.ANY,
  ICMP: Proto.ICMP,
  TCP: Proto.TCP,
  UDP: Proto.UDP,
  ICMPV6: Proto.ICMPV6,
} as const;

/** Kernel map and program types used here (uapi/linux/bpf.h). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  LRU_HASH: 9,
  LPM_TRIE: 11,
  ARRAY_OF_MAPS: 12,
  HASH_OF_MAPS: 13,
  PERCPU_ARRAY: 6,
  RINGBUF: 27,
} as const;
export const MapFlags = { NO_PREALLOC: 1 } as const;
export const UpdateFlags = { ANY: 0, NOEXIST: 1, EXIST: 2 } as const;
export const TcAction = { OK: 0, SHOT: 2, REDIRECT: 7 } as const;

/** Pinned map names: the same strings as the C identifiers in bpf/lib. */
export const MapName = {
  endpoints: 'cilium_lxc',
  endpointsByIp: 'cilium_lxc_ip',
  ipcache: 'cilium_ipcache',
  conntrack: 'cilium_ct',
  policy: 'cilium_policy',
  metrics: 'cilium_metrics',
  events: 'cilium_events',
  eventsLost: 'cilium_events_lost',
} as const;

export const Programs = { fromContainer: 'cil_from_container', toContainer: 'cil_to_container' } as const;

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/cilium-ts';

/** Sizes of the inner per-endpoint policy maps (bpf/lib/policy.h). */
export const POLICY_MAP_SIZE = 131072;
