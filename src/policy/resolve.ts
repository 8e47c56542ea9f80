// Resolution: rules × identities → each endpoint's L4 policy specs (peer identity, direction,
// protocol, port range, allow or deny), with the rules behind every spec. The datapath turns them
// into cilium_policy map entries (src/datapath/policy-encoding.ts); `evaluate` replays the
// datapath's lookup (bpf/lib/policy.h) over them so that explanations and the kernel agree.
//
// Semantics (Cilium's, per endpoint and direction):
// - enforcement: mode never → off; always → on; default → on when a rule selecting the endpoint
//   has entries for that direction. If none of those rules keeps default deny
//   (enableDefaultDeny: false on all of them), a wildcard allow is added: they only add denials.
// - an entry's peers × its ports give allow (or deny) keys; no peers but ports → identity 0;
//   no ports → protocol 0 (every protocol, ICMP included).
// - deny beats allow whatever the specificity; allow keys a deny key covers are dropped.
// - CIDR peers select the CIDR identities (labels cidr:<prefix>) inside the prefix and outside
//   every except, and the world identities for a /0. They do not select pods (pods' /32 ipcache
//   entries carry their own identities), except for Kubernetes ipBlock peers (matchPods).

import { canonical, containsAddr, containsPrefix, parseAddr, type Prefix } from '../lib/ip.ts';
import {
  DEFAULT_CLUSTER_NAME,
  DIRECTIONS,
  MAX_PORT,
  PodNamespaceLabel,
  protocolNumber,
  ReservedIdentity,
  type Direction,
  type EnforcementModeName,
} from './api/index.ts';
import { namedPortProtocolMatches, portRange, rangeCovers, type PortRange } from './l4.ts';
import { cidrOfLabels, fromKubernetesLabels, type LabelSet } from './labels.ts';
import type { NormalizedRule, Peer, PolicyRef, RuleEntry, RuleRef } from './rules.ts';
import { compileSelector, selects, type CompiledSelector } from './selector.ts';

export interface NamedPort {
  name: string;
  port: number;
  /** TCP (default), UDP or SCTP */
  protocol?: string;
}

export interface PolicyEndpoint {
  /** the endpoint id (the policy map's key); unique among the endpoints given */
  id: number;
  identity: number;
  ips?: readonly string[];
  /** container ports with a name, for named-port rules */
  namedPorts?: readonly NamedPort[];
  /** false: an endpoint of another node, known for ipBlock and named ports but not computed */
  local?: boolean;
  /** the node's host endpoint: only rules with nodeSelector (host policies) select it */
  host?: boolean;
  /** labels of the node, for nodeSelector rules (host endpoints only) */
  nodeLabels?: Readonly<Record<string, string>>;
}

export interface PolicyNode {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** the identity traffic from/to this node has: host (1) for the local node, else remote-node (6) */
  identity: number;
}

export interface PolicyServiceInfo {
  namespace: string;
  name: string;
  labels?: Readonly<Record<string, string>>;
  /** the pod selector; services without one select no pods */
  selector?: Readonly<Record<string, string>> | null;
}

export interface ResolveOptions {
  enforcementMode?: EnforcementModeName;
  /** allow ingress from the local host (kubelet probes), Cilium's allow-localhost; default true */
  allowLocalhost?: boolean;
  clusterName?: string;
}

export interface ResolveInput extends ResolveOptions {
  rules: readonly NormalizedRule[];
  /** every identity, reserved and CIDR ones included (see reservedIdentities, cidrIdentityLabels) */
  identities: ReadonlyMap<number, LabelSet>;
  /** endpoints of the cluster; the policy is computed for the local ones */
  endpoints: readonly PolicyEndpoint[];
  nodes?: readonly PolicyNode[];
  services?: readonly PolicyServiceInfo[];
}

/**
 * One L4 decision of an endpoint: traffic in `direction` with peer `identity` (0: every peer) over
 * `protocol` (0: every protocol, then every port) to ports `port`..`endPort` (ICMP: types) is
 * allowed or denied. The datapath encodes it as policy map keys (src/datapath/policy-encoding.ts).
 */
export interface L4PolicySpec extends PortRange {
  identity: number;
  direction: Direction;
  deny: boolean;
  /** the rule entries that produced it (for a deny: the deny rules only) */
  rules: RuleRef[];
}

/** A spec without its verdict and rules: what the resolver merges on. */
export type L4Selector = Omit<L4PolicySpec, 'deny' | 'rules'>;

export interface EndpointPolicy {
  endpointId: number;
  identity: number;
  enforceIngress: boolean;
  enforceEgress: boolean;
  /** sorted by direction, identity, protocol, port, end port */
  specs: L4PolicySpec[];
  /** the policies whose rules select this endpoint and put it into default deny, per direction */
  selectedBy: { ingress: PolicyRef[]; egress: PolicyRef[] };
}

const implicitRef = (name: string, section: Direction): RuleRef => ({
  kind: 'Implicit',
  name,
  rule: '',
  section,
  index: 0,
  labels: [],
});
export const ALLOW_LOCALHOST_REF: RuleRef = implicitRef('allow-localhost', 'ingress');
export const DEFAULT_ALLOW_REF: Readonly<Record<Direction, RuleRef>> = {
  ingress: implicitRef('default-allow', 'ingress'),
  egress: implicitRef('default-allow', 'egress'),
};

const WORLD_V4: readonly number[] = [ReservedIdentity.WORLD, ReservedIdentity.WORLD_IPV4];
const WORLD_V6: readonly number[] = [ReservedIdentity.WORLD, ReservedIdentity.WORLD_IPV6];

function selectorString(s: L4Selector): string {
  return `${s.direction}/${s.identity}/${s.protocol}/${s.port}/${s.endPort}`;
}

function compareSpecs(a: L4Selector, b: L4Selector): number {
  if (a.direction !== b.direction) return a.direction === 'ingress' ? -1 : 1;
  return a.identity - b.identity || a.protocol - b.protocol || a.port - b.port || a.endPort - b.endPort;
}

/** Whether a spec matches a packet's (protocol, port), as the datapath's lookup does. */
export function specMatches(s: PortRange, protocol: number, port: number): boolean {
  return rangeCovers(s, { protocol, port, endPort: port });
}

const EVERY_PORT = { protocol: 0, port: 0, endPort: MAX_PORT } as const;

/**
 * The resolver: holds the world (identities, endpoints, nodes, services) and caches what each
 * peer selects. The engine keeps one and tells it what changed; resolvePolicy makes a fresh one.
 */
export class Resolver {
  readonly identities = new Map<number, LabelSet>();
  readonly endpoints = new Map<number, PolicyEndpoint>();
  readonly nodes = new Map<string, PolicyNode & { set: LabelSet }>();
  readonly services = new Map<string, PolicyServiceInfo>();
  options: Required<ResolveOptions>;

  private readonly peerCache = new Map<Peer, Set<number>>();
  private cidrIdentities: Map<number, Prefix> | undefined;
  private namedPortIndex: Map<number, NamedPort[]> | undefined;

  constructor(options: ResolveOptions = {}) {
    this.options = {
      enforcementMode: options.enforcementMode ?? 'default',
      allowLocalhost: options.allowLocalhost ?? true,
      clusterName: options.clusterName ?? DEFAULT_CLUSTER_NAME,
    };
  }

  // --- world updates (callers say what changed; caches follow) ---

  setIdentity(id: number, labels: LabelSet | undefined): void {
    const before = this.identities.get(id);
    if (labels) this.identities.set(id, labels);
    else this.identities.delete(id);
    if ((before && cidrOfLabels(before)) || (labels && cidrOfLabels(labels))) this.cidrIdentities = undefined;
    // Peers that select by identity labels follow the change in place.
    for (const [peer, set] of this.peerCache) {
      if (peer.kind === 'cidr' && peer.matchPods) this.peerCache.delete(peer);
      else if (peer.kind === 'selector' || peer.kind === 'cidr' || peer.kind === 'service') {
        if (labels && this.peerSelectsIdentity(peer, id, labels)) set.add(id);
        else set.delete(id);
      }
    }
  }

  setEndpoint(id: number, ep: PolicyEndpoint | undefined): void {
    if (ep) this.endpoints.set(id, ep);
    else this.endpoints.delete(id);
    this.namedPortIndex = undefined;
    for (const peer of this.peerCache.keys()) if (peer.kind === 'cidr' && peer.matchPods) this.peerCache.delete(peer);
  }

  setNode(name: string, node: PolicyNode | undefined): void {
    if (node) this.nodes.set(name, { ...node, set: fromKubernetesLabels(node.labels) });
    else this.nodes.delete(name);
    for (const peer of this.peerCache.keys()) if (peer.kind === 'nodes') this.peerCache.delete(peer);
  }

  setService(namespace: string, name: string, svc: PolicyServiceInfo | undefined): void {
    const k = `${namespace}/${name}`;
    if (svc) this.services.set(k, svc);
    else this.services.delete(k);
    for (const peer of this.peerCache.keys()) if (peer.kind === 'service') this.peerCache.delete(peer);
  }

  /** Forgets what the peers of removed rules selected. */
  forgetPeers(rule: NormalizedRule): void {
    for (const e of rule.entries) for (const p of e.peers) this.peerCache.delete(p);
  }

  // --- selection ---

  labelsOf(identity: number): LabelSet {
    return this.identities.get(identity) ?? {};
  }

  /** Whether the rule applies to the endpoint. */
  subjectSelects(rule: NormalizedRule, ep: PolicyEndpoint): boolean {
    if (rule.subject.kind === 'nodes')
      return !!ep.host && selects(rule.subject.selector, fromKubernetesLabels(ep.nodeLabels));
    return !ep.host && selects(rule.subject.selector, this.labelsOf(ep.identity));
  }

  /** Whether a peer selects identity `id` if it has these labels (for change tracking). */
  peerSelectsIdentity(peer: Peer, id: number, labels: LabelSet): boolean {
    switch (peer.kind) {
      case 'selector':
        return id !== 0 && selects(peer.selector, labels);
      case 'cidr': {
        if (peer.prefix.bits === 0 && (peer.prefix.addr.family === 4 ? WORLD_V4 : WORLD_V6).includes(id)) return true;
        const p = cidrOfLabels(labels);
        return !!p && this.cidrSelects(peer, p);
      }
      case 'service':
        return id !== 0 && this.serviceSelectors(peer).some((s) => selects(s, labels));
      default:
        return false;
    }
  }

  /** The identities a peer selects; 0 stands for every identity. */
  peerIdentities(peer: Peer): ReadonlySet<number> {
    let set = this.peerCache.get(peer);
    if (!set) {
      set = this.computePeer(peer);
      this.peerCache.set(peer, set);
    }
    return set;
  }

  private computePeer(peer: Peer): Set<number> {
    const out = new Set<number>();
    switch (peer.kind) {
      case 'all':
        out.add(0);
        break;
      case 'selector':
        for (const [id, labels] of this.identities) if (id !== 0 && selects(peer.selector, labels)) out.add(id);
        break;
      case 'nodes':
        for (const n of this.nodes.values()) if (selects(peer.selector, n.set)) out.add(n.identity);
        break;
      case 'cidr':
        if (peer.prefix.bits === 0) for (const id of peer.prefix.addr.family === 4 ? WORLD_V4 : WORLD_V6) out.add(id);
        for (const [id, p] of this.cidrIndex()) if (this.cidrSelects(peer, p)) out.add(id);
        if (peer.matchPods) {
          for (const ep of this.endpoints.values()) {
            if ((ep.ips ?? []).some((ip) => this.cidrContainsIp(peer, ip))) out.add(ep.identity);
          }
        }
        break;
      case 'service':
        for (const sel of this.serviceSelectors(peer)) {
          for (const [id, labels] of this.identities) if (id !== 0 && selects(sel, labels)) out.add(id);
        }
        break;
    }
    return out;
  }

  private cidrIndex(): Map<number, Prefix> {
    if (!this.cidrIdentities) {
      this.cidrIdentities = new Map();
      for (const [id, labels] of this.identities) {
        const p = cidrOfLabels(labels);
        if (p) this.cidrIdentities.set(id, p);
      }
    }
    return this.cidrIdentities;
  }

  private cidrSelects(peer: Extract<Peer, { kind: 'cidr' }>, p: Prefix): boolean {
    return containsPrefix(peer.prefix, p) && !peer.except.some((x) => containsPrefix(x, p));
  }

  private cidrContainsIp(peer: Extract<Peer, { kind: 'cidr' }>, ip: string): boolean {
    const a = parseAddr(ip);
    return !!a && containsAddr(peer.prefix, a) && !peer.except.some((x) => containsAddr(x, a));
  }

  /** Pod selectors of the services a service peer names. */
  private serviceSelectors(peer: Extract<Peer, { kind: 'service' }>): CompiledSelector[] {
    const out: CompiledSelector[] = [];
    for (const svc of this.services.values()) {
      if (peer.namespace !== undefined && svc.namespace !== peer.namespace) continue;
      if (peer.name !== undefined && svc.name !== peer.name) continue;
      if (peer.selector && !selects(peer.selector, fromKubernetesLabels(svc.labels))) continue;
      if (!svc.selector || Object.keys(svc.selector).length === 0) continue;
      const matchLabels: Record<string, string> = {};
      for (const [k, v] of Object.entries(svc.selector)) matchLabels[`k8s:${k}`] = v;
      matchLabels[`k8s:${PodNamespaceLabel}`] = svc.namespace;
      out.push(compileSelector({ matchLabels }));
    }
    return out;
  }

  /** Named ports of the endpoints of an identity (0: of every endpoint). */
  namedPortsOf(identity: number): readonly NamedPort[] {
    if (!this.namedPortIndex) {
      const idx = new Map<number, NamedPort[]>();
      const all: NamedPort[] = [];
      for (const ep of this.endpoints.values()) {
        for (const np of ep.namedPorts ?? []) {
          let list = idx.get(ep.identity);
          if (!list) idx.set(ep.identity, (list = []));
          list.push(np);
          all.push(np);
        }
      }
      idx.set(0, all);
      this.namedPortIndex = idx;
    }
    return this.namedPortIndex.get(identity) ?? [];
  }

  // --- resolution ---

  /** The desired policy of one endpoint under the given rules. */
  resolveEndpoint(ep: PolicyEndpoint, rules: Iterable<NormalizedRule>): EndpointPolicy {
    const selecting: NormalizedRule[] = [];
    for (const r of rules) if (this.subjectSelects(r, ep)) selecting.push(r);
    const mode = this.options.enforcementMode;
    // Only policies that keep default deny explain a default-denied flow (enableDefaultDeny false only adds denials).
    const selectedBy = {
      ingress: uniquePolicies(selecting.filter((r) => r.ingress && r.defaultDeny.ingress)),
      egress: uniquePolicies(selecting.filter((r) => r.egress && r.defaultDeny.egress)),
    };
    const base = { endpointId: ep.id, identity: ep.identity, selectedBy };
    if (mode === 'never') return { ...base, enforceIngress: false, enforceEgress: false, specs: [] };

    const acc = new Map<string, L4PolicySpec>();
    const put = (sel: L4Selector, deny: boolean, ref: RuleRef): void => {
      const ks = selectorString(sel);
      const cur = acc.get(ks);
      if (!cur || (deny && !cur.deny)) acc.set(ks, { ...sel, deny, rules: [ref] });
      else if (cur.deny === deny && !cur.rules.includes(ref)) cur.rules.push(ref);
    };
    for (const r of selecting) for (const e of r.entries) this.entryKeys(e, ep, put);

    const enforce: Record<Direction, boolean> = { ingress: mode === 'always', egress: mode === 'always' };
    for (const dir of DIRECTIONS) {
      const withDir = selecting.filter((r) => r[dir]);
      if (withDir.length > 0) enforce[dir] = true;
      if (withDir.length > 0 && !withDir.some((r) => r.defaultDeny[dir])) {
        put({ identity: 0, direction: dir, ...EVERY_PORT }, false, DEFAULT_ALLOW_REF[dir]);
      }
    }
    if (enforce.ingress && this.options.allowLocalhost && !ep.host) {
      put({ identity: ReservedIdentity.HOST, direction: 'ingress', ...EVERY_PORT }, false, ALLOW_LOCALHOST_REF);
    }
    const specs = pruneCovered([...acc.values()]).sort(compareSpecs);
    return { ...base, enforceIngress: enforce.ingress, enforceEgress: enforce.egress, specs };
  }

  private entryKeys(e: RuleEntry, ep: PolicyEndpoint, put: (s: L4Selector, deny: boolean, ref: RuleRef) => void): void {
    if (e.peers.length === 0) return;
    const ids = new Set<number>();
    for (const p of e.peers) for (const id of this.peerIdentities(p)) ids.add(id);
    if (ids.size === 0) return;
    const emit = (identity: number, range: PortRange): void =>
      put({ identity, direction: e.direction, ...range }, e.deny, e.ref);
    if (e.l4.kind === 'any') {
      for (const id of ids) emit(id, EVERY_PORT);
      return;
    }
    for (const ps of e.l4.ports) {
      if (!('name' in ps)) {
        const range = portRange(ps.protocol, ps.port, ps.endPort, ps.exact);
        for (const id of ids) emit(id, range);
        continue;
      }
      const matching = (list: readonly NamedPort[]): NamedPort[] =>
        list.filter((np) => np.name.toLowerCase() === ps.name && namedPortProtocolMatches(ps.protocol, np.protocol));
      if (e.direction === 'ingress') {
        // Ingress: the name is one of the selected endpoint's own ports.
        for (const np of matching(ep.namedPorts ?? [])) for (const id of ids) emit(id, portRange(ps.protocol, np.port));
      } else {
        // Egress: the name is resolved on each peer's endpoints.
        for (const id of ids)
          for (const np of matching(this.namedPortsOf(id))) emit(id, portRange(ps.protocol, np.port));
      }
    }
  }
}

function uniquePolicies(rules: NormalizedRule[]): PolicyRef[] {
  const seen = new Map<string, PolicyRef>();
  for (const r of rules) seen.set(`${r.policy.kind}/${r.policy.namespace ?? ''}/${r.policy.name}`, r.policy);
  return [...seen.values()];
}

/** Drops allow specs that a deny spec of the same direction and identity (or identity 0) covers. */
function pruneCovered(list: L4PolicySpec[]): L4PolicySpec[] {
  const denies = new Map<string, L4PolicySpec[]>();
  for (const x of list) {
    if (!x.deny) continue;
    const k = `${x.direction}/${x.identity}`;
    let l = denies.get(k);
    if (!l) denies.set(k, (l = []));
    l.push(x);
  }
  if (denies.size === 0) return list;
  return list.filter((x) => {
    if (x.deny) return true;
    const cands = [
      ...(denies.get(`${x.direction}/${x.identity}`) ?? []),
      ...(x.identity !== 0 ? (denies.get(`${x.direction}/0`) ?? []) : []),
    ];
    return !cands.some((d) => rangeCovers(d, x));
  });
}

/** Resolves every local endpoint's policy in one go. */
export function resolvePolicy(input: ResolveInput): Map<number, EndpointPolicy> {
  const r = new Resolver(input);
  for (const [id, labels] of input.identities) r.identities.set(id, labels);
  for (const ep of input.endpoints) r.endpoints.set(ep.id, ep);
  for (const n of input.nodes ?? []) r.setNode(n.name, n);
  for (const s of input.services ?? []) r.services.set(`${s.namespace}/${s.name}`, s);
  const out = new Map<number, EndpointPolicy>();
  for (const ep of input.endpoints) if (ep.local !== false) out.set(ep.id, r.resolveEndpoint(ep, input.rules));
  return out;
}

/** CIDR prefixes the rules name (peers and excepts, /0 excluded: that is world): allocate an
 * identity with cidrIdentityLabels for each and put them in the ipcache. */
export function requiredCidrPrefixes(rules: Iterable<NormalizedRule>): string[] {
  const out = new Set<string>();
  for (const r of rules) {
    for (const e of r.entries) {
      for (const p of e.peers) {
        if (p.kind !== 'cidr') continue;
        if (p.prefix.bits > 0) out.add(canonical(p.prefix));
        for (const x of p.except) out.add(canonical(x));
      }
    }
  }
  return [...out].sort();
}

// --- evaluation (the datapath's lookup, with reasons) -----------------------------------------

export type Verdict = 'allowed' | 'denied' | 'default-denied' | 'no-enforcement';

export interface Decision {
  verdict: Verdict;
  /** the rules behind the deciding entries (denies for denied, allows for allowed) */
  rules: RuleRef[];
  /** the specs that matched */
  matched: L4PolicySpec[];
  /** for default-denied: the policies that turned enforcement on (empty in mode always) */
  policies: PolicyRef[];
}

/**
 * The verdict the datapath reaches for a packet of `protocol` to `port` (ICMP: the type) with peer
 * `peerIdentity` in `direction` of the endpoint: any matching deny (peer or wildcard identity)
 * drops, else any matching allow forwards, else default deny — when enforcement is on.
 */
export function evaluate(
  policy: EndpointPolicy,
  direction: Direction,
  peerIdentity: number,
  protocol: number | string,
  port: number,
): Decision {
  const enforced = direction === 'ingress' ? policy.enforceIngress : policy.enforceEgress;
  if (!enforced) return { verdict: 'no-enforcement', rules: [], matched: [], policies: [] };
  const proto = protocolNumber(protocol) ?? -1;
  const matched = policy.specs.filter(
    (s) =>
      s.direction === direction && (s.identity === peerIdentity || s.identity === 0) && specMatches(s, proto, port),
  );
  const denies = matched.filter((s) => s.deny);
  if (denies.length > 0) return { verdict: 'denied', rules: uniqueRefs(denies), matched: denies, policies: [] };
  if (matched.length > 0) return { verdict: 'allowed', rules: uniqueRefs(matched), matched, policies: [] };
  return { verdict: 'default-denied', rules: [], matched: [], policies: policy.selectedBy[direction] };
}

function uniqueRefs(entries: L4PolicySpec[]): RuleRef[] {
  const out: RuleRef[] = [];
  for (const e of entries) for (const r of e.rules) if (!out.includes(r)) out.push(r);
  return out;
}
