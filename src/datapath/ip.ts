// Address text <-> the byte form used in map keys (IPv4 in the first 4 bytes of a 16-byte field).
// Parsing and printing are src/lib/ip.ts's (Go netip rules); only the byte layout lives here.
import { familyBits, formatAddr, parseAddr, parsePrefix, type Family } from '../lib/ip.ts';

export type { Family };

function addrOf(text: string) {
  const a = parseAddr(text);
  if (!a) throw new Error(`not an IP address: ${JSON.stringify(text)}`);
  return a;
}

export function familyOf(addr: string): Family {
  return addrOf(addr).family;
}

/** 4 bytes for IPv4, 16 for IPv6, network byte order. */
export function ipToBytes(addr: string): Buffer {
  const a = addrOf(addr);
  const n = familyBits(a.family) / 8;
  const out = Buffer.alloc(n);
  let v = a.value;
  for (let i = n - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
  return out;
}

export function bytesToIp(bytes: Buffer, family: Family): string {
  const n = familyBits(family) / 8;
  let v = 0n;
  for (let i = 0; i < n; i++) v = (v << 8n) | BigInt(bytes[i] ?? 0);
  return formatAddr(family, v);
}

export interface Cidr {
  addr: string;
  prefixLen: number;
  family: Family;
}

/** "a/len", or a bare address as its host prefix. */
export function parseCidr(text: string): Cidr {
  const p = text.includes('/') ? parsePrefix(text) : { addr: addrOf(text), bits: familyBits(addrOf(text).family) };
  if (!p) throw new Error(`not a CIDR: ${JSON.stringify(text)}`);
  return { addr: formatAddr(p.addr.family, p.addr.value), prefixLen: p.bits, family: p.addr.family };
}
