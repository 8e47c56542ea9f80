// IPv4/IPv6 addresses as bigint, parsed and printed the way Go's net/netip does, because Cilium
// and Kubernetes write these strings into objects and we must produce byte-identical ones:
// no leading zeros in IPv4 octets, no zones, IPv4-mapped IPv6 stays IPv6 (printed ::ffff:a.b.c.d),
// IPv6 printed lower-case with the longest run (>= 2) of zero groups compressed, first run on ties.

export type Family = 4 | 6;

export interface IPAddr {
  family: Family;
  value: bigint;
}

export interface Prefix {
  addr: IPAddr;
  bits: number;
}

/** An inclusive range of addresses of one family. */
export interface IPRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export function familyBits(f: Family): number {
  return f === 4 ? 32 : 128;
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p.startsWith('0'))) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (s.includes('%')) return undefined;
  let head = s;
  let tailV4: bigint | undefined;
  const lastColon = s.lastIndexOf(':');
  if (lastColon >= 0 && s.slice(lastColon + 1).includes('.')) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = head.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] => (h === '' ? [] : h.split(':'));
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  const total = left.length + right.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...left, ...new Array<string>(8 - total).fill('0'), ...right];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function parseIP(s: string): IPAddr | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
}

function formatV6(v: bigint): string {
  if (v >> 32n === 0xffffn) return '::ffff:' + formatV4(v & 0xffffffffn);
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (xs: number[]): string => xs.map((x) => x.toString(16)).join(':');
  if (bestLen < 2) return hex(g);
  return hex(g.slice(0, bestStart)) + '::' + hex(g.slice(bestStart + bestLen));
}

export function formatIP(a: IPAddr): string {
  return a.family === 4 ? formatV4(a.value) : formatV6(a.value);
}

export function formatIPValue(family: Family, value: bigint): string {
  return formatIP({ family, value });
}

/** Parses a/len; the address need not be the network address (netip.ParsePrefix accepts that too). */
export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = parseIP(s.slice(0, slash));
  const bitsStr = s.slice(slash + 1);
  if (!addr || !/^(0|[1-9][0-9]{0,2})$/.test(bitsStr)) return undefined;
  const bits = Number(bitsStr);
  if (bits > familyBits(addr.family)) return undefined;
  return { addr, bits };
}

function hostMask(family: Family, bits: number): bigint {
  return (1n << BigInt(familyBits(family) - bits)) - 1n;
}

export function maskedPrefix(p: Prefix): Prefix {
  return { addr: { family: p.addr.family, value: p.addr.value & ~hostMask(p.addr.family, p.bits) }, bits: p.bits };
}

export function formatPrefix(p: Prefix): string {
  return `${formatIP(p.addr)}/${p.bits}`;
}

export function prefixRange(p: Prefix): IPRange {
  const m = hostMask(p.addr.family, p.bits);
  const first = p.addr.value & ~m;
  return { family: p.addr.family, first, last: first | m };
}

/** The prefix that covers exactly this range, if there is one. */
export function rangeAsPrefix(r: IPRange): Prefix | undefined {
  const size = r.last - r.first + 1n;
  if (size <= 0n || (size & (size - 1n)) !== 0n || (r.first & (size - 1n)) !== 0n) return undefined;
  let hostBits = 0;
  while (1n << BigInt(hostBits) < size) hostBits++;
  return { addr: { family: r.family, value: r.first }, bits: familyBits(r.family) - hostBits };
}

export function formatRange(r: IPRange): string {
  const p = rangeAsPrefix(r);
  if (p) return formatPrefix(p);
  return `${formatIPValue(r.family, r.first)} - ${formatIPValue(r.family, r.last)}`;
}

export function rangeSize(r: IPRange): bigint {
  return r.last - r.first + 1n;
}

export function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function rangeContains(r: IPRange, a: IPAddr): boolean {
  return r.family === a.family && r.first <= a.value && a.value <= r.last;
}

export function compareIP(a: IPAddr, b: IPAddr): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

/** Canonical string of an address string, or undefined if it does not parse. */
export function canonicalIP(s: string): string | undefined {
  const a = parseIP(s);
  return a ? formatIP(a) : undefined;
}
