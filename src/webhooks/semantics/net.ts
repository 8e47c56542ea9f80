// IP addresses and prefixes parsed the way Go's net/netip does (Cilium parses policy CIDRs and
// LB-IPAM blocks with netip.ParsePrefix / netip.ParseAddr): no leading zeros in IPv4 octets or in
// the prefix length, no zones in prefixes, IPv4-mapped IPv6 addresses count as IPv6.

export type Family = 4 | 6;

export interface Addr {
  family: Family;
  value: bigint;
}

export interface Prefix {
  addr: Addr;
  bits: number;
}

export function familyName(f: Family): string {
  return f === 4 ? 'IPv4' : 'IPv6';
}

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    if (!/^[0-9]{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
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
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const left = groups(halves[0] ?? '');
  const right = halves.length === 2 ? groups(halves[1] ?? '') : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...left, ...Array(8 - total).fill('0'), ...right];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tailV4 !== undefined) v = (v & ~0xffffffffn) | tailV4;
  return v;
}

export function parseAddr(s: string): Addr | undefined {
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function parsePrefix(s: string): Prefix | undefined {
  const slash = s.lastIndexOf('/');
  if (slash < 0) return undefined;
  const addr = parseAddr(s.slice(0, slash));
  const bitsStr = s.slice(slash + 1);
  if (!addr || !/^(0|[1-9][0-9]{0,2})$/.test(bitsStr)) return undefined;
  const bits = Number(bitsStr);
  if (bits > width(addr.family)) return undefined;
  return { addr, bits };
}

export function width(f: Family): number {
  return f === 4 ? 32 : 128;
}

function mask(f: Family, bits: number): bigint {
  const w = BigInt(width(f));
  return ((1n << w) - 1n) ^ ((1n << (w - BigInt(bits))) - 1n);
}

export function first(p: Prefix): bigint {
  return p.addr.value & mask(p.addr.family, p.bits);
}

export function last(p: Prefix): bigint {
  return first(p) | ((1n << BigInt(width(p.addr.family) - p.bits)) - 1n);
}

export function isCanonical(p: Prefix): boolean {
  return first(p) === p.addr.value;
}

export function formatAddr(family: Family, v: bigint): string {
  if (family === 4) return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join('.');
  const groups = Array.from({ length: 8 }, (_, i) => ((v >> BigInt(112 - 16 * i)) & 0xffffn).toString(16));
  // Compress the longest run of zero groups (at least two), as RFC 5952 asks.
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== '0') {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

/** The prefix with host bits cleared, e.g. 10.1.2.3/8 → 10.0.0.0/8. */
export function canonical(p: Prefix): string {
  return `${formatAddr(p.addr.family, first(p))}/${p.bits}`;
}

/** Whether `inner` lies wholly inside `outer` (same family, at least as long, same network bits). */
export function containsPrefix(outer: Prefix, inner: Prefix): boolean {
  if (outer.addr.family !== inner.addr.family || inner.bits < outer.bits) return false;
  return (inner.addr.value & mask(outer.addr.family, outer.bits)) === first(outer);
}

export function containsAddr(outer: Prefix, a: Addr): boolean {
  return outer.addr.family === a.family && (a.value & mask(a.family, outer.bits)) === first(outer);
}
