// The engine's own rule model, and CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy
// normalisation into it (the part of Cilium's ParseToCiliumRule + Rule.Sanitize that matters
// for enforcement). Kubernetes NetworkPolicy is translated into the same model by k8s.ts.

import type {
  CIDRRule,
  CiliumClusterwideNetworkPolicy,
  CiliumNetworkPolicy,
  EgressDenyRule,
  EgressRule,
  EndpointSelector,
  ICMPRule,
  IngressDenyRule,
  IngressRule,
  PolicyRule,
  PolicyService,
  PortRule,
  PortDenyRule,
} from '../api/types.generated.ts';
import { containsPrefix, maskedPrefix, type Prefix } from '../lib/ip.ts';
import {
  DEFAULT_CLUSTER_NAME,
  icmpType,
  PolicyLabelDerivedFrom,
  PolicyLabelName,
  PolicyLabelNamespace,
  PolicyLabelUID,
  Proto,
  type CiliumPolicyKind,
  type Direction,
  type PolicyKind,
} from './api/index.ts';
import { portSpecs, type L4Spec, type PortSpec } from './l4.ts';
import { parsePrefixOrHost } from './labels.ts';
import {
  compileSelector,
  entitySelectors,
  scopePeerSelector,
  scopeSubjectSelector,
  selectsInit,
  type CompiledSelector,
} from './selector.ts';

export type { PolicyKind } from './api/index.ts';
export type Section = 'ingress' | 'egress' | 'ingressDeny' | 'egressDeny';

/** Names one policy object. namespace is undefined for clusterwide policies. */
export interface PolicyRef {
  kind: PolicyKind;
  namespace?: string;
  name: string;
}

/**
 * Names the rule entry that produced a map entry: the policy, which of its rules ('spec' or
 * 'specs[i]'), the section and the entry's index in it, plus Cilium's derived-from labels.
 * kind 'Implicit' marks entries the engine adds itself (allow-localhost, default-allow).
 */
export interface RuleRef {
  kind: PolicyKind | 'Implicit';
  namespace?: string;
  name: string;
  rule: string;
  section: Section;
  index: number;
  labels: readonly string[];
}

/** "CiliumNetworkPolicy ns/name spec.ingress[0]" */
export function formatRuleRef(r: RuleRef): string {
  const where = r.kind === 'Implicit' ? '' : ` ${r.rule}.${r.section}[${r.index}]`;
  return `${r.kind} ${r.namespace ? `${r.namespace}/` : ''}${r.name}${where}`;
}

export function policyKey(p: PolicyRef): string {
  return `${p.kind}/${p.namespace ?? ''}/${p.name}`;
}

/** A peer of a rule entry: whom it allows or denies. */
export type Peer =
  /** every peer: the wildcard identity 0 */
  | { kind: 'all' }
  /** identities whose labels match (fromEndpoints, entities) */
  | { kind: 'selector'; selector: CompiledSelector }
  /** nodes whose node labels match (fromNodes / toNodes) */
  | { kind: 'nodes'; selector: CompiledSelector }
  /**
   * CIDR identities inside prefix and outside every except; matchPods (Kubernetes ipBlock) also
   * takes the identities of endpoints whose addresses fall inside.
   */
  | { kind: 'cidr'; prefix: Prefix; except: Prefix[]; matchPods: boolean; text: string }
  /** the pods behind services: by name, or by a selector on the services' labels */
  | { kind: 'service'; namespace?: string; name?: string; selector?: CompiledSelector };

export interface RuleEntry {
  ref: RuleRef;
  direction: Direction;
  deny: boolean;
  /** empty: the entry selects no peer and so allows or denies nothing */
  peers: Peer[];
  l4: L4Spec;
}

/** One rule, normalised: whom it applies to and its entries in both directions. */
export interface NormalizedRule {
  /** unique within the engine: policy key + rule path */
  id: string;
  policy: PolicyRef;
  subject: { kind: 'endpoints' | 'nodes'; selector: CompiledSelector };
  /** the rule has ingress or ingressDeny entries (so it turns ingress enforcement on) */
  ingress: boolean;
  egress: boolean;
  defaultDeny: { ingress: boolean; egress: boolean };
  entries: RuleEntry[];
  /** parts of the rule the engine cannot enforce and ignored (they select nothing) */
  notes: string[];
}

export interface NormalizeOptions {
  clusterName?: string;
}

/** Cilium's labels of a rule derived from a Kubernetes object (utils.GetPolicyLabels). */
export function derivedFromLabels(
  kind: PolicyKind,
  namespace: string | undefined,
  name: string,
  uid?: string,
): string[] {
  const out = [`k8s:${PolicyLabelDerivedFrom}=${kind}`, `k8s:${PolicyLabelName}=${name}`];
  if (namespace) out.push(`k8s:${PolicyLabelNamespace}=${namespace}`);
  if (uid) out.push(`k8s:${PolicyLabelUID}=${uid}`);
  return out;
}

type AnyPolicy = CiliumNetworkPolicy | CiliumClusterwideNetworkPolicy;

/**
 * Rules of a CiliumNetworkPolicy (kind 'CiliumNetworkPolicy', namespaced) or a
 * CiliumClusterwideNetworkPolicy. `kind` defaults to the object's own kind, else to CNP when the
 * object has a namespace.
 */
export function normalizeCiliumPolicy(
  obj: AnyPolicy,
  kind?: CiliumPolicyKind,
  opts: NormalizeOptions = {},
): NormalizedRule[] {
  const k =
    kind ??
    (obj.kind === 'CiliumClusterwideNetworkPolicy' || obj.kind === 'CiliumNetworkPolicy'
      ? obj.kind
      : obj.metadata?.namespace
        ? 'CiliumNetworkPolicy'
        : 'CiliumClusterwideNetworkPolicy');
  const namespace = k === 'CiliumNetworkPolicy' ? (obj.metadata?.namespace ?? 'default') : undefined;
  const name = obj.metadata?.name ?? '';
  const policy: PolicyRef = namespace === undefined ? { kind: k, name } : { kind: k, namespace, name };
  const labels = derivedFromLabels(k, namespace, name, obj.metadata?.uid);
  const list: Array<{ rule: PolicyRule; path: string }> = [];
  if (obj.spec) list.push({ rule: obj.spec, path: 'spec' });
  (obj.specs ?? []).forEach((r, i) => list.push({ rule: r, path: `specs[${i}]` }));
  return list.map(({ rule, path }) =>
    normalizeRule(rule, { policy, labels, path, clusterName: opts.clusterName ?? DEFAULT_CLUSTER_NAME }),
  );
}

interface RuleCtx {
  policy: PolicyRef;
  labels: string[];
  path: string;
  clusterName: string;
}

const count = (v: unknown[] | undefined): number => v?.length ?? 0;

function normalizeRule(rule: PolicyRule, ctx: RuleCtx): NormalizedRule {
  const notes: string[] = [];
  const namespace = ctx.policy.namespace;
  let subject: NormalizedRule['subject'];
  let matchesInit = false;
  if (rule.endpointSelector) {
    subject = { kind: 'endpoints', selector: compileSelector(scopeSubjectSelector(rule.endpointSelector, namespace)) };
    matchesInit = selectsInit(rule.endpointSelector);
  } else if (rule.nodeSelector && namespace === undefined) {
    subject = { kind: 'nodes', selector: compileSelector(rule.nodeSelector) };
  } else {
    // No subject (or a nodeSelector in a namespaced policy, which Cilium rejects): selects nothing.
    subject = {
      kind: 'endpoints',
      selector: compileSelector({ matchExpressions: [{ key: 'reserved:none', operator: 'Exists' }] }),
    };
    notes.push(`${ctx.path}: the rule has no usable endpointSelector or nodeSelector and selects nothing`);
  }
  const ingress = count(rule.ingress) > 0 || count(rule.ingressDeny) > 0;
  const egress = count(rule.egress) > 0 || count(rule.egressDeny) > 0;
  const peerCtx: PeerCtx = { namespace, matchesInit, clusterName: ctx.clusterName, notes, path: ctx.path };
  const entries: RuleEntry[] = [];
  const sections: Array<[Section, Array<IngressRule | IngressDenyRule | EgressRule | EgressDenyRule> | undefined]> = [
    ['ingress', rule.ingress],
    ['ingressDeny', rule.ingressDeny],
    ['egress', rule.egress],
    ['egressDeny', rule.egressDeny],
  ];
  for (const [section, list] of sections) {
    (list ?? []).forEach((e, index) => {
      const ref: RuleRef = { ...ctx.policy, rule: ctx.path, section, index, labels: ctx.labels };
      const direction: Direction = section.startsWith('ingress') ? 'ingress' : 'egress';
      const deny = section.endsWith('Deny');
      entries.push({
        ref,
        direction,
        deny,
        ...entryParts(e, direction, { ...peerCtx, path: `${ctx.path}.${section}[${index}]` }),
      });
    });
  }
  return {
    id: `${policyKey(ctx.policy)}#${ctx.path}`,
    policy: ctx.policy,
    subject,
    ingress,
    egress,
    defaultDeny: {
      ingress: rule.enableDefaultDeny?.ingress ?? ingress,
      egress: rule.enableDefaultDeny?.egress ?? egress,
    },
    entries,
    notes,
  };
}

interface PeerCtx {
  namespace: string | undefined;
  matchesInit: boolean;
  clusterName: string;
  notes: string[];
  path: string;
}

type AnyEntry = IngressRule & IngressDenyRule & EgressRule & EgressDenyRule;

const ingressPeerFields = [
  'fromEndpoints',
  'fromEntities',
  'fromCIDR',
  'fromCIDRSet',
  'fromNodes',
  'fromGroups',
] as const;
const egressPeerFields = [
  'toEndpoints',
  'toEntities',
  'toCIDR',
  'toCIDRSet',
  'toNodes',
  'toServices',
  'toGroups',
  'toFQDNs',
] as const;

function entryParts(
  raw: IngressRule | IngressDenyRule | EgressRule | EgressDenyRule,
  direction: Direction,
  ctx: PeerCtx,
): { peers: Peer[]; l4: L4Spec } {
  const e = raw as AnyEntry;
  const fields = direction === 'ingress' ? ingressPeerFields : egressPeerFields;
  const anyPeerField = fields.some((f) => e[f] !== undefined && e[f] !== null);
  const hasL4 = e.toPorts !== undefined || e.icmps !== undefined;
  const l4 = l4Of(e.toPorts, e.icmps);
  if (!anyPeerField) {
    // Ports without peers: every peer on those ports. Nothing at all: allows nothing.
    return { peers: hasL4 ? [{ kind: 'all' }] : [], l4 };
  }
  const peers: Peer[] = [];
  const pre = direction === 'ingress' ? 'from' : 'to';
  for (const sel of (direction === 'ingress' ? e.fromEndpoints : e.toEndpoints) ?? []) {
    peers.push({ kind: 'selector', selector: compileSelector(scopePeerSelector(sel, ctx.namespace, ctx.matchesInit)) });
  }
  for (const ent of (direction === 'ingress' ? e.fromEntities : e.toEntities) ?? [])
    peers.push(...entityPeers(ent, ctx.clusterName));
  for (const c of (direction === 'ingress' ? e.fromCIDR : e.toCIDR) ?? []) {
    const p = cidrPeer(c, [], false);
    if (p) peers.push(p);
    else ctx.notes.push(`${ctx.path}.${pre}CIDR: ${JSON.stringify(c)} is not a CIDR and selects nothing`);
  }
  for (const r of (direction === 'ingress' ? e.fromCIDRSet : e.toCIDRSet) ?? []) {
    const p = cidrSetPeer(r, ctx, pre);
    if (p) peers.push(p);
  }
  for (const sel of (direction === 'ingress' ? e.fromNodes : e.toNodes) ?? []) {
    peers.push({ kind: 'nodes', selector: compileSelector(sel) });
  }
  if (direction === 'egress') {
    for (const s of e.toServices ?? []) {
      const p = servicePeer(s, ctx.namespace);
      if (p) peers.push(p);
    }
    if (count(e.toFQDNs) > 0)
      ctx.notes.push(`${ctx.path}.toFQDNs: DNS-based peers are not enforced yet and select nothing`);
  }
  if (count(direction === 'ingress' ? e.fromGroups : e.toGroups) > 0) {
    ctx.notes.push(`${ctx.path}.${pre}Groups: cloud provider groups are not supported and select nothing`);
  }
  return { peers, l4 };
}

function entityPeers(entity: string, clusterName: string): Peer[] {
  const sels = entitySelectors(entity, clusterName);
  if (sels === 'all') return [{ kind: 'all' }];
  return sels.map((s: EndpointSelector) => ({ kind: 'selector', selector: compileSelector(s) }));
}

/** A CIDR peer; excepts outside the prefix are dropped (they cannot exclude anything). */
export function cidrPeer(cidr: string, except: readonly string[], matchPods: boolean): Peer | undefined {
  const p = parsePrefixOrHost(cidr);
  if (!p) return undefined;
  const prefix = maskedPrefix(p);
  const ex: Prefix[] = [];
  for (const x of except) {
    const q = parsePrefixOrHost(x);
    if (q && containsPrefix(prefix, q)) ex.push(maskedPrefix(q));
  }
  const text = except.length > 0 ? `${cidr} except ${except.join(', ')}` : cidr;
  return { kind: 'cidr', prefix, except: ex, matchPods, text };
}

function cidrSetPeer(r: CIDRRule, ctx: PeerCtx, pre: string): Peer | undefined {
  if (r.cidr !== undefined) {
    const p = cidrPeer(r.cidr, r.except ?? [], false);
    if (!p) ctx.notes.push(`${ctx.path}.${pre}CIDRSet: ${JSON.stringify(r.cidr)} is not a CIDR and selects nothing`);
    return p;
  }
  ctx.notes.push(`${ctx.path}.${pre}CIDRSet: CiliumCIDRGroup references are not resolved yet and select nothing`);
  return undefined;
}

function servicePeer(s: PolicyService, policyNamespace: string | undefined): Peer | undefined {
  if (s.k8sService) {
    return { kind: 'service', namespace: s.k8sService.namespace || policyNamespace, name: s.k8sService.serviceName };
  }
  if (s.k8sServiceSelector) {
    return {
      kind: 'service',
      namespace: s.k8sServiceSelector.namespace || policyNamespace,
      selector: compileSelector(s.k8sServiceSelector.selector, 'k8s'),
    };
  }
  return undefined;
}

function l4Of(toPorts: Array<PortRule | PortDenyRule> | undefined, icmps: ICMPRule[] | undefined): L4Spec {
  if (toPorts === undefined && icmps === undefined) return { kind: 'any' };
  const ports: PortSpec[] = [];
  for (const pr of toPorts ?? []) {
    // A port rule without ports stands for every port (ANY, port 0).
    const list = pr.ports && pr.ports.length > 0 ? pr.ports : [{}];
    for (const pp of list) ports.push(...portSpecs(pp.protocol, pp.port, pp.endPort));
  }
  for (const ir of icmps ?? []) {
    for (const f of ir.fields ?? []) {
      const family = f.family ?? 'IPv4';
      const t = icmpType(f.type, family);
      if (t !== undefined)
        ports.push({ protocol: family === 'IPv6' ? Proto.ICMPV6 : Proto.ICMP, port: t, exact: true });
    }
  }
  return { kind: 'ports', ports };
}
