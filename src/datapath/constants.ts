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
  NO_SERVICE: 158,
  NO_CONFIG: 165,
  INVALID_IDENTITY: 171,
  FORBIDDEN_ICMP6: 176,
  NOT_IN_SRC_RANGE: 177,
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
  158: 'Service backend not found',
  165: 'No configuration available to perform policy decision',
  171: 'Invalid identity',
  176: 'Forbidden ICMPv6 message',
  177: 'Not in a source range',
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
export const MapFlags = { NO_PREALLOC: 1, INNER_MAP: 1 << 12 } as const;
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
  lb4Services: 'cilium_lb4_services_v2',
  lb6Services: 'cilium_lb6_services_v2',
  lb4Backends: 'cilium_lb4_backends_v3',
  lb6Backends: 'cilium_lb6_backends_v3',
  lb4ReverseNat: 'cilium_lb4_reverse_nat',
  lb6ReverseNat: 'cilium_lb6_reverse_nat',
  lb4Affinity: 'cilium_lb4_affinity',
  lb6Affinity: 'cilium_lb6_affinity',
  lbAffinityMatch: 'cilium_lb_affinity_match',
  lb4Maglev: 'cilium_lb4_maglev',
  lb6Maglev: 'cilium_lb6_maglev',
  lb4SourceRange: 'cilium_lb4_source_range',
  lb6SourceRange: 'cilium_lb6_source_range',
  lbConntrack: 'cilium_lb_ct',
  snat4External: 'cilium_snat_v4_external',
  nodeportConfig: 'cilium_nodeport_cfg',
  lb4ReverseSk: 'cilium_lb4_reverse_sk',
  lb6ReverseSk: 'cilium_lb6_reverse_sk',
  sockConfig: 'cilium_sock_config',
  encapConfig: 'cilium_encap_cfg',
} as const;

/** lb{4,6}_service.flags and .flags2 (Cilium's SVC_FLAG_* numbering, bpf/lib/lb.h). */
export const SvcFlags = {
  EXTERNAL_IP: 0x01,
  NODEPORT: 0x02,
  EXT_LOCAL_SCOPE: 0x04,
  HOSTPORT: 0x08,
  AFFINITY: 0x10,
  LOADBALANCER: 0x20,
  ROUTABLE: 0x40,
  SOURCE_RANGE: 0x80,
} as const;
export const SvcFlags2 = { LOCALREDIRECT: 0x01, INT_LOCAL_SCOPE: 0x10, TWO_SCOPES: 0x20 } as const;
/** lb{4,6}_backend.flags: Cilium's BE_STATE_* */
export const BackendStateCode = { active: 0, terminating: 1, quarantined: 2, maintenance: 3 } as const;
/** Maglev table sizes M Cilium accepts (primes); the default is Cilium's. */
export const MAGLEV_TABLE_SIZES = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071] as const;
export const DEFAULT_MAGLEV_TABLE_SIZE = 16381;

export const Programs = { fromContainer: 'cil_from_container', toContainer: 'cil_to_container' } as const;

/** bpf_host.o's program for a node's external interface (north-south services). */
export const HostPrograms = { fromNetdev: 'cil_from_netdev' } as const;
/** --bpf-lb-mode: nodeport_config.mode (bpf/lib/nodeport.h). */
export const LbModeCode = { snat: 0, dsr: 1 } as const;
/** Cilium's SNAT port range for north-south flows to remote backends (above the NodePort range). */
export const NODEPORT_NAT_PORTS = { min: 32768, max: 65535 } as const;

/** bpf_overlay.o's program for the tunnel device (bpf/bpf_overlay.c). */
export const OverlayPrograms = { fromOverlay: 'cil_from_overlay' } as const;
/** --routing-mode: encap_config.mode (bpf/lib/encap.h). */
export const RoutingModeCode = { native: 0, tunnel: 1 } as const;
/** --tunnel-protocol: encap_config.protocol (bpf/lib/encap.h). */
export const TunnelProtocolCode = { vxlan: 1, geneve: 2 } as const;
/** Bytes a VXLAN encapsulation adds (outer Ethernet 14, IPv4 20, UDP 8, VXLAN 8): in tunnel mode the
 * CNI gives pods an MTU this much below the node's (Cilium's tunnel overhead). */
export const TUNNEL_OVERHEAD = 50;
/** Cilium's tunnel device names and UDP ports (Linux's VXLAN port, IANA's Geneve port). */
export const TunnelDevice = { vxlan: 'cilium_vxlan', geneve: 'cilium_geneve' } as const;
export const TunnelPort = { vxlan: 8472, geneve: 6081 } as const;
/** The VNI's 24 bits: the largest identity a tunnel carries. */
export const TUNNEL_ID_MAX = 0xffffff;

export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/cilium-ts';

/** Sizes of the inner per-endpoint policy maps (bpf/lib/policy.h). */
export const POLICY_MAP_SIZE = 131072;
