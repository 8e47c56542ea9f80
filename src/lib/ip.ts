// IPv4/IPv6 addresses as bigint, parsed and printed the way Go's net/netip does (ParseAddr,
// ParsePrefix, Addr.String), because Cilium and Kubernetes parse policy CIDRs and LB-IPAM blocks
// with it and write these strings into objects, and we must produce byte-identical ones:
// - no leading zeros in IPv4 octets or in the prefix length;
// - no zones (netip.ParsePrefix rejects them; we reject them in bare addresses too);
// - IPv4-mapped IPv6 stays IPv6 (family 6), printed ::ffff:a.b.c.d;
// - IPv6 printed lower-case with the longest run (>= 2) of zero groups compressed, first run on ties.

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

/** An address and a prefix length; the address need not be the network address. */
export interface Prefix {
  addr: Addr;
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

export function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

// --- parsing ---

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

/** netip.ParseAddr, but without zones. */
export function parseAddr(s: string): Addr | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

/** netip.ParsePrefix: a/len, len decimal without leading zeros; host bits may be set. */
export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = parseAddr(s.slice(0, slash));
  const bitsStr = s.slice(slash + 1);
  if (!addr || !/^(0|[1-9][0-9]{0,2})$/.test(bitsStr)) return undefined;
  const bits = Number(bitsStr);
  if (bits > familyBits(addr.family)) return undefined;
  return { addr, bits };
}

// --- formatting ---

function formatV4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((sh) => String((v >> sh) & 0xffn)).join('.');
}

function formatV6(v: bigint): string {
  if (v >> 32n === 0xffffn) return '::ffff:' + formatV4(v & 0xffffffffn);
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((v >> BigInt(i * 16)) & 0xffffn));
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
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

/** netip.Addr.String of the address `value` of family `family`. */
export function formatAddr(family: Family, value: bigint): string {
  return family === 4 ? formatV4(value) : formatV6(value);
}

/** Canonical string of an address string, or undefined if it does not parse. */
export function canonicalAddr(s: string): string | undefined {
  const a = parseAddr(s);
  return a ? formatAddr(a.family, a.value) : undefined;
}

export function formatPrefix(p: Prefix): string {
  return `${formatAddr(p.addr.family, p.addr.value)}/${p.bits}`;
}

// --- prefixes and ranges ---

function hostMask(family: Family, bits: number): bigint {
  return (1n << BigInt(familyBits(family) - bits)) - 1n;
}

/** The prefix with host bits cleared, e.g. 10.1.2.3/8 → 10.0.0.0/8 (netip.Prefix.Masked). */
export function maskedPrefix(p: Prefix): Prefix {
  return { addr: { family: p.addr.family, value: p.addr.value & ~hostMask(p.addr.family, p.bits) }, bits: p.bits };
}

/** The masked prefix as a string, e.g. 10.1.2.3/8 → "10.0.0.0/8". */
export function canonical(p: Prefix): string {
  return formatPrefix(maskedPrefix(p));
}

/** Whether the prefix has no host bits set. */
export function isCanonical(p: Prefix): boolean {
  return maskedPrefix(p).addr.value === p.addr.value;
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

/** A CIDR when the range is one, else "first - last". */
export function formatRange(r: IPRange): string {
  const p = rangeAsPrefix(r);
  if (p) return formatPrefix(p);
  return `${formatAddr(r.family, r.first)} - ${formatAddr(r.family, r.last)}`;
}

export function rangeSize(r: IPRange): bigint {
  return r.last - r.first + 1n;
}

export function rangesOverlap(a: IPRange, b: IPRange): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

export function rangeContains(r: IPRange, a: Addr): boolean {
  return r.family === a.family && r.first <= a.value && a.value <= r.last;
}

/** Whether `a` lies inside `outer`. */
export function containsAddr(outer: Prefix, a: Addr): boolean {
  return rangeContains(prefixRange(outer), a);
}

/** Whether `inner` lies wholly inside `outer` (same family, at least as long, same network bits). */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  return inner.bits >= outer.bits && containsAddr(outer, inner.addr);
}

export function compareAddr(a: Addr, b: Addr): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}
