// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics: what Cilium's Rule.Validate
// (pkg/policy/api/rule_validation.go) and the CNP/CCNP parse step reject, plus warnings for
// policies that are valid but almost certainly not what the author meant.

import { ENTITIES, PodNamespaceLabel, type CiliumPolicyKind } from '../../policy/api/index.ts';
import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { checkCIDR, checkCIDRRule } from './cidr.ts';
import { arr, caseTypoWarnings, count, has, isObj, obj, show, str, type Obj } from './json.ts';
import { checkFQDNSelector, fqdnPatternMatches } from './l7.ts';
import { checkICMPRule, checkPortRule } from './ports-rule.ts';
import { checkSelector } from './selector.ts';

/** The kinds this validator checks. */
export type PolicyKind = CiliumPolicyKind;

const ingressPeers = ['fromEndpoints', 'fromCIDR', 'fromCIDRSet', 'fromEntities', 'fromNodes', 'fromGroups'] as const;
const egressPeers = [
  'toEndpoints',
  'toCIDR',
  'toCIDRSet',
  'toEntities',
  'toServices',
  'toGroups',
  'toNodes',
  'toFQDNs',
] as const;

interface RuleContext {
  kind: PolicyKind;
  hostPolicy: boolean;
  /** enableDefaultDeny as written for this direction: true, false or undefined (unset) */
  defaultDeny: boolean | undefined;
}

interface Direction {
  field: 'ingress' | 'ingressDeny' | 'egress' | 'egressDeny';
  ingress: boolean;
  deny: boolean;
}

const directions: Direction[] = [
  { field: 'ingress', ingress: true, deny: false },
  { field: 'ingressDeny', ingress: true, deny: true },
  { field: 'egress', ingress: false, deny: false },
  { field: 'egressDeny', ingress: false, deny: true },
];

export function policySemantics(kind: PolicyKind, doc: unknown): ValidationIssue[] {
  const o = obj(doc);
  if (!o) return [];
  const out: ValidationIssue[] = [];
  const rules: Array<{ rule: Obj; path: string }> = [];
  const spec = o.spec;
  const specs = o.specs;
  if ((spec === undefined || spec === null) && (specs === undefined || specs === null)) {
    out.push(
      error(
        'spec',
        `a ${kind} needs spec (one rule) or specs (a list of rules): add spec with an endpointSelector${kind === 'CiliumClusterwideNetworkPolicy' ? ' or nodeSelector' : ''} and ingress or egress rules`,
      ),
    );
    return out;
  }
  if (Array.isArray(specs) && specs.length === 0 && (spec === undefined || spec === null)) {
    out.push(
      error(
        'specs',
        'specs is an empty list, so the policy has no rules: add at least one rule, or use spec for a single rule',
      ),
    );
  }
  if (isObj(spec)) rules.push({ rule: spec, path: 'spec' });
  // Every rule of specs is checked, not only the last (Cilium bug #38795 reported only the last one).
  arr(specs).forEach((r, i) => {
    if (isObj(r)) rules.push({ rule: r, path: at('specs', i) });
  });
  const namespace = str(obj(o.metadata)?.namespace);
  for (const { rule, path } of rules) {
    out.push(...checkRule(kind, rule, path));
    if (kind === 'CiliumNetworkPolicy' && namespace) out.push(...checkSubjectNamespace(rule, path, namespace));
  }
  out.push(...checkFQDNNeedsDNS(rules));
  return out;
}

const ruleFields = [
  'endpointSelector',
  'nodeSelector',
  'ingress',
  'ingressDeny',
  'egress',
  'egressDeny',
  'enableDefaultDeny',
  'labels',
  'description',
  'log',
];
const entryFields = ['toPorts', 'icmps', 'authentication', 'fromRequires', 'toRequires'];

function checkRule(kind: PolicyKind, rule: Obj, rp: string): ValidationIssue[] {
  const out: ValidationIssue[] = caseTypoWarnings(rule, ruleFields, rp);
  const hasES = isObj(rule.endpointSelector);
  const hasNS = isObj(rule.nodeSelector);
  if (hasES && hasNS) {
    out.push(
      error(
        at(rp, 'nodeSelector'),
        'a rule has either endpointSelector (pods) or nodeSelector (nodes), not both: split it into two rules',
      ),
    );
  } else if (!hasES && !hasNS) {
    out.push(
      error(
        rp,
        `the rule selects nothing: add endpointSelector (e.g. {matchLabels: {app: web}}, or {} for all pods)${kind === 'CiliumClusterwideNetworkPolicy' ? ' or nodeSelector for a host policy' : ''}`,
      ),
    );
  }
  if (hasNS && kind === 'CiliumNetworkPolicy') {
    out.push(
      error(
        at(rp, 'nodeSelector'),
        'nodeSelector (a host policy) is only allowed in a CiliumClusterwideNetworkPolicy, since nodes belong to no namespace: move this rule to a CiliumClusterwideNetworkPolicy, or select pods with endpointSelector',
      ),
    );
  }
  if (hasES) out.push(...checkSelector(rule.endpointSelector, at(rp, 'endpointSelector')));
  if (hasNS) out.push(...checkSelector(rule.nodeSelector, at(rp, 'nodeSelector')));

  const total = directions.reduce((n, d) => n + count(rule, d.field), 0);
  if (total === 0) {
    out.push(
      error(
        rp,
        'the rule has no ingress, ingressDeny, egress or egressDeny entries (empty lists count as none), so Cilium rejects it: add at least one rule, e.g. ingress: [{fromEndpoints: [{}]}]; to only isolate the endpoints use ingress: [{}] with enableDefaultDeny: {ingress: true}',
      ),
    );
  }
  const edd = obj(rule.enableDefaultDeny);
  for (const d of directions) {
    const ctx: RuleContext = {
      kind,
      hostPolicy: hasNS && !hasES,
      defaultDeny:
        typeof edd?.[d.ingress ? 'ingress' : 'egress'] === 'boolean'
          ? (edd?.[d.ingress ? 'ingress' : 'egress'] as boolean)
          : undefined,
    };
    const list = arr(rule[d.field]);
    list.forEach((r, i) => {
      if (isObj(r)) out.push(...checkDirectionRule(r, at(rp, d.field, i), d, ctx));
    });
    out.push(...checkNothingAllowed(list, at(rp, d.field), d, ctx));
  }
  return out;
}

function peerFields(d: Direction): readonly string[] {
  return d.ingress ? ingressPeers : egressPeers;
}

/** A rule entry with no peer, port or ICMP field at all: Cilium matches nothing with it. */
function isEmptyEntry(r: Obj, d: Direction): boolean {
  const other = ['toPorts', 'icmps', 'fromRequires', 'toRequires'];
  return peerFields(d).every((f) => !has(r, f)) && other.every((f) => !has(r, f));
}

function checkNothingAllowed(list: unknown[], path: string, d: Direction, ctx: RuleContext): ValidationIssue[] {
  const entries = list.filter(isObj);
  if (entries.length === 0) return [];
  const empty = entries.map((r) => isEmptyEntry(r, d));
  const dir = d.ingress ? 'ingress' : 'egress';
  if (d.deny) {
    return empty.flatMap((e, i) =>
      e
        ? [
            warning(
              at(path, i),
              `this ${d.field} entry names no peer and no port, so it denies nothing: add the peers or ports to deny, or remove it`,
            ),
          ]
        : [],
    );
  }
  if (empty.every((e) => e)) {
    if (ctx.defaultDeny === true) return []; // isolation stated on purpose (cf. Cilium bug #45716)
    if (ctx.defaultDeny === false) {
      return [
        warning(
          path,
          `every ${dir} entry is empty and enableDefaultDeny.${dir} is false, so this rule does nothing at ${dir}: add peers or ports, or remove ${d.field}`,
        ),
      ];
    }
    return [
      warning(
        path,
        `every ${dir} entry is empty, so the selected endpoints ${d.ingress ? 'accept' : 'send'} no ${dir} traffic at all (default deny with nothing allowed${d.ingress ? '' : ', DNS lookups included'}): if that is the intent, state it with enableDefaultDeny: {${dir}: true}; otherwise add peers (e.g. ${d.ingress ? 'fromEndpoints' : 'toEndpoints'}) or toPorts`,
      ),
    ];
  }
  return empty.flatMap((e, i) =>
    e
      ? [warning(at(path, i), `this ${dir} entry is empty and allows nothing: remove it, or add peers or toPorts`)]
      : [],
  );
}

function checkDirectionRule(r: Obj, rp: string, d: Direction, ctx: RuleContext): ValidationIssue[] {
  const out: ValidationIssue[] = caseTypoWarnings(r, [...ingressPeers, ...egressPeers, ...entryFields], rp);
  const peers = peerFields(d).filter((f) => count(r, f) > 0);
  // Cilium's IngressCommonRule/EgressCommonRule.Validate: one kind of L3 peer per rule.
  for (const other of peers.slice(1)) {
    out.push(
      error(
        at(rp, other),
        `${peers[0]} and ${other} cannot be combined in one rule (Cilium does not support it): split them into two ${d.field} entries, one per peer kind, each with the same toPorts`,
      ),
    );
  }
  if (d.deny && has(r, 'toFQDNs')) {
    out.push(
      error(
        at(rp, 'toFQDNs'),
        'toFQDNs is not supported in egressDeny (denying by DNS name cannot be enforced reliably) and would be dropped: deny the addresses with toCIDRSet, or allow only the names you want with toFQDNs in egress',
      ),
    );
  }
  if (d.deny && has(r, 'authentication')) {
    out.push(
      error(
        at(rp, 'authentication'),
        `authentication applies to allowed traffic only and would be dropped from ${d.field}: move it to an ${d.ingress ? 'ingress' : 'egress'} rule`,
      ),
    );
  }
  if (count(r, 'icmps') > 0 && count(r, 'toPorts') > 0) {
    out.push(
      error(
        at(rp, 'icmps'),
        'icmps and toPorts cannot be in the same rule: put the ICMP types in one rule and the ports in another, each with the same peers',
      ),
    );
  }
  for (const f of ['fromRequires', 'toRequires']) {
    if (has(r, f)) {
      out.push(
        warning(
          at(rp, f),
          `${f} is deprecated and no longer supported: express the requirement in the peer selectors (e.g. ${d.ingress ? 'fromEndpoints' : 'toEndpoints'} matchLabels/matchExpressions) of each rule`,
        ),
      );
    }
  }
  for (const f of peerFields(d)) {
    if (Array.isArray(r[f]) && (r[f] as unknown[]).length === 0 && ctx.defaultDeny !== true) {
      out.push(
        warning(
          at(rp, f),
          `${f} is an empty list, which selects no peer, so this entry allows${d.deny ? ' (denies)' : ''} nothing: list the peers, use [{}] for all ${f.endsWith('Endpoints') ? 'endpoints' : 'of them'}, or remove the field`,
        ),
      );
    }
  }
  const entityField = d.ingress ? 'fromEntities' : 'toEntities';
  const pre = d.ingress ? 'from' : 'to';
  arr(r[`${pre}Endpoints`]).forEach((s, i) => out.push(...checkSelector(s, at(rp, `${pre}Endpoints`, i))));
  arr(r[`${pre}Nodes`]).forEach((s, i) => out.push(...checkSelector(s, at(rp, `${pre}Nodes`, i))));
  arr(r[`${pre}CIDR`]).forEach((c, i) => out.push(...checkCIDR(c, at(rp, `${pre}CIDR`, i), entityField)));
  arr(r[`${pre}CIDRSet`]).forEach((c, i) => out.push(...checkCIDRRule(c, at(rp, `${pre}CIDRSet`, i), entityField)));
  arr(r[entityField]).forEach((e, i) => {
    if (typeof e === 'string' && !ENTITIES.has(e)) {
      const lower = e.toLowerCase();
      out.push(
        error(
          at(rp, entityField, i),
          `${show(e)} is not an entity${ENTITIES.has(lower) ? `: entities are lowercase, write ${lower}` : `: use one of ${[...ENTITIES].join(', ')}`}`,
        ),
      );
    }
  });
  arr(r[`${pre}Groups`]).forEach((g, i) => {
    const aws = obj(obj(g)?.aws);
    if (
      isObj(g) &&
      (!aws ||
        (count(aws, 'securityGroupsIds') === 0 &&
          count(aws, 'securityGroupsNames') === 0 &&
          Object.keys(obj(aws.labels) ?? {}).length === 0))
    ) {
      out.push(
        warning(
          at(rp, `${pre}Groups`, i),
          'the group names no AWS security group and no tags, so it selects nothing: set aws.securityGroupsIds, aws.securityGroupsNames or aws.labels',
        ),
      );
    }
  });
  if (!d.ingress) {
    arr(r.toServices).forEach((s, i) => {
      const svc = obj(s);
      if (!svc) return;
      const sp = at(rp, 'toServices', i);
      if (!isObj(svc.k8sService) && !isObj(svc.k8sServiceSelector)) {
        out.push(
          warning(
            sp,
            'the entry names no service: set k8sService {serviceName, namespace} or k8sServiceSelector {selector}',
          ),
        );
      }
      const sel = obj(svc.k8sServiceSelector);
      if (sel) out.push(...checkSelector(sel.selector, at(sp, 'k8sServiceSelector', 'selector'), false));
    });
    if (!d.deny) arr(r.toFQDNs).forEach((f, i) => out.push(...checkFQDNSelector(f, at(rp, 'toFQDNs', i))));
  }
  arr(r.toPorts).forEach((p, i) =>
    out.push(
      ...checkPortRule(p, at(rp, 'toPorts', i), { ingress: d.ingress, deny: d.deny, hostPolicy: ctx.hostPolicy }),
    ),
  );
  arr(r.icmps).forEach((c, i) => out.push(...checkICMPRule(c, at(rp, 'icmps', i))));
  return out;
}

interface DNSAllow {
  names: string[];
  patterns: string[];
}

/**
 * toFQDNs only learns addresses from lookups that Cilium's DNS proxy sees, i.e. lookups an egress
 * rule with `rules.dns` sends through the proxy. Without one the FQDN rule never matches anything.
 */
function checkFQDNNeedsDNS(rules: Array<{ rule: Obj; path: string }>): ValidationIssue[] {
  const dns: DNSAllow = { names: [], patterns: [] };
  let anyDNS = false;
  const fqdns: Array<{ path: string; sel: Obj }> = [];
  for (const { rule, path } of rules) {
    arr(rule.egress).forEach((e, i) => {
      if (!isObj(e)) return;
      arr(e.toPorts).forEach((p) => {
        arr(obj(obj(p)?.rules)?.dns).forEach((d) => {
          const s = obj(d);
          if (!s) return;
          anyDNS = true;
          const n = str(s.matchName);
          const pt = str(s.matchPattern);
          if (n) dns.names.push(n);
          if (pt) dns.patterns.push(pt);
        });
      });
      arr(e.toFQDNs).forEach((f, j) => {
        if (isObj(f)) fqdns.push({ path: at(path, 'egress', i, 'toFQDNs', j), sel: f });
      });
    });
  }
  if (fqdns.length === 0) return [];
  const first = fqdns[0];
  if (!anyDNS && first) {
    return [
      warning(
        first.path,
        'toFQDNs learns addresses only from DNS lookups that pass Cilium\'s DNS proxy, and no egress rule in this policy has DNS rules: add an egress rule to kube-dns (toEndpoints k8s:io.kubernetes.pod.namespace: kube-system, k8s:k8s-app: kube-dns) on port 53 protocol ANY with rules: {dns: [{matchPattern: "*"}]} — unless another policy selecting the same endpoints already has one',
      ),
    ];
  }
  const out: ValidationIssue[] = [];
  for (const { path, sel } of fqdns) {
    const name = str(sel.matchName);
    if (!name) continue;
    const covered =
      dns.names.some((n) => n.toLowerCase().replace(/\.$/, '') === name.toLowerCase().replace(/\.$/, '')) ||
      dns.patterns.some((p) => fqdnPatternMatches(p, name));
    if (!covered) {
      out.push(
        warning(
          at(path, 'matchName'),
          `the DNS rules of this policy do not allow looking up ${show(name)}, so the proxy refuses the lookup and toFQDNs never learns its addresses: add {matchName: ${show(name)}} (or a matching matchPattern) to rules.dns`,
        ),
      );
    }
  }
  return out;
}

const namespaceKeys = [PodNamespaceLabel, `k8s:${PodNamespaceLabel}`, `any:${PodNamespaceLabel}`];

/**
 * Cilium pins the endpointSelector of a namespaced policy to the policy's own namespace, so a
 * namespace label naming another namespace is overridden: the author's intent cannot be met.
 */
function checkSubjectNamespace(rule: Obj, rp: string, namespace: string): ValidationIssue[] {
  const ml = obj(obj(rule.endpointSelector)?.matchLabels);
  if (!ml) return [];
  return namespaceKeys.flatMap((k) => {
    const v = str(ml[k]);
    return v !== undefined && v !== namespace
      ? [
          warning(
            at(rp, 'endpointSelector', 'matchLabels', k),
            `a CiliumNetworkPolicy only applies to pods of its own namespace (${namespace}), so this selector does not reach namespace ${show(v)}: create the policy in namespace ${v}, or use a CiliumClusterwideNetworkPolicy`,
          ),
        ]
      : [];
  });
}
