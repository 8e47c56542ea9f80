// Kubernetes networking.k8s.io/v1 NetworkPolicy translated into the engine's rules, with
// Kubernetes semantics: podSelector keys are pod labels (source k8s) of the policy's namespace,
// namespaceSelector keys are namespace labels (Cilium's io.cilium.k8s.namespace.labels.*),
// policyTypes default as the API server defaults them, an empty from/to matches every peer, no
// rules for a listed type isolates the pods, and ipBlock also matches pod addresses (as the
// upstream NetworkPolicy e2e suite expects; Cilium itself does not).

import { PodNamespaceLabel, PodNamespaceMetaLabelsPrefix, type Direction } from './api/index.ts';
import { portSpecs, type L4Spec, type PortSpec } from './l4.ts';
import {
  cidrPeer,
  derivedFromLabels,
  policyKey,
  type NormalizedRule,
  type Peer,
  type PolicyRef,
  type RuleEntry,
} from './rules.ts';
import { compileSelector, type SelectorLike } from './selector.ts';

/** The fields of a V1NetworkPolicy the engine reads (a V1NetworkPolicy is assignable to it). */
export interface NetworkPolicyLike {
  metadata?: { name?: string; namespace?: string; uid?: string };
  spec?: {
    podSelector?: SelectorLike | null;
    policyTypes?: readonly string[] | null;
    ingress?: ReadonlyArray<{
      from?: readonly NetworkPolicyPeerLike[] | null;
      ports?: readonly NetworkPolicyPortLike[] | null;
    }> | null;
    egress?: ReadonlyArray<{
      to?: readonly NetworkPolicyPeerLike[] | null;
      ports?: readonly NetworkPolicyPortLike[] | null;
    }> | null;
  };
}

export interface NetworkPolicyPeerLike {
  podSelector?: SelectorLike | null;
  namespaceSelector?: SelectorLike | null;
  ipBlock?: { cidr: string; except?: readonly string[] | null } | null;
}

export interface NetworkPolicyPortLike {
  port?: number | string | null;
  endPort?: number | null;
  protocol?: string | null;
}

/** The policy types in effect: as written, else Ingress plus Egress when egress rules exist. */
export function effectivePolicyTypes(np: NetworkPolicyLike): { ingress: boolean; egress: boolean } {
  const types = np.spec?.policyTypes;
  if (types && types.length > 0) return { ingress: types.includes('Ingress'), egress: types.includes('Egress') };
  return { ingress: true, egress: (np.spec?.egress?.length ?? 0) > 0 };
}

function prefixed(
  sel: SelectorLike | null | undefined,
  prefix: string,
): {
  matchLabels: Record<string, string>;
  matchExpressions: Array<{ key: string; operator: string; values: string[] }>;
} {
  const matchLabels: Record<string, string> = {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (v !== undefined) matchLabels[`${prefix}${k}`] = v;
  const matchExpressions = (sel?.matchExpressions ?? []).map((e) => ({
    key: `${prefix}${e.key}`,
    operator: e.operator,
    values: [...(e.values ?? [])],
  }));
  return { matchLabels, matchExpressions };
}

/** The Cilium selector for one NetworkPolicy peer with a pod and/or namespace selector. */
export function peerSelector(peer: NetworkPolicyPeerLike, policyNamespace: string): SelectorLike {
  const pods = prefixed(peer.podSelector, 'k8s:');
  if (!peer.namespaceSelector) {
    pods.matchLabels[`k8s:${PodNamespaceLabel}`] = policyNamespace;
    return pods;
  }
  const ns = prefixed(peer.namespaceSelector, `k8s:${PodNamespaceMetaLabelsPrefix}`);
  const out = {
    matchLabels: { ...pods.matchLabels, ...ns.matchLabels },
    matchExpressions: [...pods.matchExpressions, ...ns.matchExpressions],
  };
  // An empty namespaceSelector means every namespace: still only pods.
  if (Object.keys(ns.matchLabels).length === 0 && ns.matchExpressions.length === 0) {
    out.matchExpressions.push({ key: `k8s:${PodNamespaceLabel}`, operator: 'Exists', values: [] });
  }
  return out;
}

function peersOf(list: readonly NetworkPolicyPeerLike[] | null | undefined, namespace: string): Peer[] {
  if (!list || list.length === 0) return [{ kind: 'all' }];
  const out: Peer[] = [];
  for (const p of list) {
    if (p.ipBlock) {
      const c = cidrPeer(p.ipBlock.cidr, p.ipBlock.except ?? [], true);
      if (c) out.push(c);
    } else if (p.podSelector || p.namespaceSelector) {
      out.push({ kind: 'selector', selector: compileSelector(peerSelector(p, namespace)) });
    }
  }
  return out;
}

function l4Of(ports: readonly NetworkPolicyPortLike[] | null | undefined): L4Spec {
  if (!ports || ports.length === 0) return { kind: 'any' };
  const out: PortSpec[] = [];
  for (const p of ports) out.push(...portSpecs(p.protocol ?? 'TCP', p.port ?? 0, p.endPort));
  return { kind: 'ports', ports: out };
}

/** The rule of one NetworkPolicy (NetworkPolicies have exactly one). */
export function normalizeNetworkPolicy(np: NetworkPolicyLike): NormalizedRule {
  const namespace = np.metadata?.namespace ?? 'default';
  const name = np.metadata?.name ?? '';
  const policy: PolicyRef = { kind: 'NetworkPolicy', namespace, name };
  const labels = derivedFromLabels('NetworkPolicy', namespace, name, np.metadata?.uid);
  const types = effectivePolicyTypes(np);
  const subject = prefixed(np.spec?.podSelector, 'k8s:');
  subject.matchLabels[`k8s:${PodNamespaceLabel}`] = namespace;
  const entries: RuleEntry[] = [];
  const add = (
    direction: Direction,
    list: ReadonlyArray<{
      from?: readonly NetworkPolicyPeerLike[] | null;
      to?: readonly NetworkPolicyPeerLike[] | null;
      ports?: readonly NetworkPolicyPortLike[] | null;
    }>,
  ): void => {
    list.forEach((r, index) => {
      entries.push({
        ref: { ...policy, rule: 'spec', section: direction, index, labels },
        direction,
        deny: false,
        peers: peersOf(direction === 'ingress' ? r.from : r.to, namespace),
        l4: l4Of(r.ports),
      });
    });
  };
  if (types.ingress) add('ingress', np.spec?.ingress ?? []);
  if (types.egress) add('egress', np.spec?.egress ?? []);
  return {
    id: `${policyKey(policy)}#spec`,
    policy,
    subject: { kind: 'endpoints', selector: compileSelector(subject) },
    ingress: types.ingress,
    egress: types.egress,
    defaultDeny: { ingress: types.ingress, egress: types.egress },
    entries,
    notes: [],
  };
}
