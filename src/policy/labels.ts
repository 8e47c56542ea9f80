// Cilium's label model (pkg/labels) and the identity-relevant labels of a pod.
//
// A label is source:key=value. A LabelSet is a plain record from "source:key" to value, so it
// serialises as JSON unchanged and reads like Cilium's own output: { 'k8s:app': 'web',
// 'reserved:host': '' }. The canonical key of a set, used to allocate identities, is the sorted
// list of "source:key=value;" strings, as Cilium's Labels.SortedList writes it.

import { formatPrefix, maskedPrefix, parsePrefix, type Prefix } from '../lib/ip.ts';
import {
  DEFAULT_CLUSTER_NAME,
  LabelSource,
  PodNamespaceLabel,
  PodNamespaceMetaLabelsPrefix,
  PolicyLabelCluster,
  PolicyLabelServiceAccount,
  ReservedIdentity,
  reservedIdentityNames,
} from './api/index.ts';

// The vocabulary these functions speak, for modules that import it with the label functions.
export {
  CLUSTER_IDENTITY_MAX,
  CLUSTER_IDENTITY_MIN,
  DEFAULT_CLUSTER_NAME,
  LabelSource,
  LOCAL_IDENTITY_FLAG,
  PodNamespaceLabel,
  PodNamespaceMetaLabelsPrefix,
  ReservedIdentity,
  reservedIdentityNames,
} from './api/index.ts';

export interface Label {
  source: string;
  key: string;
  value: string;
}

/** "source:key" → value. */
export type LabelSet = Readonly<Record<string, string>>;

/** The labels of every reserved identity. */
export function reservedIdentities(): Map<number, LabelSet> {
  const out = new Map<number, LabelSet>();
  for (const [id, name] of Object.entries(reservedIdentityNames))
    out.set(Number(id), { [`${LabelSource.RESERVED}:${name}`]: '' });
  return out;
}

// --- parsing and printing --------------------------------------------------------------------

/**
 * Parses "source:key=value", "source:key", "key=value" or "$key" (reserved). Without a source the
 * label gets `defaultSource` (Cilium: unspec for labels, any for selector keys).
 */
export function parseLabel(text: string, defaultSource: string = LabelSource.UNSPEC): Label {
  let rest = text;
  let source = defaultSource;
  if (rest.startsWith('$')) {
    source = LabelSource.RESERVED;
    rest = rest.slice(1);
  } else {
    const colon = rest.indexOf(':');
    const eq = rest.indexOf('=');
    if (colon >= 0 && (eq < 0 || colon < eq)) {
      source = rest.slice(0, colon);
      rest = rest.slice(colon + 1);
    }
  }
  const eq = rest.indexOf('=');
  if (eq < 0) return { source, key: rest, value: '' };
  return { source, key: rest.slice(0, eq), value: rest.slice(eq + 1) };
}

/** "source:key=value", or "source:key" when the value is empty (Cilium's Label.String). */
export function formatLabel(l: Label): string {
  return l.value === '' ? `${l.source}:${l.key}` : `${l.source}:${l.key}=${l.value}`;
}

/** Splits a set key "source:key" into its source and key. */
export function splitSourceKey(sk: string): { source: string; key: string } {
  const colon = sk.indexOf(':');
  return colon < 0 ? { source: LabelSource.UNSPEC, key: sk } : { source: sk.slice(0, colon), key: sk.slice(colon + 1) };
}

/** Builds a set from labels given as strings ("k8s:app=web") or objects. */
export function labelSet(labels: Iterable<string | Label>): LabelSet {
  const out: Record<string, string> = {};
  for (const l of labels) {
    const p = typeof l === 'string' ? parseLabel(l) : l;
    out[`${p.source}:${p.key}`] = p.value;
  }
  return out;
}

/** Kubernetes labels (a plain key → value record) as a set with one source. */
export function fromKubernetesLabels(
  labels: Readonly<Record<string, string | undefined>> | undefined,
  source: string = LabelSource.K8S,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(labels ?? {})) if (v !== undefined) out[`${source}:${k}`] = v;
  return out;
}

/** The labels of a set, sorted by their printed form. */
export function labelsOf(set: LabelSet): Label[] {
  return Object.entries(set)
    .map(([sk, value]) => ({ ...splitSourceKey(sk), value }))
    .sort((a, b) => cmp(sortForm(a), sortForm(b)));
}

const sortForm = (l: Label): string => `${l.source}:${l.key}=${l.value}`;
const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The canonical, sorted key of a label set: "k8s:a=1;k8s:b=2;" (one identity per key). */
export function labelSetKey(set: LabelSet): string {
  return labelsOf(set)
    .map((l) => `${sortForm(l)};`)
    .join('');
}

/** Human-readable sorted list, as `cilium identity list` prints it. */
export function formatLabelSet(set: LabelSet): string[] {
  return labelsOf(set).map(formatLabel);
}

// --- identity-relevant labels ----------------------------------------------------------------

/**
 * One entry of Cilium's label prefix configuration (pkg/labelsfilter): a regular expression that
 * must match at the start of the label key, optionally limited to one source; `ignore` entries
 * ("!pattern") exclude.
 */
export interface LabelPrefix {
  source?: string;
  pattern: RegExp;
  ignore: boolean;
  text: string;
}

export interface LabelFilter {
  prefixes: LabelPrefix[];
  /** true once an inclusive prefix was configured by the user: then only included labels pass */
  allowList: boolean;
}

/** Cilium's default label prefixes: what makes a label part of an identity. */
export const DEFAULT_LABEL_PREFIXES: readonly string[] = [
  'reserved:.*',
  'io\\.kubernetes\\.pod\\.namespace',
  'io\\.cilium\\.k8s\\.namespace\\.labels',
  'app\\.kubernetes\\.io',
  'io\\.cilium\\.k8s\\.policy\\.cluster',
  'io\\.cilium\\.k8s\\.policy\\.serviceaccount',
  '!io\\.kubernetes',
  '!kubernetes\\.io',
  '!statefulset\\.kubernetes\\.io/pod-name',
  '!apps\\.kubernetes\\.io/pod-index',
  '!batch\\.kubernetes\\.io/job-completion-index',
  '!batch\\.kubernetes\\.io/controller-uid',
  '!.*beta\\.kubernetes\\.io',
  '!k8s\\.io',
  '!pod-template-generation',
  '!pod-template-hash',
  '!controller-revision-hash',
  '!controller-uid',
  '!annotation.*',
  '!etcd_node',
  '!topology\\.kubernetes\\.io',
];

/** Parses one prefix as Cilium's --labels option takes it: "[source:][!]regexp". */
export function parseLabelPrefix(text: string): LabelPrefix {
  let source: string | undefined;
  let rest = text;
  const colon = text.indexOf(':');
  if (colon >= 0) {
    source = text.slice(0, colon);
    rest = text.slice(colon + 1);
  }
  const ignore = rest.startsWith('!');
  if (ignore) rest = rest.slice(1);
  if (rest === '')
    throw new Error(
      `label prefix ${JSON.stringify(text)} is empty: give a regular expression such as app\\.kubernetes\\.io`,
    );
  return { source, pattern: new RegExp(rest), ignore, text };
}

/**
 * Cilium's filter: the defaults, plus `extra` prefixes (as --labels gives them). An inclusive
 * extra prefix turns the filter into an allow list.
 */
export function makeLabelFilter(
  extra: readonly string[] = [],
  base: readonly string[] = DEFAULT_LABEL_PREFIXES,
): LabelFilter {
  const prefixes = base.map(parseLabelPrefix);
  let allowList = false;
  for (const e of extra) {
    if (e === '') continue;
    const p = parseLabelPrefix(e);
    if (!p.ignore) allowList = true;
    prefixes.push(p);
  }
  return { prefixes, allowList };
}

export const defaultLabelFilter: LabelFilter = makeLabelFilter();

/** Length of the match when `p` matches `key` from its first character, else -1. */
function matchLength(p: LabelPrefix, source: string, key: string): number {
  if (p.source !== undefined && p.source !== source) return -1;
  const m = p.pattern.exec(key);
  return m && m.index === 0 ? m[0].length : -1;
}

/** Whether the label is identity-relevant: the longest include must beat the shortest ignore. */
export function isIdentityRelevant(l: Label, filter: LabelFilter = defaultLabelFilter): boolean {
  let included = 0;
  let ignored = 0;
  for (const p of filter.prefixes) {
    const len = matchLength(p, l.source, l.key);
    if (len < 0) continue;
    if (p.ignore) {
      if (ignored === 0 || len < ignored) ignored = len;
    } else if (len > included) {
      included = len;
    }
  }
  return (!filter.allowList && ignored === 0) || included > ignored;
}

/** The identity-relevant part of a set. */
export function filterLabels(set: LabelSet, filter: LabelFilter = defaultLabelFilter): LabelSet {
  const out: Record<string, string> = {};
  for (const [sk, value] of Object.entries(set)) {
    const { source, key } = splitSourceKey(sk);
    if (isIdentityRelevant({ source, key, value }, filter)) out[sk] = value;
  }
  return out;
}

export interface PodLabelsInput {
  namespace: string;
  podLabels?: Readonly<Record<string, string | undefined>>;
  namespaceLabels?: Readonly<Record<string, string | undefined>>;
  /** spec.serviceAccountName; Kubernetes fills in "default" */
  serviceAccount?: string;
  clusterName?: string;
  filter?: LabelFilter;
}

/**
 * The labels Cilium derives a pod's identity from: its own labels, its namespace's labels under
 * io.cilium.k8s.namespace.labels., its namespace, service account and cluster, all with source
 * k8s, then filtered by the label prefixes.
 */
export function podIdentityLabels(input: PodLabelsInput): LabelSet {
  const all: Record<string, string> = fromKubernetesLabels(input.podLabels);
  for (const [k, v] of Object.entries(input.namespaceLabels ?? {})) {
    if (v !== undefined) all[`k8s:${PodNamespaceMetaLabelsPrefix}${k}`] = v;
  }
  all[`k8s:${PodNamespaceLabel}`] = input.namespace;
  all[`k8s:${PolicyLabelServiceAccount}`] = input.serviceAccount || 'default';
  all[`k8s:${PolicyLabelCluster}`] = input.clusterName || DEFAULT_CLUSTER_NAME;
  return filterLabels(all, input.filter);
}

// --- CIDR identities -------------------------------------------------------------------------

/** The label key Cilium gives a prefix: IPv6 colons become '-' (':' separates the source). */
export function cidrLabelKey(prefix: string | Prefix): string {
  const p = typeof prefix === 'string' ? parsePrefixOrHost(prefix) : prefix;
  if (!p) throw new Error(`not a CIDR: ${JSON.stringify(prefix)}`);
  return formatPrefix(maskedPrefix(p)).replaceAll(':', '-');
}

/** A prefix given as a CIDR, or a bare address meaning the single host. */
export function parsePrefixOrHost(text: string): Prefix | undefined {
  if (text.includes('/')) return parsePrefix(text);
  return parsePrefix(`${text}/${text.includes(':') ? 128 : 32}`);
}

/** The labels of the identity of a CIDR prefix: cidr:<prefix> and the world of its family. */
export function cidrIdentityLabels(prefix: string | Prefix): LabelSet {
  const p = typeof prefix === 'string' ? parsePrefixOrHost(prefix) : prefix;
  if (!p) throw new Error(`not a CIDR: ${JSON.stringify(prefix)}`);
  return {
    [`cidr:${cidrLabelKey(p)}`]: '',
    [`${LabelSource.RESERVED}:${reservedIdentityNames[p.addr.family === 4 ? ReservedIdentity.WORLD_IPV4 : ReservedIdentity.WORLD_IPV6]}`]:
      '',
  };
}

/**
 * The labels of a remote node's own identity (Cilium's node-selector labels): reserved:remote-node,
 * so the `remote-node` entity keeps matching it, and the node's Kubernetes labels with source node.
 */
export function nodeIdentityLabels(labels: Readonly<Record<string, string | undefined>> | undefined): LabelSet {
  return {
    [`${LabelSource.RESERVED}:${reservedIdentityNames[ReservedIdentity.REMOTE_NODE]}`]: '',
    ...fromKubernetesLabels(labels, LabelSource.NODE),
  };
}

/** The prefix of a CIDR identity's labels, if it is one. */
export function cidrOfLabels(set: LabelSet): Prefix | undefined {
  for (const sk of Object.keys(set)) {
    if (!sk.startsWith('cidr:')) continue;
    const key = sk.slice(5);
    const text = key.includes('-') ? key.replaceAll('-', ':') : key;
    const p = parsePrefix(text);
    if (p) return p;
  }
  return undefined;
}
