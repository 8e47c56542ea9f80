// Cilium's EndpointSelector over label sets (pkg/policy/api/selector.go), the namespace scoping
// that CiliumNetworkPolicy applies to its selectors (pkg/k8s/apis/cilium.io/utils), and the
// entities (pkg/policy/api/entity.go).
//
// Selector keys carry an optional source: "k8s:app" matches only labels of source k8s, "app" or
// "any:app" a label of that key from any source, "reserved:host" (or "$host") the reserved label.

import type { EndpointSelector } from '../api/types.generated.ts';
import {
  CLUSTER_ENTITY_MEMBERS,
  DEFAULT_CLUSTER_NAME,
  LabelSource,
  PodNamespaceLabel,
  PodNamespaceMetaLabelsPrefix,
  PolicyLabelCluster,
  SINGLE_RESERVED_ENTITIES,
  WORLD_ENTITY_MEMBERS,
} from './api/index.ts';
import { splitSourceKey, type LabelSet } from './labels.ts';

// Entity names are vocabulary; what they select is resolution, here.
export { ENTITIES } from './api/index.ts';

export type Operator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';

export interface Requirement {
  /** undefined: any source */
  source: string | undefined;
  key: string;
  operator: Operator;
  values: readonly string[];
}

/** A label selector in the shape both Cilium and Kubernetes use. */
export interface SelectorLike {
  matchLabels?: Readonly<Record<string, string | undefined>> | null;
  matchExpressions?: ReadonlyArray<{ key: string; operator: string; values?: readonly string[] | null }> | null;
}

export interface CompiledSelector {
  requirements: readonly Requirement[];
  /** printed form, for explanations: "k8s:app=web, any:tier in (a,b)" or "{}" */
  text: string;
}

/** Splits a selector key into source (undefined for any) and key, as Cilium's ParseSelectLabel. */
export function parseSelectorKey(k: string, defaultSource?: string): { source: string | undefined; key: string } {
  if (k.startsWith('$')) return { source: LabelSource.RESERVED, key: k.slice(1) };
  const colon = k.indexOf(':');
  if (colon < 0) return { source: defaultSource === LabelSource.ANY ? undefined : defaultSource, key: k };
  const source = k.slice(0, colon);
  return { source: source === LabelSource.ANY ? undefined : source, key: k.slice(colon + 1) };
}

const operators = new Set<string>(['In', 'NotIn', 'Exists', 'DoesNotExist']);

/**
 * Compiles a selector. `defaultSource` is the source of keys written without one: any (Cilium
 * selectors) or k8s (Kubernetes selectors translated by Cilium).
 */
export function compileSelector(sel: SelectorLike | undefined | null, defaultSource?: string): CompiledSelector {
  const reqs: Requirement[] = [];
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) {
    if (v === undefined) continue;
    reqs.push({ ...parseSelectorKey(k, defaultSource), operator: 'In', values: [v] });
  }
  for (const e of sel?.matchExpressions ?? []) {
    // An unknown operator selects nothing rather than everything (fail closed).
    const operator = (operators.has(e.operator) ? e.operator : 'In') as Operator;
    const values = operators.has(e.operator) ? [...(e.values ?? [])] : [];
    reqs.push({ ...parseSelectorKey(e.key, defaultSource), operator, values });
  }
  return { requirements: reqs, text: selectorText(reqs) };
}

function selectorText(reqs: readonly Requirement[]): string {
  if (reqs.length === 0) return '{}';
  return reqs
    .map((r) => {
      const k = `${r.source ?? 'any'}:${r.key}`;
      switch (r.operator) {
        case 'In':
          return r.values.length === 1 ? `${k}=${r.values[0]}` : `${k} in (${r.values.join(',')})`;
        case 'NotIn':
          return `${k} notin (${r.values.join(',')})`;
        case 'Exists':
          return k;
        case 'DoesNotExist':
          return `!${k}`;
      }
      return k;
    })
    .join(', ');
}

/** Labels indexed by bare key, computed once per label set. */
type LabelIndex = ReadonlyMap<string, ReadonlyArray<{ source: string; value: string }>>;
const indexCache = new WeakMap<LabelSet, LabelIndex>();

function indexOf(set: LabelSet): LabelIndex {
  let idx = indexCache.get(set);
  if (idx) return idx;
  const m = new Map<string, Array<{ source: string; value: string }>>();
  for (const [sk, value] of Object.entries(set)) {
    const { source, key } = splitSourceKey(sk);
    let list = m.get(key);
    if (!list) m.set(key, (list = []));
    list.push({ source, value });
  }
  idx = m;
  indexCache.set(set, idx);
  return idx;
}

function requirementHolds(r: Requirement, idx: LabelIndex): boolean {
  const found = (idx.get(r.key) ?? []).filter((l) => r.source === undefined || l.source === r.source);
  switch (r.operator) {
    case 'In':
      return found.some((l) => r.values.includes(l.value));
    case 'NotIn':
      return !found.some((l) => r.values.includes(l.value));
    case 'Exists':
      return found.length > 0;
    case 'DoesNotExist':
      return found.length === 0;
  }
  return false;
}

/** Whether the selector selects a label set. The empty selector selects every set. */
export function selects(sel: CompiledSelector, labels: LabelSet): boolean {
  if (sel.requirements.length === 0) return true;
  const idx = indexOf(labels);
  return sel.requirements.every((r) => requirementHolds(r, idx));
}

// --- namespace scoping -----------------------------------------------------------------------

const podNamespaceKeys = new Set([`k8s:${PodNamespaceLabel}`, `any:${PodNamespaceLabel}`, PodNamespaceLabel]);

function selectorKeys(sel: SelectorLike | undefined | null): string[] {
  return [...Object.keys(sel?.matchLabels ?? {}), ...(sel?.matchExpressions ?? []).map((e) => e.key)];
}

/** Keys as Cilium normalises them: a key without source is any:key. */
function normalisedKeys(sel: SelectorLike | undefined | null): string[] {
  return selectorKeys(sel).map((k) =>
    k.startsWith('$') ? `reserved:${k.slice(1)}` : k.includes(':') ? k : `any:${k}`,
  );
}

export function hasKey(sel: SelectorLike | undefined | null, keys: ReadonlySet<string>): boolean {
  return normalisedKeys(sel).some((k) => keys.has(k));
}

export function hasKeyPrefix(sel: SelectorLike | undefined | null, ...prefixes: string[]): boolean {
  return normalisedKeys(sel).some((k) => prefixes.some((p) => k.startsWith(p)));
}

function cloneSelector(sel: SelectorLike | undefined | null): {
  matchLabels: Record<string, string>;
  matchExpressions: Array<{ key: string; operator: string; values?: string[] }>;
} {
  const matchLabels: Record<string, string> = {};
  for (const [k, v] of Object.entries(sel?.matchLabels ?? {})) if (v !== undefined) matchLabels[k] = v;
  const matchExpressions = (sel?.matchExpressions ?? []).map((e) => ({
    key: e.key,
    operator: e.operator,
    values: [...(e.values ?? [])],
  }));
  return { matchLabels, matchExpressions };
}

/** Whether a subject selector names reserved:init (then CCNP peers are not limited to pods). */
export function selectsInit(sel: SelectorLike | undefined | null): boolean {
  return hasKey(sel, new Set(['reserved:init']));
}

/**
 * A peer selector (fromEndpoints / toEndpoints) as Cilium scopes it. In a CiliumNetworkPolicy
 * (namespace set) a selector that names neither the pod namespace label nor any namespace label
 * only selects pods of the policy's namespace; in a clusterwide policy (namespace undefined) a
 * selector without the pod namespace label only selects pods (Exists namespace label) unless the
 * subject selects initializing endpoints. Selectors on reserved labels are left alone.
 */
export function scopePeerSelector(
  sel: SelectorLike | undefined | null,
  namespace: string | undefined,
  subjectMatchesInit = false,
): SelectorLike {
  if (hasKeyPrefix(sel, 'reserved:')) return cloneSelector(sel);
  const out = cloneSelector(sel);
  if (hasKey(sel, podNamespaceKeys)) return out;
  if (namespace === undefined) {
    if (!subjectMatchesInit)
      out.matchExpressions.push({ key: `k8s:${PodNamespaceLabel}`, operator: 'Exists', values: [] });
  } else if (!hasKeyPrefix(sel, `k8s:${PodNamespaceMetaLabelsPrefix}`, `any:${PodNamespaceMetaLabelsPrefix}`)) {
    out.matchLabels[`k8s:${PodNamespaceLabel}`] = namespace;
  }
  return out;
}

/**
 * The subject selector (endpointSelector) of a CiliumNetworkPolicy always selects only pods of
 * the policy's namespace: a namespace named by the user is replaced by it. Clusterwide
 * (namespace undefined): unchanged.
 */
export function scopeSubjectSelector(
  sel: SelectorLike | undefined | null,
  namespace: string | undefined,
): SelectorLike {
  const out = cloneSelector(sel);
  if (namespace === undefined) return out;
  for (const k of Object.keys(out.matchLabels)) if (podNamespaceKeys.has(k)) delete out.matchLabels[k];
  out.matchExpressions = out.matchExpressions.filter((e) => !podNamespaceKeys.has(e.key));
  out.matchLabels[`k8s:${PodNamespaceLabel}`] = namespace;
  return out;
}

// --- entities --------------------------------------------------------------------------------

const reservedSel = (name: string): EndpointSelector => ({ matchLabels: { [`${LabelSource.RESERVED}:${name}`]: '' } });

/**
 * The selectors an entity stands for, or 'all' for the wildcard (every peer, identity 0).
 * Unknown entities and `none` select nothing.
 */
export function entitySelectors(
  entity: string,
  clusterName: string = DEFAULT_CLUSTER_NAME,
): EndpointSelector[] | 'all' {
  if (entity === 'all') return 'all';
  if (entity === 'world') return WORLD_ENTITY_MEMBERS.map(reservedSel);
  if (SINGLE_RESERVED_ENTITIES.has(entity)) return [reservedSel(entity)];
  if (entity === 'cluster') {
    return [
      ...CLUSTER_ENTITY_MEMBERS.map(reservedSel),
      { matchLabels: { [`k8s:${PolicyLabelCluster}`]: clusterName } },
    ];
  }
  return [];
}
