// The kernel encoding of an endpoint's resolved policy: the L4 specs src/policy computes become
// the entries of the endpoint's cilium_policy inner map (PolicyKey / PolicyEntry of codecs.ts).
// Every map write and the agent API's /v1/bpf/policy view go through policyMapEntries, so the
// kernel and what the agent reports are one encoding.

import type { EndpointPolicy, L4PolicySpec, RuleRef } from '../policy/index.ts';
import { policyEntryFor, portRangeToPrefixes, type PolicyEntry, type PolicyKey } from './codecs.ts';

export interface PolicyMapEntry {
  key: PolicyKey;
  entry: PolicyEntry;
  /** the rules behind the entry (for a deny: the deny rules only) */
  rules: RuleRef[];
}

/** The (protocol, port, portPrefixLen) parts of a policy key. */
export interface PortKey {
  protocol: number;
  port: number;
  portPrefixLen: number;
}

/**
 * The key parts of a protocol and an inclusive port range: protocol 0 = every protocol and port;
 * the whole range = prefix length 0; a range = aligned prefixes (Cilium's PortRangeToMaskedPorts).
 */
export function portRangeKeys(protocol: number, port: number, endPort: number): PortKey[] {
  if (protocol === 0) return [{ protocol: 0, port: 0, portPrefixLen: 0 }];
  return portRangeToPrefixes(port, Math.min(endPort, 0xffff)).map((r) => ({ protocol, ...r }));
}

/**
 * The key parts of a rule's port (the shape rules give it): port 0 = every port unless `exact`
 * (an ICMP type, where 0 is EchoReply); endPort > port = a range.
 */
export function portKeys(protocol: number, port: number, endPort?: number, exact = false): PortKey[] {
  if (protocol === 0) return portRangeKeys(0, 0, 0xffff);
  if (exact) return portRangeKeys(protocol, port, port);
  if (port === 0) return portRangeKeys(protocol, 0, 0xffff);
  return portRangeKeys(protocol, port, endPort !== undefined && endPort > port ? endPort : port);
}

/** The policy map keys of one spec. */
export function specKeys(s: L4PolicySpec): PolicyKey[] {
  const keys = portRangeKeys(s.protocol, s.port, s.endPort);
  return keys.map((pk) => ({ identity: s.identity, direction: s.direction, ...pk }));
}

/** The map entries of an endpoint's policy, sorted by direction, identity, protocol, port, prefix length. */
export function policyMapEntries(policy: EndpointPolicy | undefined): PolicyMapEntry[] {
  if (!policy) return [];
  const acc = new Map<string, { key: PolicyKey; deny: boolean; rules: RuleRef[] }>();
  // Two specs may share keys (a range and a port inside it): deny wins, rules of one verdict add up.
  const put = (key: PolicyKey, deny: boolean, ref: RuleRef): void => {
    const ks = keyString(key);
    const cur = acc.get(ks);
    if (!cur || (deny && !cur.deny)) acc.set(ks, { key, deny, rules: [ref] });
    else if (cur.deny === deny && !cur.rules.includes(ref)) cur.rules.push(ref);
  };
  for (const s of policy.specs) for (const key of specKeys(s)) for (const ref of s.rules) put(key, s.deny, ref);
  return pruneCovered([...acc.values()])
    .sort((a, b) => compareKeys(a.key, b.key))
    .map((x) => ({ key: x.key, entry: policyEntryFor(x.key, { deny: x.deny }), rules: x.rules }));
}

/** Whether a key matches a packet's (protocol, port), as the datapath's LPM does. */
export function keyMatches(k: PolicyKey, protocol: number, port: number): boolean {
  return portCovers(k, { protocol, port, portPrefixLen: 16 });
}

function keyString(k: PolicyKey): string {
  return `${k.direction}/${k.identity}/${k.protocol}/${k.port}/${k.portPrefixLen}`;
}

function compareKeys(a: PolicyKey, b: PolicyKey): number {
  if (a.direction !== b.direction) return a.direction === 'ingress' ? -1 : 1;
  return a.identity - b.identity || a.protocol - b.protocol || a.port - b.port || a.portPrefixLen - b.portPrefixLen;
}

/** Whether port-part `outer` (protocol 0 = any) covers `inner`. */
function portCovers(outer: PortKey, inner: PortKey): boolean {
  if (outer.protocol === 0) return true;
  if (outer.protocol !== inner.protocol || outer.portPrefixLen > inner.portPrefixLen) return false;
  if (outer.portPrefixLen === 0) return true;
  const shift = 16 - outer.portPrefixLen;
  return outer.port >>> shift === inner.port >>> shift;
}

/**
 * Drops allow keys that a deny key of the same direction and identity (or identity 0) covers: the
 * datapath would deny them anyway, and the map stays small.
 */
function pruneCovered<T extends { key: PolicyKey; deny: boolean }>(list: T[]): T[] {
  const denies = new Map<string, PolicyKey[]>();
  for (const x of list) {
    if (!x.deny) continue;
    const k = `${x.key.direction}/${x.key.identity}`;
    let l = denies.get(k);
    if (!l) denies.set(k, (l = []));
    l.push(x.key);
  }
  if (denies.size === 0) return list;
  return list.filter((x) => {
    if (x.deny) return true;
    const own = denies.get(`${x.key.direction}/${x.key.identity}`) ?? [];
    const wildcard = x.key.identity !== 0 ? (denies.get(`${x.key.direction}/0`) ?? []) : [];
    return ![...own, ...wildcard].some((d) => portCovers(d, x.key));
  });
}
