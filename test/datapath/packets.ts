// Hand-built packets for BPF_PROG_TEST_RUN: Ethernet + IPv4/IPv6 + TCP/UDP/ICMP/ICMPv6.
// Checksums are left zero: the programs under test do not validate them.
import { ipToBytes } from '../../src/datapath/ip.ts';

export const TCP_FIN = 0x01,
  TCP_SYN = 0x02,
  TCP_RST = 0x04,
  TCP_PSH = 0x08,
  TCP_ACK = 0x10;

const MAC_A = Buffer.from([0x02, 0, 0, 0, 0, 0xa]);
const MAC_B = Buffer.from([0x02, 0, 0, 0, 0, 0xb]);

export function eth(type: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(14);
  MAC_B.copy(h, 0);
  MAC_A.copy(h, 6);
  h.writeUInt16BE(type, 12);
  return Buffer.concat([h, payload]);
}

export function ipv4(
  src: string,
  dst: string,
  proto: number,
  l4: Buffer,
  opts: { fragOffset?: number; moreFragments?: boolean; ihl?: number; ttl?: number } = {},
): Buffer {
  const ihl = opts.ihl ?? 5;
  const h = Buffer.alloc(Math.max(ihl, 5) * 4);
  h[0] = 0x40 | (ihl & 0xf);
  h.writeUInt16BE(h.length + l4.length, 2);
  h.writeUInt16BE((opts.moreFragments ? 0x2000 : 0) | ((opts.fragOffset ?? 0) & 0x1fff), 6);
  h[8] = opts.ttl ?? 64;
  h[9] = proto;
  ipToBytes(src).copy(h, 12);
  ipToBytes(dst).copy(h, 16);
  h.writeUInt16BE(ipv4Checksum(h), 10);
  return Buffer.concat([h, l4]);
}

/** Internet checksum of an IPv4 header (0 when the header, checksum included, is valid). */
export function ipv4Checksum(header: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < header.length; i += 2) sum += header.readUInt16BE(i);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export function ipv6(src: string, dst: string, nexthdr: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(40);
  h[0] = 0x60;
  h.writeUInt16BE(l4.length, 4);
  h[6] = nexthdr;
  h[7] = 64;
  ipToBytes(src).copy(h, 8);
  ipToBytes(dst).copy(h, 24);
  return Buffer.concat([h, l4]);
}

export function tcp(sport: number, dport: number, flags: number): Buffer {
  const h = Buffer.alloc(20);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt32BE(1000, 4);
  h[12] = 5 << 4;
  h[13] = flags;
  h.writeUInt16BE(65535, 14);
  return h;
}

export function udp(sport: number, dport: number, payload = Buffer.alloc(8)): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16BE(sport, 0);
  h.writeUInt16BE(dport, 2);
  h.writeUInt16BE(8 + payload.length, 4);
  return Buffer.concat([h, payload]);
}

export function icmp(type: number, code: number, rest: Buffer | { id: number; seq: number }): Buffer {
  const h = Buffer.alloc(8);
  h[0] = type;
  h[1] = code;
  if (Buffer.isBuffer(rest)) return Buffer.concat([h, rest]);
  h.writeUInt16BE(rest.id, 4);
  h.writeUInt16BE(rest.seq, 6);
  return h;
}

/** ICMPv6 has the same 8-byte header layout as ICMP for echo and errors. */
export const icmp6 = icmp;

export const tcp4 = (src: string, dst: string, sport: number, dport: number, flags = TCP_SYN): Buffer =>
  eth(0x0800, ipv4(src, dst, 6, tcp(sport, dport, flags)));
export const udp4 = (src: string, dst: string, sport: number, dport: number): Buffer =>
  eth(0x0800, ipv4(src, dst, 17, udp(sport, dport)));
export const tcp6 = (src: string, dst: string, sport: number, dport: number, flags = TCP_SYN): Buffer =>
  eth(0x86dd, ipv6(src, dst, 6, tcp(sport, dport, flags)));
export const echo4 = (src: string, dst: string, id: number, reply = false): Buffer =>
  eth(0x0800, ipv4(src, dst, 1, icmp(reply ? 0 : 8, 0, { id, seq: 1 })));
export const echo6 = (src: string, dst: string, id: number, reply = false): Buffer =>
  eth(0x86dd, ipv6(src, dst, 58, icmp6(reply ? 129 : 128, 0, { id, seq: 1 })));

/** ICMP destination unreachable about `about` (an IPv4 packet without its Ethernet header). */
export const unreach4 = (src: string, dst: string, about: Buffer): Buffer =>
  eth(0x0800, ipv4(src, dst, 1, icmp(3, 3, about.subarray(0, 28))));
