// The table's one total order, so the same input always yields the same list and the diff upstream
// only sees real changes: IPv4 before IPv6, addresses numerically, then port, protocol, scope.
import { parseAddr } from '../lib/ip.ts';
import type { Backend, Frontend, FrontendScope, L4Proto } from './types.ts';

const PROTO_ORDER: Record<L4Proto, number> = { TCP: 0, UDP: 1, SCTP: 2 };
const SCOPE_ORDER: Record<FrontendScope, number> = { external: 0, internal: 1 };

export function compareAddress(a: string, b: string): number {
  const x = parseAddr(a);
  const y = parseAddr(b);
  if (!x || !y) return a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  return x.value < y.value ? -1 : x.value > y.value ? 1 : 0;
}

function compareL4(a: { address: string; port: number; protocol: L4Proto }, b: typeof a): number {
  return compareAddress(a.address, b.address) || a.port - b.port || PROTO_ORDER[a.protocol] - PROTO_ORDER[b.protocol];
}

export function compareFrontend(a: Frontend, b: Frontend): number {
  return compareL4(a, b) || SCOPE_ORDER[a.scope] - SCOPE_ORDER[b.scope];
}

export function compareBackend(a: Backend, b: Backend): number {
  return compareL4(a, b);
}

interface L4Key {
  address: string;
  port: number;
  protocol: L4Proto;
  scope?: FrontendScope;
}

/** Sorts by compareFrontend / compareBackend, parsing each address once (the table sorts tens of thousands). */
export function sortByL4<T>(items: readonly T[], keyOf: (t: T) => L4Key): T[] {
  const keyed = items.map((item) => {
    const k = keyOf(item);
    const a = parseAddr(k.address);
    return { item, k, family: a?.family ?? 0, value: a?.value ?? 0n };
  });
  keyed.sort(
    (x, y) =>
      x.family - y.family ||
      (x.value < y.value ? -1 : x.value > y.value ? 1 : 0) ||
      (x.k.address < y.k.address ? -1 : x.k.address > y.k.address ? 1 : 0) ||
      x.k.port - y.k.port ||
      PROTO_ORDER[x.k.protocol] - PROTO_ORDER[y.k.protocol] ||
      SCOPE_ORDER[x.k.scope ?? 'external'] - SCOPE_ORDER[y.k.scope ?? 'external'],
  );
  return keyed.map((k) => k.item);
}
