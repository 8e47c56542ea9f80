// The incremental policy engine: holds policies, identities, endpoints, nodes and services; every
// change returns the ids of the local endpoints whose desired state (enforcement flags or map
// entries) changed, having recomputed only the endpoints the change can affect:
// - a policy: the endpoints its rules select, before and after;
// - an identity: endpoints of that identity, and the subjects of rules with a peer that selects
//   it (with its old or new labels);
// - an endpoint: itself, and — when its addresses, named ports or identity change — the subjects
//   of rules that look at those (ipBlock peers, egress named ports);
// - a node / service: the subjects of rules with node / service peers (and host endpoints).

import type { CiliumClusterwideNetworkPolicy, CiliumNetworkPolicy } from '../api/types.generated.ts';
import { normalizeNetworkPolicy, type NetworkPolicyLike } from './k8s.ts';
import { reservedIdentities, type LabelSet } from './labels.ts';
import {
  Resolver,
  evaluate,
  requiredCidrPrefixes,
  type Decision,
  type EndpointPolicy,
  type PolicyEndpoint,
  type PolicyNode,
  type PolicyServiceInfo,
  type ResolveOptions,
  type Verdict,
} from './resolve.ts';
import { normalizeCiliumPolicy, policyKey, type NormalizedRule, type PolicyKind, type PolicyRef } from './rules.ts';

export type PolicyObject =
  | (CiliumNetworkPolicy & { kind?: string })
  | (CiliumClusterwideNetworkPolicy & { kind?: string })
  | (NetworkPolicyLike & { kind?: string });

/** The engine's rules of a policy object; `kind` defaults to obj.kind. */
export function rulesOf(obj: PolicyObject, kind?: PolicyKind, opts: { clusterName?: string } = {}): NormalizedRule[] {
  const k = kind ?? obj.kind;
  if (k === 'NetworkPolicy') return [normalizeNetworkPolicy(obj as NetworkPolicyLike)];
  if (k === 'CiliumNetworkPolicy' || k === 'CiliumClusterwideNetworkPolicy') {
    return normalizeCiliumPolicy(obj as CiliumNetworkPolicy, k, opts);
  }
  throw new Error(
    `policy kind ${JSON.stringify(k)} is not one the engine knows: pass kind CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy or NetworkPolicy`,
  );
}

export function refOf(obj: PolicyObject, kind?: PolicyKind): PolicyRef {
  const k = (kind ?? obj.kind) as PolicyKind;
  const name = obj.metadata?.name ?? '';
  if (k === 'CiliumClusterwideNetworkPolicy') return { kind: k, name };
  return { kind: k, namespace: obj.metadata?.namespace ?? 'default', name };
}

export interface DirectionExplanation extends Decision {
  /** the endpoint whose policy was consulted, if it is local */
  endpointId?: number;
}

export interface Explanation {
  verdict: Verdict;
  fromIdentity: number;
  toEndpointId: number;
  protocol: number | string;
  port: number;
  /** the source endpoint's egress policy (no-enforcement when the source is not a local endpoint) */
  egress: DirectionExplanation;
  /** the destination endpoint's ingress policy */
  ingress: DirectionExplanation;
}

export interface EngineOptions extends ResolveOptions {
  /** start with these identities instead of the reserved ones */
  identities?: ReadonlyMap<number, LabelSet>;
}

export class PolicyEngine {
  private readonly resolver: Resolver;
  private readonly policies = new Map<string, { ref: PolicyRef; rules: NormalizedRule[] }>();
  private readonly computed = new Map<number, { policy: EndpointPolicy; fingerprint: string }>();
  /** endpoint recomputations since creation (to check that changes stay local) */
  recomputations = 0;

  constructor(opts: EngineOptions = {}) {
    this.resolver = new Resolver(opts);
    for (const [id, labels] of opts.identities ?? reservedIdentities()) this.resolver.setIdentity(id, labels);
  }

  // --- reading ---

  /** The desired policy of a local endpoint. */
  policyOf(endpointId: number): EndpointPolicy | undefined {
    return this.computed.get(endpointId)?.policy;
  }

  /** Every local endpoint's desired policy. */
  allPolicies(): Map<number, EndpointPolicy> {
    return new Map([...this.computed].map(([id, c]) => [id, c.policy]));
  }

  rules(): NormalizedRule[] {
    return [...this.policies.values()].flatMap((p) => p.rules);
  }

  /** What the rules name but the engine cannot enforce (toFQDNs, toGroups, CIDR groups …). */
  notes(): string[] {
    return this.rules().flatMap((r) =>
      r.notes.map(
        (n) => `${r.policy.kind} ${r.policy.namespace ? `${r.policy.namespace}/` : ''}${r.policy.name}: ${n}`,
      ),
    );
  }

  /** CIDR prefixes that need identities (see requiredCidrPrefixes). */
  requiredCidrPrefixes(): string[] {
    return requiredCidrPrefixes(this.rules());
  }

  identities(): ReadonlyMap<number, LabelSet> {
    return this.resolver.identities;
  }

  // --- changes ---

  upsertPolicy(obj: PolicyObject, kind?: PolicyKind): number[] {
    const ref = refOf(obj, kind);
    const rules = rulesOf(obj, kind, { clusterName: this.resolver.options.clusterName });
    return this.replacePolicy(ref, rules);
  }

  deletePolicy(ref: PolicyRef): number[] {
    return this.replacePolicy(ref, undefined);
  }

  /** Adds or replaces rules under a policy name directly (rules built by the caller). */
  replacePolicy(ref: PolicyRef, rules: NormalizedRule[] | undefined): number[] {
    const key = policyKey(ref);
    const old = this.policies.get(key)?.rules ?? [];
    const candidates = new Set<number>();
    for (const r of [...old, ...(rules ?? [])]) for (const id of this.subjectsOf(r)) candidates.add(id);
    for (const r of old) this.resolver.forgetPeers(r);
    if (rules) this.policies.set(key, { ref, rules });
    else this.policies.delete(key);
    return this.recompute(candidates);
  }

  upsertIdentity(id: number, labels: LabelSet): number[] {
    return this.changeIdentity(id, labels);
  }

  deleteIdentity(id: number): number[] {
    return this.changeIdentity(id, undefined);
  }

  private changeIdentity(id: number, labels: LabelSet | undefined): number[] {
    const before = this.resolver.identities.get(id);
    const candidates = new Set<number>();
    for (const ep of this.localEndpoints()) if (ep.identity === id) candidates.add(ep.id);
    for (const r of this.rules()) {
      const affected = r.entries.some((e) =>
        e.peers.some(
          (p) =>
            (before && this.resolver.peerSelectsIdentity(p, id, before)) ||
            (labels && this.resolver.peerSelectsIdentity(p, id, labels)),
        ),
      );
      if (affected) for (const epId of this.subjectsOf(r)) candidates.add(epId);
    }
    this.resolver.setIdentity(id, labels);
    return this.recompute(candidates);
  }

  upsertEndpoint(ep: PolicyEndpoint): number[] {
    return this.changeEndpoint(ep.id, ep);
  }

  deleteEndpoint(id: number): number[] {
    return this.changeEndpoint(id, undefined);
  }

  private changeEndpoint(id: number, ep: PolicyEndpoint | undefined): number[] {
    const before = this.resolver.endpoints.get(id);
    const candidates = new Set<number>();
    const peerVisible = (e: PolicyEndpoint | undefined): string =>
      e ? JSON.stringify([e.identity, [...(e.ips ?? [])].sort(), e.namedPorts ?? []]) : '';
    if (peerVisible(before) !== peerVisible(ep)) {
      for (const r of this.rules()) {
        const looks = r.entries.some(
          (e) =>
            e.peers.some((p) => p.kind === 'cidr' && p.matchPods) ||
            (e.direction === 'egress' && e.l4.kind === 'ports' && e.l4.ports.some((ps) => 'name' in ps)),
        );
        if (looks) for (const epId of this.subjectsOf(r)) candidates.add(epId);
      }
    }
    this.resolver.setEndpoint(id, ep);
    const changed = new Set<number>();
    if (ep && ep.local !== false) candidates.add(id);
    else if (this.computed.delete(id)) changed.add(id);
    for (const c of this.recompute(candidates)) changed.add(c);
    return [...changed].sort((a, b) => a - b);
  }

  upsertNode(node: PolicyNode): number[] {
    return this.changeNode(node.name, node);
  }

  deleteNode(name: string): number[] {
    return this.changeNode(name, undefined);
  }

  private changeNode(name: string, node: PolicyNode | undefined): number[] {
    const candidates = new Set<number>();
    for (const ep of this.localEndpoints()) if (ep.host) candidates.add(ep.id);
    for (const r of this.rules()) {
      if (r.subject.kind === 'nodes' || r.entries.some((e) => e.peers.some((p) => p.kind === 'nodes'))) {
        for (const id of this.subjectsOf(r)) candidates.add(id);
      }
    }
    this.resolver.setNode(name, node);
    return this.recompute(candidates);
  }

  upsertService(svc: PolicyServiceInfo): number[] {
    return this.changeService(svc.namespace, svc.name, svc);
  }

  deleteService(namespace: string, name: string): number[] {
    return this.changeService(namespace, name, undefined);
  }

  private changeService(namespace: string, name: string, svc: PolicyServiceInfo | undefined): number[] {
    const candidates = new Set<number>();
    for (const r of this.rules()) {
      if (r.entries.some((e) => e.peers.some((p) => p.kind === 'service')))
        for (const id of this.subjectsOf(r)) candidates.add(id);
    }
    this.resolver.setService(namespace, name, svc);
    return this.recompute(candidates);
  }

  /** Changes enforcement mode / allow-localhost: every endpoint is recomputed. */
  setOptions(opts: Omit<ResolveOptions, 'clusterName'>): number[] {
    this.resolver.options = { ...this.resolver.options, ...opts };
    return this.recompute(new Set(this.localEndpoints().map((e) => e.id)));
  }

  // --- explain ---

  /**
   * Why traffic from `fromIdentity` to local endpoint `toEndpointId` on `port` (ICMP: the type)
   * over `protocol` is allowed or dropped: the destination's ingress verdict, and the egress
   * verdict of the source when it is a local endpoint (the first one with that identity).
   */
  explain(fromIdentity: number, toEndpointId: number, port: number, protocol: number | string): Explanation {
    const dst = this.resolver.endpoints.get(toEndpointId);
    const dstPolicy = this.policyOf(toEndpointId);
    if (!dst || !dstPolicy)
      throw new Error(
        `endpoint ${toEndpointId} is not a local endpoint of the engine: explain needs the destination's policy; upsert it first`,
      );
    const ingress: DirectionExplanation = {
      ...evaluate(dstPolicy, 'ingress', fromIdentity, protocol, port),
      endpointId: toEndpointId,
    };
    const src = this.localEndpoints()
      .filter((e) => e.identity === fromIdentity)
      .sort((a, b) => a.id - b.id)[0];
    const srcPolicy = src ? this.policyOf(src.id) : undefined;
    const egress: DirectionExplanation = srcPolicy
      ? { ...evaluate(srcPolicy, 'egress', dst.identity, protocol, port), endpointId: src?.id }
      : { verdict: 'no-enforcement', rules: [], matched: [], policies: [] };
    return {
      verdict: combine(egress.verdict, ingress.verdict),
      fromIdentity,
      toEndpointId,
      protocol,
      port,
      egress,
      ingress,
    };
  }

  // --- internals ---

  private localEndpoints(): PolicyEndpoint[] {
    return [...this.resolver.endpoints.values()].filter((e) => e.local !== false);
  }

  private subjectsOf(rule: NormalizedRule): number[] {
    return this.localEndpoints()
      .filter((ep) => this.resolver.subjectSelects(rule, ep))
      .map((ep) => ep.id);
  }

  private recompute(ids: Iterable<number>): number[] {
    const rules = this.rules();
    const changed: number[] = [];
    for (const id of ids) {
      const ep = this.resolver.endpoints.get(id);
      if (!ep || ep.local === false) continue;
      this.recomputations++;
      const policy = this.resolver.resolveEndpoint(ep, rules);
      const fingerprint = fingerprintOf(policy);
      const prev = this.computed.get(id);
      this.computed.set(id, { policy, fingerprint });
      if (prev?.fingerprint !== fingerprint) changed.push(id);
    }
    return changed.sort((a, b) => a - b);
  }
}

/** What the datapath sees: identity, enforcement flags and the specs behind the map contents. */
function fingerprintOf(p: EndpointPolicy): string {
  const specs = p.specs.map((s) => [s.direction, s.identity, s.protocol, s.port, s.endPort, s.deny]);
  return JSON.stringify([p.identity, p.enforceIngress, p.enforceEgress, specs]);
}

const verdictRank: Record<Verdict, number> = { denied: 3, 'default-denied': 2, allowed: 1, 'no-enforcement': 0 };

function combine(a: Verdict, b: Verdict): Verdict {
  const worst = verdictRank[a] >= verdictRank[b] ? a : b;
  return worst;
}
