// One codec per struct shared with bpf/lib/*.h, each derived from one table of the C members in
// declaration order (c-struct.ts lays them out by C's alignment rules). test/datapath/layout.test.ts
// checks every derived layout against the BTF of bpf/build/btf_types.o, so the C and TypeScript
// sides cannot drift apart silently.
import { formatAddr, maskedPrefix, parseAddr } from '../lib/ip.ts';
import {
  be16,
  byteArray,
  mapped,
  pad,
  scalarCodec,
  struct,
  u16,
  u32,
  u64,
  u8,
  type Codec,
  type FieldType,
} from './c-struct.ts';
import { Dir, type Direction } from './constants.ts';
import { bytesToIp, familyOf, ipToBytes, parseCidr, type Cidr, type Family } from './ip.ts';

export type { Codec, FieldLayout, StructLayout } from './c-struct.ts';

// --- field types of the members below ------------------------------------------------------------

const FAMILY_IPV4 = 1;
const FAMILY_IPV6 = 2;
/** A __u8 FAMILY_IPV4 / FAMILY_IPV6. */
const family: FieldType<Family> = mapped(
  u8,
  (f: Family) => (f === 4 ? FAMILY_IPV4 : FAMILY_IPV6),
  (t) => (t === FAMILY_IPV6 ? 6 : 4),
);

/** A __u8 DIR_INGRESS / DIR_EGRESS (metrics and flow events). */
const direction: FieldType<Direction> = mapped(
  u8,
  (d: Direction) => (d === 'ingress' ? Dir.INGRESS : Dir.EGRESS),
  (n) => (n === Dir.INGRESS ? 'ingress' : 'egress'),
);

const CT_INGRESS = 0;
const CT_EGRESS = 1;
/** ct_key.dir: CT_INGRESS / CT_EGRESS, the direction of the hook that admitted the flow. */
const ctDirection: FieldType<Direction> = mapped(
  u8,
  (d: Direction) => (d === 'egress' ? CT_EGRESS : CT_INGRESS),
  (n) => (n === CT_EGRESS ? 'egress' : 'ingress'),
);

/** policy_key.egress: 1 for egress, 0 for ingress. */
const egressFlag: FieldType<Direction> = mapped(
  u8,
  (d: Direction) => (d === 'egress' ? 1 : 0),
  (n) => (n ? 'egress' : 'ingress'),
);

/** One bit of a __u8 flags member, as a boolean. */
const flagBit = (bit: number): FieldType<boolean> =>
  mapped(
    u8,
    (on: boolean) => (on ? bit : 0),
    (n) => (n & bit) !== 0,
  );

/** A __u8 mac[6] as "aa:bb:cc:dd:ee:ff"; all zeros when unknown. */
const mac = byteArray<string | undefined>(
  6,
  (m: string | undefined) => (m ? Buffer.from(m.split(':').map((h) => parseInt(h, 16))) : new Uint8Array(6)),
  (b) => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':'),
);

/**
 * A __u32 addr[4] in network byte order holding an address of the family in member `familyMember`
 * (IPv4 in addr[0]).
 */
const address = (familyMember: string): FieldType<string> => ({
  size: 16,
  align: 4,
  write: (b, o, a) => b.set(ipToBytes(a), o),
  read: (b, o, member) => {
    const f = member(familyMember, family);
    return bytesToIp(b.subarray(o, o + (f === 4 ? 4 : 16)), f);
  },
});

/** A __u32 IPv4 address in network byte order where 0 means none. */
const ipv4OrNone: FieldType<string | null> = {
  size: 4,
  align: 4,
  write: (b, o, a) => {
    if (a) b.set(ipToBytes(a), o);
  },
  read: (b, o) => (b.readUInt32BE(o) ? bytesToIp(b.subarray(o, o + 4), 4) : null),
};

// --- the structs ---------------------------------------------------------------------------------

/** key of cilium_lxc: the ifindex of the endpoint's host-side veth. */
export const u32Codec: Codec<number> = scalarCodec('__u32', u32);

export interface EndpointInfo {
  epId: number;
  identity: number;
  flags: number;
  mode: number;
  /** The pod interface's MAC and the host-side veth's MAC ("aa:bb:..."), used by the
   * same-node redirect; all zeros when unknown. */
  mac?: string;
  nodeMac?: string;
}
export const endpointInfoCodec = struct<EndpointInfo>('endpoint_info', [
  ['ep_id', u32, 'epId'],
  ['sec_identity', u32, 'identity'],
  ['flags', u8, 'flags'],
  ['mode', u8, 'mode'],
  ['mac', mac, 'mac'],
  ['node_mac', mac, 'nodeMac'],
]);

/** key of cilium_lxc_ip: a local endpoint's address. */
export const endpointKeyCodec = struct<string, { addr: string; family: Family }>(
  'endpoint_key',
  [
    ['ip6', address('family'), 'addr'],
    ['family', family, 'family'],
    ['pad', pad(3)],
  ],
  { toC: (addr) => ({ addr, family: familyOf(addr) }), fromC: (k) => k.addr },
);

/** ipcache key as a CIDR string ("10.0.0.0/8", "fd00::1/128"). */
export const IPCACHE_STATIC_PREFIX = 32;
/** Host bits cleared, so that one prefix has exactly one key. */
function maskedAddr(c: Cidr): string {
  const addr = parseAddr(c.addr);
  if (!addr) throw new Error(`not an IP address: ${c.addr}`);
  const m = maskedPrefix({ addr, bits: c.prefixLen }).addr;
  return formatAddr(m.family, m.value);
}
export const ipcacheKeyCodec = struct<string, { prefixLen: number; family: Family; addr: string }>(
  'ipcache_key',
  [
    ['prefixlen', u32, 'prefixLen'],
    ['pad1', pad(2, 2)],
    ['pad2', pad(1)],
    ['family', family, 'family'],
    ['ip6', address('family'), 'addr'],
  ],
  {
    toC: (cidr) => {
      const c = parseCidr(cidr);
      return { prefixLen: IPCACHE_STATIC_PREFIX + c.prefixLen, family: c.family, addr: maskedAddr(c) };
    },
    fromC: (k) => `${k.addr}/${k.prefixLen - IPCACHE_STATIC_PREFIX}`,
  },
);

export interface RemoteEndpointInfo {
  identity: number;
  tunnelEndpoint: string | null;
  flags: number;
}
export const remoteEndpointInfoCodec = struct<RemoteEndpointInfo>('remote_endpoint_info', [
  ['sec_identity', u32, 'identity'],
  ['tunnel_endpoint', ipv4OrNone, 'tunnelEndpoint'],
  ['flags', u8, 'flags'],
  ['pad', pad(3)],
]);

export interface CtKey {
  family: Family;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  protocol: number;
  /** The direction of the hook that admitted the flow. */
  dir: Direction;
}
/** ct_key; dir is the hook that admitted the flow (cilium_ct) or a service flow's side (cilium_lb_ct). */
const ctKey = <D>(dir: FieldType<D>): Codec<Omit<CtKey, 'dir'> & { dir: D }> =>
  struct<Omit<CtKey, 'dir'> & { dir: D }>('ct_key', [
    ['saddr', address('family'), 'saddr'],
    ['daddr', address('family'), 'daddr'],
    ['sport', be16, 'sport'],
    ['dport', be16, 'dport'],
    ['nexthdr', u8, 'protocol'],
    ['dir', dir, 'dir'],
    ['family', family, 'family'],
    ['pad', pad(1)],
  ]);
export const ctKeyCodec: Codec<CtKey> = ctKey(ctDirection);

export interface CtEntry {
  created: bigint;
  lastSeen: bigint;
  packets: bigint;
  bytes: bigint;
  srcIdentity: number;
  tcpFlagsSeen: number;
  flags: number;
}
export const ctEntryCodec = struct<CtEntry>('ct_entry', [
  ['created', u64, 'created'],
  ['last_seen', u64, 'lastSeen'],
  ['packets', u64, 'packets'],
  ['bytes', u64, 'bytes'],
  ['src_identity', u32, 'srcIdentity'],
  ['tcp_flags_seen', u8, 'tcpFlagsSeen'],
  ['flags', u8, 'flags'],
  ['pad', pad(2, 2)],
]);

/**
 * A policy map key. identity 0 is the wildcard identity; protocol 0 means any protocol (and
 * then any port); portPrefixLen 0 means any port, 16 one port, 1..15 an aligned range of
 * 2^(16 - portPrefixLen) ports starting at port (see portRangeToPrefixes). For ICMP/ICMPv6 the
 * port is the ICMP type.
 */
export interface PolicyKey {
  identity: number;
  direction: Direction;
  protocol: number;
  port: number;
  portPrefixLen: number;
}
export const POLICY_STATIC_PREFIX = 40; // sec_label + egress
/** The LPM prefix length of a key that matches its protocol and any port. */
const POLICY_PROTOCOL_PREFIX = POLICY_STATIC_PREFIX + 8;
/** policy_key's members: the LPM prefix length says how many of the others are matched. */
interface PolicyKeyMembers {
  prefixLen: number;
  identity: number;
  direction: Direction;
  protocol: number;
  port: number;
}
export const policyKeyCodec = struct<PolicyKey, PolicyKeyMembers>(
  'policy_key',
  [
    ['prefixlen', u32, 'prefixLen'],
    ['sec_label', u32, 'identity'],
    ['egress', egressFlag, 'direction'],
    ['protocol', u8, 'protocol'],
    ['dport', be16, 'port'],
  ],
  {
    toC: (k) => {
      const bits = Math.max(0, Math.min(16, k.portPrefixLen));
      const keep = (0xffff << (16 - bits)) & 0xffff;
      const port = k.protocol === 0 ? 0 : k.port & keep;
      return {
        prefixLen: policyPrefixLen(k),
        identity: k.identity,
        direction: k.direction,
        protocol: k.protocol,
        port,
      };
    },
    fromC: (f) => {
      const portBits = Math.max(0, f.prefixLen - POLICY_PROTOCOL_PREFIX);
      return {
        identity: f.identity,
        direction: f.direction,
        protocol: f.prefixLen >= POLICY_PROTOCOL_PREFIX ? f.protocol : 0,
        port: portBits ? f.port : 0,
        portPrefixLen: portBits,
      };
    },
  },
);

export function policyPrefixLen(k: PolicyKey): number {
  if (k.protocol === 0) return POLICY_STATIC_PREFIX;
  return POLICY_PROTOCOL_PREFIX + Math.max(0, Math.min(16, k.portPrefixLen));
}

/** Splits an inclusive port range into aligned prefixes (like Cilium's PortRangeToMaskedPorts). */
export function portRangeToPrefixes(from: number, to: number): Array<{ port: number; portPrefixLen: number }> {
  if (from < 0 || to > 0xffff || from > to) throw new RangeError(`bad port range ${from}-${to}`);
  if (from === 0 && to === 0xffff) return [{ port: 0, portPrefixLen: 0 }];
  const out: Array<{ port: number; portPrefixLen: number }> = [];
  let p = from;
  while (p <= to) {
    let size = 1;
    let bits = 0;
    while (bits < 16 && p % (size * 2) === 0 && p + size * 2 - 1 <= to) {
      size *= 2;
      bits++;
    }
    out.push({ port: p, portPrefixLen: 16 - bits });
    p += size;
  }
  return out;
}

export interface PolicyEntry {
  deny: boolean;
  proxyPort: number;
  authType: number;
  lpmPrefixLength: number;
}
export const POLICY_F_DENY = 0x01;
export const policyEntryCodec = struct<PolicyEntry>('policy_entry', [
  ['proxy_port', be16, 'proxyPort'],
  ['flags', flagBit(POLICY_F_DENY), 'deny'],
  ['auth_type', u8, 'authType'],
  ['lpm_prefix_length', u8, 'lpmPrefixLength'],
  ['pad', pad(3)],
]);

/** The entry for key: the datapath needs the key's prefix length inside the value. */
export function policyEntryFor(
  key: PolicyKey,
  opts: { deny?: boolean; proxyPort?: number; authType?: number } = {},
): PolicyEntry {
  return {
    deny: opts.deny ?? false,
    proxyPort: opts.proxyPort ?? 0,
    authType: opts.authType ?? 0,
    lpmPrefixLength: policyPrefixLen(key),
  };
}

export interface MetricsKey {
  reason: number;
  direction: Direction;
}
export const metricsKeyCodec = struct<MetricsKey>('metrics_key', [
  ['reason', u8, 'reason'],
  ['dir', direction, 'direction'],
  ['pad1', pad(2, 2)],
  ['pad2', pad(4, 4)],
]);

export interface MetricsValue {
  count: bigint;
  bytes: bigint;
}
export const metricsValueCodec = struct<MetricsValue>('metrics_value', [
  ['count', u64, 'count'],
  ['bytes', u64, 'bytes'],
]);

/** Sums a per-CPU lookup result (one slot per possible CPU, each rounded up to 8 bytes). */
export function sumPerCpuMetrics(buf: Buffer): MetricsValue {
  const size = metricsValueCodec.layout.size;
  const slot = Math.ceil(size / 8) * 8;
  let count = 0n;
  let bytes = 0n;
  for (let off = 0; off + size <= buf.length; off += slot) {
    const v = metricsValueCodec.decode(buf.subarray(off, off + size));
    count += v.count;
    bytes += v.bytes;
  }
  return { count, bytes };
}

export interface FlowEvent {
  timestamp: bigint;
  srcIdentity: number;
  dstIdentity: number;
  ifindex: number;
  epId: number;
  family: Family;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  protocol: number;
  verdict: number;
  dropReason: number;
  direction: Direction;
  tcpFlags: number;
  ctState: number;
  icmpType: number;
  len: number;
  /** the Service's rev-NAT id when the packet was translated to a backend; absent when it was not */
  revNatId?: number;
}
type FlowEventC = Omit<FlowEvent, 'revNatId'> & { revNatId: number };
export const flowEventCodec = struct<FlowEvent, FlowEventC>(
  'flow_event',
  [
    ['timestamp', u64, 'timestamp'],
    ['src_identity', u32, 'srcIdentity'],
    ['dst_identity', u32, 'dstIdentity'],
    ['ifindex', u32, 'ifindex'],
    ['ep_id', u32, 'epId'],
    ['saddr', address('family'), 'saddr'],
    ['daddr', address('family'), 'daddr'],
    ['sport', be16, 'sport'],
    ['dport', be16, 'dport'],
    ['family', family, 'family'],
    ['protocol', u8, 'protocol'],
    ['verdict', u8, 'verdict'],
    ['drop_reason', u8, 'dropReason'],
    ['direction', direction, 'direction'],
    ['tcp_flags', u8, 'tcpFlags'],
    ['ct_state', u8, 'ctState'],
    ['icmp_type', u8, 'icmpType'],
    ['len', u32, 'len'],
    ['rev_nat', u16, 'revNatId'],
    ['pad1', pad(2, 2)],
    ['pad2', pad(4, 4)],
  ],
  {
    toC: (ev) => ({ ...ev, revNatId: ev.revNatId ?? 0 }),
    fromC: ({ revNatId, ...ev }) => (revNatId ? { ...ev, revNatId } : ev),
  },
);

// --- service load-balancing (bpf/lib/lb.h, bpf/lib/lb-ct.h) ---------------------------------------

/** A fixed-family address member: a __u32 (IPv4) or __u32[4] (IPv6) in network byte order. */
const familyAddress = (f: Family): FieldType<string> => ({
  size: f === 4 ? 4 : 16,
  align: 4,
  write: (b, o, a) => b.set(ipToBytes(a), o),
  read: (b, o) => bytesToIp(b.subarray(o, o + (f === 4 ? 4 : 16)), f),
});

/** lb{4,6}_affinity_key.client_id: a union of the client address and a socket cookie (8-aligned). */
const affinityClient = (f: Family): FieldType<string> => ({ ...familyAddress(f), size: f === 4 ? 8 : 16, align: 8 });

/** lb{4,6}_key.scope: LB_LOOKUP_SCOPE_EXT / LB_LOOKUP_SCOPE_INT. */
export type LbScope = 'external' | 'internal';
const LB_LOOKUP_SCOPE_INT = 1;
const lbScope: FieldType<LbScope> = mapped(
  u8,
  (s: LbScope) => (s === 'internal' ? LB_LOOKUP_SCOPE_INT : 0),
  (n) => (n === LB_LOOKUP_SCOPE_INT ? 'internal' : 'external'),
);

/** A services map key: slot 0 is the frontend, slots 1..count its backends. */
export interface LbKey {
  address: string;
  port: number;
  slot: number;
  /** IP protocol number (6, 17, 132) */
  protocol: number;
  scope: LbScope;
}
const lbKey = (cName: string, f: Family): Codec<LbKey> =>
  struct<LbKey>(cName, [
    ['address', familyAddress(f), 'address'],
    ['dport', be16, 'port'],
    ['backend_slot', u16, 'slot'],
    ['proto', u8, 'protocol'],
    ['scope', lbScope, 'scope'],
    ['pad', pad(2)],
  ]);
export const lb4KeyCodec = lbKey('lb4_key', 4);
export const lb6KeyCodec = lbKey('lb6_key', 6);

/** Slot 0: count, revNatIndex, flags, and the affinity timeout in backendId; other slots: backendId. */
export interface LbServiceValue {
  backendId: number;
  count: number;
  revNatIndex: number;
  flags: number;
  flags2: number;
}
const lbService = (cName: string): Codec<LbServiceValue> =>
  struct<LbServiceValue>(cName, [
    ['backend_id', u32, 'backendId'],
    ['count', u16, 'count'],
    ['rev_nat_index', u16, 'revNatIndex'],
    ['flags', u8, 'flags'],
    ['flags2', u8, 'flags2'],
    ['pad', pad(2)],
  ]);
export const lb4ServiceCodec = lbService('lb4_service');
export const lb6ServiceCodec = lbService('lb6_service');

export interface LbBackendValue {
  address: string;
  port: number;
  protocol: number;
  /** BE_STATE_* */
  state: number;
  clusterId: number;
  zone: number;
}
const lbBackend = (cName: string, f: Family): Codec<LbBackendValue> =>
  struct<LbBackendValue>(cName, [
    ['address', familyAddress(f), 'address'],
    ['port', be16, 'port'],
    ['proto', u8, 'protocol'],
    ['flags', u8, 'state'],
    ['cluster_id', u16, 'clusterId'],
    ['zone', u8, 'zone'],
    ['pad', pad(1)],
  ]);
export const lb4BackendCodec = lbBackend('lb4_backend', 4);
export const lb6BackendCodec = lbBackend('lb6_backend', 6);

export interface LbReverseNat {
  address: string;
  port: number;
}
const lbReverseNat = (cName: string, f: Family): Codec<LbReverseNat> =>
  struct<LbReverseNat>(cName, [
    ['address', familyAddress(f), 'address'],
    ['port', be16, 'port'],
    ['pad', pad(2, 2)],
  ]);
export const lb4ReverseNatCodec = lbReverseNat('lb4_reverse_nat', 4);
export const lb6ReverseNatCodec = lbReverseNat('lb6_reverse_nat', 6);

/** Key of cilium_lb{4,6}_reverse_nat and cilium_lb{4,6}_maglev: the rev-NAT id (host byte order). */
export const u16Codec: Codec<number> = scalarCodec('__u16', u16);

export interface LbAffinityKey {
  client: string;
  revNatId: number;
}
const lbAffinityKey = (cName: string, f: Family): Codec<LbAffinityKey> =>
  struct<LbAffinityKey, LbAffinityKey & { netnsCookie: number }>(
    cName,
    [
      ['client_id', affinityClient(f), 'client'],
      ['rev_nat_id', u16, 'revNatId'],
      ['netns_cookie', u8, 'netnsCookie'],
      ['pad1', pad(1)],
      ['pad2', pad(4, 4)],
    ],
    { toC: (k) => ({ ...k, netnsCookie: 0 }), fromC: ({ client, revNatId }) => ({ client, revNatId }) },
  );
export const lb4AffinityKeyCodec = lbAffinityKey('lb4_affinity_key', 4);
export const lb6AffinityKeyCodec = lbAffinityKey('lb6_affinity_key', 6);

export interface LbAffinityVal {
  /** seconds of bpf_ktime_get_ns */
  lastUsed: bigint;
  backendId: number;
}
export const lbAffinityValCodec = struct<LbAffinityVal>('lb_affinity_val', [
  ['last_used', u64, 'lastUsed'],
  ['backend_id', u32, 'backendId'],
  ['pad', pad(4, 4)],
]);

export interface LbAffinityMatch {
  backendId: number;
  revNatId: number;
}
export const lbAffinityMatchCodec = struct<LbAffinityMatch>('lb_affinity_match', [
  ['backend_id', u32, 'backendId'],
  ['rev_nat_id', u16, 'revNatId'],
  ['pad', pad(2, 2)],
]);

/** A source-range key: the service's rev-NAT id and a client prefix ("10.0.0.0/8"). */
export interface LbSourceRange {
  revNatId: number;
  cidr: string;
}
export const LB_SRC_RANGE_STATIC_PREFIX = 32;
const lbSrcRangeKey = (cName: string, f: Family): Codec<LbSourceRange> =>
  struct<LbSourceRange, { prefixLen: number; revNatId: number; addr: string }>(
    cName,
    [
      ['prefixlen', u32, 'prefixLen'],
      ['rev_nat_id', u16, 'revNatId'],
      ['pad', pad(2, 2)],
      ['addr', familyAddress(f), 'addr'],
    ],
    {
      toC: ({ revNatId, cidr }) => {
        const c = parseCidr(cidr);
        if (c.family !== f) throw new Error(`${cName}: ${cidr} is not IPv${f}`);
        return { prefixLen: LB_SRC_RANGE_STATIC_PREFIX + c.prefixLen, revNatId, addr: maskedAddr(c) };
      },
      fromC: (k) => ({ revNatId: k.revNatId, cidr: `${k.addr}/${k.prefixLen - LB_SRC_RANGE_STATIC_PREFIX}` }),
    },
  );
export const lb4SrcRangeKeyCodec = lbSrcRangeKey('lb4_src_range_key', 4);
export const lb6SrcRangeKeyCodec = lbSrcRangeKey('lb6_src_range_key', 6);

/** A __u8 map value (source ranges, affinity match): always 1. */
export const u8Codec: Codec<number> = scalarCodec('__u8', u8);

/**
 * A service conntrack entry (cilium_lb_ct, keyed by ct_key with dir CT_SERVICE or
 * CT_SERVICE_REV). The struct does not carry the family: an address whose last 12 bytes are zero
 * reads as IPv4.
 */
export interface LbCtEntry {
  lastSeen: bigint;
  backendAddr: string;
  backendId: number;
  backendPort: number;
  revNatIndex: number;
}
const anyFamilyAddress: FieldType<string> = {
  size: 16,
  align: 4,
  write: (b, o, a) => b.set(ipToBytes(a), o),
  read: (b, o) => {
    const bytes = b.subarray(o, o + 16);
    return bytes.subarray(4).every((x) => x === 0) ? bytesToIp(bytes, 4) : bytesToIp(bytes, 6);
  },
};
/** cilium_lb_ct's key: a ct_key whose dir is CT_SERVICE (client -> frontend) or CT_SERVICE_REV (reply). */
export interface LbCtKey extends Omit<CtKey, 'dir'> {
  dir: 'service' | 'reply';
}
const CT_SERVICE = 2;
const CT_SERVICE_REV = 3;
export const lbCtKeyCodec: Codec<LbCtKey> = ctKey(
  mapped(
    u8,
    (d: LbCtKey['dir']) => (d === 'service' ? CT_SERVICE : CT_SERVICE_REV),
    (n) => (n === CT_SERVICE ? 'service' : 'reply'),
  ),
);

export const lbCtEntryCodec = struct<LbCtEntry>('lb_ct_entry', [
  ['last_seen', u64, 'lastSeen'],
  ['backend_addr', anyFamilyAddress, 'backendAddr'],
  ['backend_id', u32, 'backendId'],
  ['backend_port', be16, 'backendPort'],
  ['rev_nat_index', u16, 'revNatIndex'],
]);

/** cilium_lb{4,6}_reverse_sk's key (bpf/lib/sock.h): a socket-LB socket and the backend it was sent to. */
export interface LbReverseSkKey {
  cookie: bigint;
  address: string;
  port: number;
}
const lbReverseSkKey = (cName: string, f: Family): Codec<LbReverseSkKey> =>
  struct<LbReverseSkKey>(cName, [
    ['cookie', u64, 'cookie'],
    ['address', familyAddress(f), 'address'],
    ['port', be16, 'port'],
    ['pad', pad(2, 2)],
    ...(f === 6 ? ([['pad2', pad(4, 4)]] as const) : []),
  ]);
export const lb4ReverseSkKeyCodec = lbReverseSkKey('lb4_reverse_sk_key', 4);
export const lb6ReverseSkKeyCodec = lbReverseSkKey('lb6_reverse_sk_key', 6);

/** The frontend a socket-LB socket addressed, given back by recvmsg and getpeername. */
export interface LbReverseSk {
  address: string;
  port: number;
  revNatIndex: number;
}
const lbReverseSk = (cName: string, f: Family): Codec<LbReverseSk> =>
  struct<LbReverseSk>(cName, [
    ['address', familyAddress(f), 'address'],
    ['port', be16, 'port'],
    ['rev_nat_index', u16, 'revNatIndex'],
  ]);
export const lb4ReverseSkCodec = lbReverseSk('lb4_reverse_sk', 4);
export const lb6ReverseSkCodec = lbReverseSk('lb6_reverse_sk', 6);

/** cilium_sock_config's one value: the host namespace's cookie (0: the initial one's) and SOCK_LB_* flags. */
export interface SockLbConfig {
  hostNetnsCookie: bigint;
  flags: number;
}
export const SOCK_LB_HOST_NS_ONLY = 0x01;
export const sockLbConfigCodec = struct<SockLbConfig>('sock_lb_config', [
  ['host_netns_cookie', u64, 'hostNetnsCookie'],
  ['flags', u32, 'flags'],
  ['pad', pad(4, 4)],
]);

/** cilium_snat_v4_external's key (bpf/lib/nodeport.h): a tuple and the direction it is seen in. */
export interface Nat4Key {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  protocol: number;
  /** fwd: the client's tuple to the frontend; rev: the backend's reply */
  dir: 'fwd' | 'rev';
}
export const nat4KeyCodec = struct<Nat4Key>('nat4_key', [
  ['saddr', familyAddress(4), 'saddr'],
  ['daddr', familyAddress(4), 'daddr'],
  ['sport', be16, 'sport'],
  ['dport', be16, 'dport'],
  ['nexthdr', u8, 'protocol'],
  [
    'dir',
    mapped(
      u8,
      (d: Nat4Key['dir']) => (d === 'fwd' ? 0 : 1),
      (n) => (n === 0 ? 'fwd' : 'rev'),
    ),
    'dir',
  ],
  ['pad', pad(2, 2)],
]);

/** A north-south flow's NAT state; which members mean what depends on the key's dir (nodeport.h). */
export interface Nat4Entry {
  lastSeen: bigint;
  /** fwd: the backend; rev: the client */
  toAddr: string;
  toPort: number;
  /** fwd: the SNAT address, 0.0.0.0 when the flow is not SNATed */
  natAddr: string;
  natPort: number;
  backendId: number;
  ifindex: number;
  revNatIndex: number;
  /** NAT_F_SNAT = 1 */
  flags: number;
  clientMac: string | undefined;
  ifMac: string | undefined;
}
export const nat4EntryCodec = struct<Nat4Entry>('nat4_entry', [
  ['last_seen', u64, 'lastSeen'],
  ['to_addr', familyAddress(4), 'toAddr'],
  ['nat_addr', familyAddress(4), 'natAddr'],
  ['backend_id', u32, 'backendId'],
  ['ifindex', u32, 'ifindex'],
  ['to_port', be16, 'toPort'],
  ['nat_port', be16, 'natPort'],
  ['rev_nat_index', u16, 'revNatIndex'],
  ['flags', u8, 'flags'],
  ['pad', pad(1)],
  ['client_mac', mac, 'clientMac'],
  ['if_mac', mac, 'ifMac'],
  ['pad2', pad(4, 4)],
]);

/** bpf_host.o's cilium_nodeport_cfg value. */
export interface NodePortConfig {
  snatAddr: string;
  /** Maglev M: the size of the agent's inner tables */
  lutSize: number;
  natPortMin: number;
  natPortMax: number;
  /** LbModeCode */
  mode: number;
}
export const nodePortConfigCodec = struct<NodePortConfig>('nodeport_config', [
  ['snat_addr', familyAddress(4), 'snatAddr'],
  ['lut_size', u32, 'lutSize'],
  ['nat_port_min', u16, 'natPortMin'],
  ['nat_port_max', u16, 'natPortMax'],
  ['mode', u8, 'mode'],
  ['pad', pad(3)],
]);

/** cilium_encap_cfg's value (bpf/lib/encap.h): the routing mode and the node's tunnel device. */
export interface EncapConfig {
  /** The tunnel device's ifindex in the node's network namespace; 0 in native mode */
  tunnelIfindex: number;
  /** RoutingModeCode */
  mode: number;
  /** TunnelProtocolCode */
  protocol: number;
}
export const encapConfigCodec = struct<EncapConfig>('encap_config', [
  ['tunnel_ifindex', u32, 'tunnelIfindex'],
  ['mode', u8, 'mode'],
  ['protocol', u8, 'protocol'],
  ['pad', pad(2, 2)],
]);

/** Every struct codec, for the BTF layout check. */
export const allCodecs: ReadonlyArray<Codec<unknown>> = [
  endpointInfoCodec,
  endpointKeyCodec,
  ipcacheKeyCodec,
  remoteEndpointInfoCodec,
  ctKeyCodec,
  ctEntryCodec,
  policyKeyCodec,
  policyEntryCodec,
  metricsKeyCodec,
  metricsValueCodec,
  flowEventCodec,
  lb4KeyCodec,
  lb6KeyCodec,
  lb4ServiceCodec,
  lb6ServiceCodec,
  lb4BackendCodec,
  lb6BackendCodec,
  lb4ReverseNatCodec,
  lb6ReverseNatCodec,
  lb4AffinityKeyCodec,
  lb6AffinityKeyCodec,
  lbAffinityValCodec,
  lbAffinityMatchCodec,
  lb4SrcRangeKeyCodec,
  lb6SrcRangeKeyCodec,
  lbCtKeyCodec,
  lbCtEntryCodec,
  lb4ReverseSkKeyCodec,
  lb6ReverseSkKeyCodec,
  lb4ReverseSkCodec,
  lb6ReverseSkCodec,
  sockLbConfigCodec,
  nat4KeyCodec,
  nat4EntryCodec,
  nodePortConfigCodec,
  encapConfigCodec,
];
