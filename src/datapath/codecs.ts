// One codec per struct shared with bpf/lib/*.h. `layout` lists every C member with its
// byte offset and size; test/datapath/layout.test.ts checks it against the BTF of
// bpf/build/btf_types.o, so the C and TypeScript sides cannot drift apart silently.
import { bytesToIp, familyOf, ipToBytes, parseCidr, type Family } from './ip.ts';
import { Dir, type Direction } from './constants.ts';

export interface FieldLayout { name: string; offset: number; size: number }
export interface StructLayout { cName: string; size: number; fields: FieldLayout[] }

export interface Codec<T> {
  layout: StructLayout;
  encode(value: T): Buffer;
  decode(buf: Buffer): T;
}

function checkSize(buf: Buffer, layout: StructLayout): void {
  if (buf.length !== layout.size) {
    throw new RangeError(`${layout.cName}: expected ${layout.size} bytes, got ${buf.length}`);
  }
}

const dirToNum = (d: Direction): number => (d === 'ingress' ? Dir.INGRESS : Dir.EGRESS);
const numToDir = (n: number): Direction => (n === Dir.INGRESS ? 'ingress' : 'egress');
const familyTag = (f: Family): number => (f === 4 ? 1 : 2);
const tagFamily = (t: number): Family => (t === 2 ? 6 : 4);

/** key of cilium_lxc: the ifindex of the endpoint's host-side veth. */
export const u32Codec: Codec<number> = {
  layout: { cName: '__u32', size: 4, fields: [] },
  encode(v) { const b = Buffer.alloc(4); b.writeUInt32LE(v >>> 0); return b; },
  decode(b) { return b.readUInt32LE(0); },
};

export interface EndpointInfo {
  epId: number; identity: number; flags: number; mode: number;
  /** The pod interface's MAC and the host-side veth's MAC ("aa:bb:..."), used by the
   * same-node redirect; all zeros when unknown. */
  mac?: string; nodeMac?: string;
}
const macToBytes = (mac: string | undefined): Buffer =>
  mac ? Buffer.from(mac.split(':').map((h) => parseInt(h, 16))) : Buffer.alloc(6);
const bytesToMac = (b: Buffer): string => [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
export const endpointInfoCodec: Codec<EndpointInfo> = {
  layout: {
    cName: 'endpoint_info', size: 24,
    fields: [
      { name: 'ep_id', offset: 0, size: 4 }, { name: 'sec_identity', offset: 4, size: 4 },
      { name: 'flags', offset: 8, size: 1 }, { name: 'mode', offset: 9, size: 1 },
      { name: 'mac', offset: 10, size: 6 }, { name: 'node_mac', offset: 16, size: 6 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(24);
    b.writeUInt32LE(v.epId, 0); b.writeUInt32LE(v.identity, 4);
    b.writeUInt8(v.flags, 8); b.writeUInt8(v.mode, 9);
    macToBytes(v.mac).copy(b, 10); macToBytes(v.nodeMac).copy(b, 16);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    return {
      epId: b.readUInt32LE(0), identity: b.readUInt32LE(4), flags: b.readUInt8(8), mode: b.readUInt8(9),
      mac: bytesToMac(b.subarray(10, 16)), nodeMac: bytesToMac(b.subarray(16, 22)),
    };
  },
};

/** key of cilium_lxc_ip: a local endpoint's address. */
export const endpointKeyCodec: Codec<string> = {
  layout: {
    cName: 'endpoint_key', size: 20,
    fields: [{ name: 'ip6', offset: 0, size: 16 }, { name: 'family', offset: 16, size: 1 }, { name: 'pad', offset: 17, size: 3 }],
  },
  encode(addr) {
    const b = Buffer.alloc(20);
    ipToBytes(addr).copy(b, 0);
    b.writeUInt8(familyTag(familyOf(addr)), 16);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const family = tagFamily(b.readUInt8(16));
    return bytesToIp(b.subarray(0, family === 4 ? 4 : 16), family);
  },
};

/** ipcache key as a CIDR string ("10.0.0.0/8", "fd00::1/128"). */
export const IPCACHE_STATIC_PREFIX = 32;
export const ipcacheKeyCodec: Codec<string> = {
  layout: {
    cName: 'ipcache_key', size: 24,
    fields: [
      { name: 'prefixlen', offset: 0, size: 4 }, { name: 'pad1', offset: 4, size: 2 },
      { name: 'pad2', offset: 6, size: 1 }, { name: 'family', offset: 7, size: 1 },
      { name: 'ip6', offset: 8, size: 16 },
    ],
  },
  encode(cidr) {
    const c = parseCidr(cidr);
    const b = Buffer.alloc(24);
    b.writeUInt32LE(IPCACHE_STATIC_PREFIX + c.prefixLen, 0);
    b.writeUInt8(familyTag(c.family), 7);
    const ip = ipToBytes(c.addr);
    // Host bits are cleared so one prefix has exactly one key.
    for (let i = 0; i < ip.length; i++) {
      const bitsLeft = c.prefixLen - i * 8;
      const mask = bitsLeft >= 8 ? 0xff : bitsLeft <= 0 ? 0 : (0xff << (8 - bitsLeft)) & 0xff;
      b[8 + i] = (ip[i] ?? 0) & mask;
    }
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const family = tagFamily(b.readUInt8(7));
    const addr = bytesToIp(b.subarray(8, family === 4 ? 12 : 24), family);
    return `${addr}/${b.readUInt32LE(0) - IPCACHE_STATIC_PREFIX}`;
  },
};

export interface RemoteEndpointInfo { identity: number; tunnelEndpoint: string | null; flags: number }
export const remoteEndpointInfoCodec: Codec<RemoteEndpointInfo> = {
  layout: {
    cName: 'remote_endpoint_info', size: 12,
    fields: [
      { name: 'sec_identity', offset: 0, size: 4 }, { name: 'tunnel_endpoint', offset: 4, size: 4 },
      { name: 'flags', offset: 8, size: 1 }, { name: 'pad', offset: 9, size: 3 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(v.identity, 0);
    if (v.tunnelEndpoint) ipToBytes(v.tunnelEndpoint).copy(b, 4);
    b.writeUInt8(v.flags, 8);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const tun = b.readUInt32BE(4);
    return { identity: b.readUInt32LE(0), tunnelEndpoint: tun ? bytesToIp(b.subarray(4, 8), 4) : null, flags: b.readUInt8(8) };
  },
};

export interface CtKey {
  family: Family; saddr: string; daddr: string; sport: number; dport: number; protocol: number;
  /** The direction of the hook that admitted the flow. */
  dir: Direction;
}
const CT_INGRESS = 0, CT_EGRESS = 1;
export const ctKeyCodec: Codec<CtKey> = {
  layout: {
    cName: 'ct_key', size: 40,
    fields: [
      { name: 'saddr', offset: 0, size: 16 }, { name: 'daddr', offset: 16, size: 16 },
      { name: 'sport', offset: 32, size: 2 }, { name: 'dport', offset: 34, size: 2 },
      { name: 'nexthdr', offset: 36, size: 1 }, { name: 'dir', offset: 37, size: 1 },
      { name: 'family', offset: 38, size: 1 }, { name: 'pad', offset: 39, size: 1 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(40);
    ipToBytes(v.saddr).copy(b, 0); ipToBytes(v.daddr).copy(b, 16);
    b.writeUInt16BE(v.sport, 32); b.writeUInt16BE(v.dport, 34);
    b.writeUInt8(v.protocol, 36); b.writeUInt8(v.dir === 'egress' ? CT_EGRESS : CT_INGRESS, 37);
    b.writeUInt8(familyTag(v.family), 38);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const family = tagFamily(b.readUInt8(38));
    const n = family === 4 ? 4 : 16;
    return {
      family, saddr: bytesToIp(b.subarray(0, n), family), daddr: bytesToIp(b.subarray(16, 16 + n), family),
      sport: b.readUInt16BE(32), dport: b.readUInt16BE(34), protocol: b.readUInt8(36),
      dir: b.readUInt8(37) === CT_EGRESS ? 'egress' : 'ingress',
    };
  },
};

export interface CtEntry {
  created: bigint; lastSeen: bigint; packets: bigint; bytes: bigint; srcIdentity: number;
  tcpFlagsSeen: number; flags: number;
}
export const ctEntryCodec: Codec<CtEntry> = {
  layout: {
    cName: 'ct_entry', size: 40,
    fields: [
      { name: 'created', offset: 0, size: 8 }, { name: 'last_seen', offset: 8, size: 8 },
      { name: 'packets', offset: 16, size: 8 }, { name: 'bytes', offset: 24, size: 8 },
      { name: 'src_identity', offset: 32, size: 4 }, { name: 'tcp_flags_seen', offset: 36, size: 1 },
      { name: 'flags', offset: 37, size: 1 }, { name: 'pad', offset: 38, size: 2 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(40);
    b.writeBigUInt64LE(v.created, 0); b.writeBigUInt64LE(v.lastSeen, 8);
    b.writeBigUInt64LE(v.packets, 16); b.writeBigUInt64LE(v.bytes, 24);
    b.writeUInt32LE(v.srcIdentity, 32); b.writeUInt8(v.tcpFlagsSeen, 36); b.writeUInt8(v.flags, 37);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    return {
      created: b.readBigUInt64LE(0), lastSeen: b.readBigUInt64LE(8), packets: b.readBigUInt64LE(16),
      bytes: b.readBigUInt64LE(24), srcIdentity: b.readUInt32LE(32), tcpFlagsSeen: b.readUInt8(36),
      flags: b.readUInt8(37),
    };
  },
};

/**
 * A policy map key. identity 0 is the wildcard identity; protocol 0 means any protocol (and
 * then any port); portPrefixLen 0 means any port, 16 one port, 1..15 an aligned range of
 * 2^(16 - portPrefixLen) ports starting at port (see portRangeToPrefixes). For ICMP/ICMPv6 the
 * port is the ICMP type.
 */
export interface PolicyKey {
  identity: number; direction: Direction; protocol: number; port: number; portPrefixLen: number;
}
export const POLICY_STATIC_PREFIX = 40; // sec_label + egress
export const policyKeyCodec: Codec<PolicyKey> = {
  layout: {
    cName: 'policy_key', size: 12,
    fields: [
      { name: 'prefixlen', offset: 0, size: 4 }, { name: 'sec_label', offset: 4, size: 4 },
      { name: 'egress', offset: 8, size: 1 }, { name: 'protocol', offset: 9, size: 1 },
      { name: 'dport', offset: 10, size: 2 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(12);
    b.writeUInt32LE(policyPrefixLen(v), 0);
    b.writeUInt32LE(v.identity, 4);
    b.writeUInt8(v.direction === 'egress' ? 1 : 0, 8);
    if (v.protocol !== 0) {
      b.writeUInt8(v.protocol, 9);
      const keep = v.portPrefixLen >= 16 ? 0xffff : v.portPrefixLen <= 0 ? 0 : (0xffff << (16 - v.portPrefixLen)) & 0xffff;
      b.writeUInt16BE(v.port & keep, 10);
    }
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const plen = b.readUInt32LE(0);
    const protocol = plen >= 48 ? b.readUInt8(9) : 0;
    return {
      identity: b.readUInt32LE(4), direction: b.readUInt8(8) ? 'egress' : 'ingress', protocol,
      port: plen > 48 ? b.readUInt16BE(10) : 0, portPrefixLen: plen > 48 ? plen - 48 : 0,
    };
  },
};

export function policyPrefixLen(k: PolicyKey): number {
  if (k.protocol === 0) return POLICY_STATIC_PREFIX;
  return 48 + Math.max(0, Math.min(16, k.portPrefixLen));
}

/** Splits an inclusive port range into aligned prefixes (like Cilium's PortRangeToMaskedPorts). */
export function portRangeToPrefixes(from: number, to: number): Array<{ port: number; portPrefixLen: number }> {
  if (from < 0 || to > 0xffff || from > to) throw new RangeError(`bad port range ${from}-${to}`);
  if (from === 0 && to === 0xffff) return [{ port: 0, portPrefixLen: 0 }];
  const out: Array<{ port: number; portPrefixLen: number }> = [];
  let p = from;
  while (p <= to) {
    let size = 1, bits = 0;
    while (bits < 16 && p % (size * 2) === 0 && p + size * 2 - 1 <= to) { size *= 2; bits++; }
    out.push({ port: p, portPrefixLen: 16 - bits });
    p += size;
  }
  return out;
}

export interface PolicyEntry { deny: boolean; proxyPort: number; authType: number; lpmPrefixLength: number }
export const POLICY_F_DENY = 0x01;
export const policyEntryCodec: Codec<PolicyEntry> = {
  layout: {
    cName: 'policy_entry', size: 8,
    fields: [
      { name: 'proxy_port', offset: 0, size: 2 }, { name: 'flags', offset: 2, size: 1 },
      { name: 'auth_type', offset: 3, size: 1 }, { name: 'lpm_prefix_length', offset: 4, size: 1 },
      { name: 'pad', offset: 5, size: 3 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(8);
    b.writeUInt16BE(v.proxyPort, 0); b.writeUInt8(v.deny ? POLICY_F_DENY : 0, 2);
    b.writeUInt8(v.authType, 3); b.writeUInt8(v.lpmPrefixLength, 4);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    return {
      proxyPort: b.readUInt16BE(0), deny: (b.readUInt8(2) & POLICY_F_DENY) !== 0, authType: b.readUInt8(3),
      lpmPrefixLength: b.readUInt8(4),
    };
  },
};

/** The entry for key: the datapath needs the key's prefix length inside the value. */
export function policyEntryFor(key: PolicyKey, opts: { deny?: boolean; proxyPort?: number; authType?: number } = {}): PolicyEntry {
  return { deny: opts.deny ?? false, proxyPort: opts.proxyPort ?? 0, authType: opts.authType ?? 0, lpmPrefixLength: policyPrefixLen(key) };
}

export interface MetricsKey { reason: number; direction: Direction }
export const metricsKeyCodec: Codec<MetricsKey> = {
  layout: {
    cName: 'metrics_key', size: 8,
    fields: [
      { name: 'reason', offset: 0, size: 1 }, { name: 'dir', offset: 1, size: 1 },
      { name: 'pad1', offset: 2, size: 2 }, { name: 'pad2', offset: 4, size: 4 },
    ],
  },
  encode(v) { const b = Buffer.alloc(8); b.writeUInt8(v.reason, 0); b.writeUInt8(dirToNum(v.direction), 1); return b; },
  decode(b) { checkSize(b, this.layout); return { reason: b.readUInt8(0), direction: numToDir(b.readUInt8(1)) }; },
};

export interface MetricsValue { count: bigint; bytes: bigint }
export const metricsValueCodec: Codec<MetricsValue> = {
  layout: { cName: 'metrics_value', size: 16, fields: [{ name: 'count', offset: 0, size: 8 }, { name: 'bytes', offset: 8, size: 8 }] },
  encode(v) { const b = Buffer.alloc(16); b.writeBigUInt64LE(v.count, 0); b.writeBigUInt64LE(v.bytes, 8); return b; },
  decode(b) { checkSize(b, this.layout); return { count: b.readBigUInt64LE(0), bytes: b.readBigUInt64LE(8) }; },
};

/** Sums a per-CPU lookup result (one 8-byte-aligned slot per possible CPU). */
export function sumPerCpuMetrics(buf: Buffer): MetricsValue {
  let count = 0n, bytes = 0n;
  for (let off = 0; off + 16 <= buf.length; off += 16) {
    count += buf.readBigUInt64LE(off); bytes += buf.readBigUInt64LE(off + 8);
  }
  return { count, bytes };
}

export interface FlowEvent {
  timestamp: bigint; srcIdentity: number; dstIdentity: number; ifindex: number; epId: number;
  family: Family; saddr: string; daddr: string; sport: number; dport: number; protocol: number;
  verdict: number; dropReason: number; direction: Direction; tcpFlags: number; ctState: number;
  icmpType: number; len: number;
}
export const flowEventCodec: Codec<FlowEvent> = {
  layout: {
    cName: 'flow_event', size: 72,
    fields: [
      { name: 'timestamp', offset: 0, size: 8 }, { name: 'src_identity', offset: 8, size: 4 },
      { name: 'dst_identity', offset: 12, size: 4 }, { name: 'ifindex', offset: 16, size: 4 },
      { name: 'ep_id', offset: 20, size: 4 }, { name: 'saddr', offset: 24, size: 16 },
      { name: 'daddr', offset: 40, size: 16 }, { name: 'sport', offset: 56, size: 2 },
      { name: 'dport', offset: 58, size: 2 }, { name: 'family', offset: 60, size: 1 },
      { name: 'protocol', offset: 61, size: 1 }, { name: 'verdict', offset: 62, size: 1 },
      { name: 'drop_reason', offset: 63, size: 1 }, { name: 'direction', offset: 64, size: 1 },
      { name: 'tcp_flags', offset: 65, size: 1 }, { name: 'ct_state', offset: 66, size: 1 },
      { name: 'icmp_type', offset: 67, size: 1 }, { name: 'len', offset: 68, size: 4 },
    ],
  },
  encode(v) {
    const b = Buffer.alloc(72);
    b.writeBigUInt64LE(v.timestamp, 0); b.writeUInt32LE(v.srcIdentity, 8); b.writeUInt32LE(v.dstIdentity, 12);
    b.writeUInt32LE(v.ifindex, 16); b.writeUInt32LE(v.epId, 20);
    ipToBytes(v.saddr).copy(b, 24); ipToBytes(v.daddr).copy(b, 40);
    b.writeUInt16BE(v.sport, 56); b.writeUInt16BE(v.dport, 58); b.writeUInt8(familyTag(v.family), 60);
    b.writeUInt8(v.protocol, 61); b.writeUInt8(v.verdict, 62); b.writeUInt8(v.dropReason, 63);
    b.writeUInt8(dirToNum(v.direction), 64); b.writeUInt8(v.tcpFlags, 65); b.writeUInt8(v.ctState, 66);
    b.writeUInt8(v.icmpType, 67); b.writeUInt32LE(v.len, 68);
    return b;
  },
  decode(b) {
    checkSize(b, this.layout);
    const family = tagFamily(b.readUInt8(60));
    const n = family === 4 ? 4 : 16;
    return {
      timestamp: b.readBigUInt64LE(0), srcIdentity: b.readUInt32LE(8), dstIdentity: b.readUInt32LE(12),
      ifindex: b.readUInt32LE(16), epId: b.readUInt32LE(20), family,
      saddr: bytesToIp(b.subarray(24, 24 + n), family), daddr: bytesToIp(b.subarray(40, 40 + n), family),
      sport: b.readUInt16BE(56), dport: b.readUInt16BE(58), protocol: b.readUInt8(61), verdict: b.readUInt8(62),
      dropReason: b.readUInt8(63), direction: numToDir(b.readUInt8(64)), tcpFlags: b.readUInt8(65),
      ctState: b.readUInt8(66), icmpType: b.readUInt8(67), len: b.readUInt32LE(68),
    };
  },
};

export const allCodecs: ReadonlyArray<Codec<never>> = [
  endpointInfoCodec, endpointKeyCodec, ipcacheKeyCodec, remoteEndpointInfoCodec, ctKeyCodec, ctEntryCodec, policyKeyCodec,
  policyEntryCodec, metricsKeyCodec, metricsValueCodec, flowEventCodec,
] as unknown as ReadonlyArray<Codec<never>>;
