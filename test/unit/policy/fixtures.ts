// A small cluster for policy tests: the upstream NetworkPolicy e2e model (namespaces x, y, z
// with pods a, b, c serving 80 and 81 over TCP and UDP), identities allocated from the pods'
// identity-relevant labels, and helpers to probe it through the engine.
import {
  CLUSTER_IDENTITY_MIN,
  labelSetKey,
  podIdentityLabels,
  reservedIdentities,
  cidrIdentityLabels,
  LOCAL_IDENTITY_FLAG,
  type LabelSet,
} from '../../../src/policy/labels.ts';
import type { NamedPort, PolicyEndpoint } from '../../../src/policy/resolve.ts';
import { PolicyEngine, type PolicyObject } from '../../../src/policy/engine.ts';
import type { EnforcementModeName } from '../../../src/datapath/constants.ts';

export interface PodDef {
  ns: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  ports?: NamedPort[];
  sa?: string;
}

export const namespaces = ['x', 'y', 'z'];
export const podNames = ['a', 'b', 'c'];

export const servePorts: NamedPort[] = [
  { name: 'serve-80-tcp', port: 80, protocol: 'TCP' },
  { name: 'serve-80-udp', port: 80, protocol: 'UDP' },
  { name: 'serve-81-tcp', port: 81, protocol: 'TCP' },
  { name: 'serve-81-udp', port: 81, protocol: 'UDP' },
];

/** The nine pods; x/a is 10.0.0.11, x/b 10.0.0.12, y/a 10.0.0.21 … */
export function modelPods(): PodDef[] {
  const out: PodDef[] = [];
  namespaces.forEach((ns, i) =>
    podNames.forEach((name, j) =>
      out.push({ ns, name, labels: { pod: name }, ip: `10.0.0.${(i + 1) * 10 + j + 1}`, ports: servePorts }),
    ),
  );
  return out;
}

export interface Cluster {
  identities: Map<number, LabelSet>;
  endpoints: PolicyEndpoint[];
  pods: PodDef[];
  /** identity of "ns/name" */
  id(pod: string): number;
  /** endpoint id of "ns/name" */
  ep(pod: string): number;
  nsLabels: Record<string, Record<string, string>>;
}

export function buildCluster(
  pods: PodDef[] = modelPods(),
  nsLabels: Record<string, Record<string, string>> = {},
): Cluster {
  const identities = reservedIdentities();
  const byKey = new Map<string, number>();
  const endpoints: PolicyEndpoint[] = [];
  const ids = new Map<string, number>();
  const eps = new Map<string, number>();
  const allNs: Record<string, Record<string, string>> = {};
  for (const p of pods) allNs[p.ns] = { 'kubernetes.io/metadata.name': p.ns, ns: p.ns, ...(nsLabels[p.ns] ?? {}) };
  let next = CLUSTER_IDENTITY_MIN;
  pods.forEach((p, i) => {
    const labels = podIdentityLabels({
      namespace: p.ns,
      podLabels: p.labels,
      namespaceLabels: allNs[p.ns],
      serviceAccount: p.sa,
    });
    const key = labelSetKey(labels);
    let id = byKey.get(key);
    if (id === undefined) {
      id = next++;
      byKey.set(key, id);
      identities.set(id, labels);
    }
    ids.set(`${p.ns}/${p.name}`, id);
    eps.set(`${p.ns}/${p.name}`, i + 1);
    endpoints.push({ id: i + 1, identity: id, ips: [p.ip], namedPorts: p.ports ?? [] });
  });
  const need = (m: Map<string, number>, k: string): number => {
    const v = m.get(k);
    if (v === undefined) throw new Error(`no pod ${k}`);
    return v;
  };
  return { identities, endpoints, pods, id: (k) => need(ids, k), ep: (k) => need(eps, k), nsLabels: allNs };
}

/** Adds CIDR identities (local scope) for the prefixes. */
export function addCidrIdentities(identities: Map<number, LabelSet>, prefixes: string[]): Map<string, number> {
  const out = new Map<string, number>();
  let next = LOCAL_IDENTITY_FLAG + 1 + [...identities.keys()].filter((k) => k >= LOCAL_IDENTITY_FLAG).length;
  for (const p of prefixes) {
    const id = next++;
    identities.set(id, cidrIdentityLabels(p));
    out.set(p, id);
  }
  return out;
}

export function engineFor(c: Cluster, policies: PolicyObject[], mode: EnforcementModeName = 'default'): PolicyEngine {
  const e = new PolicyEngine({ identities: c.identities, enforcementMode: mode });
  for (const ep of c.endpoints) e.upsertEndpoint(ep);
  for (const p of policies) e.upsertPolicy(p);
  return e;
}

/** Whether traffic from pod `from` to pod `to` passes both egress and ingress. */
export function allowed(
  e: PolicyEngine,
  c: Cluster,
  from: string,
  to: string,
  port: number,
  proto: string | number = 'TCP',
): boolean {
  const v = e.explain(c.id(from), c.ep(to), port, proto).verdict;
  return v === 'allowed' || v === 'no-enforcement';
}

/**
 * The truth table as the upstream e2e suite prints it: one row per source, one character per
 * destination, '.' reachable, 'X' not.
 */
export function matrix(e: PolicyEngine, c: Cluster, port: number, proto: string | number = 'TCP'): string[] {
  const names = c.pods.map((p) => `${p.ns}/${p.name}`);
  return names.map(
    (from) => `${from} ${names.map((to) => (allowed(e, c, from, to, port, proto) ? '.' : 'X')).join('')}`,
  );
}

/** The matrix expected when `reach(from, to)` says which pairs connect. */
export function expected(c: Cluster, reach: (from: PodDef, to: PodDef) => boolean): string[] {
  return c.pods.map((f) => `${f.ns}/${f.name} ${c.pods.map((t) => (reach(f, t) ? '.' : 'X')).join('')}`);
}

export const cnp = (namespace: string, name: string, spec: unknown): PolicyObject =>
  ({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name, namespace }, spec }) as PolicyObject;
export const ccnp = (name: string, spec: unknown): PolicyObject =>
  ({ apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', metadata: { name }, spec }) as PolicyObject;
export const netpol = (namespace: string, name: string, spec: unknown): PolicyObject =>
  ({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec }) as PolicyObject;
