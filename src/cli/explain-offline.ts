// `policy explain --offline`: the agent's answer computed from manifests alone (Pods, Namespaces,
// policies) with the same policy engine. Loaded only for that command: the engine is the heaviest
// thing the command line can load.
import { PolicyEngine, formatRuleRef, podIdentityLabels } from '../policy/index.ts';
import type { ExplainResponse, ServiceExplainResponse } from './agent-wire.ts';
import { readManifests } from './manifests.ts';

type Meta = { name?: string; namespace?: string; labels?: Record<string, string> };
type ContainerPort = { name?: string; containerPort: number; protocol?: string };
type PodSpec = { serviceAccountName?: string; containers?: Array<{ ports?: ContainerPort[] }> };

const policyKinds = new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy']);

interface OfflinePod {
  id: number;
  identity: number;
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ports: ContainerPort[];
}

interface Offline {
  engine: PolicyEngine;
  pods: Map<string, OfflinePod>;
  objs: ReturnType<typeof readManifests>;
}

function loadOffline(paths: string[]): Offline {
  if (paths.length === 0) {
    throw new Error('--offline needs manifests: -f FILE|DIR|- (Pods, Namespaces and policies)');
  }
  const objs = readManifests(paths);
  const nsLabels = new Map<string, Record<string, string>>();
  for (const o of objs) {
    if (o.kind === 'Namespace') nsLabels.set(String((o.metadata as Meta)?.name), (o.metadata as Meta)?.labels ?? {});
  }
  const engine = new PolicyEngine({ enforcementMode: 'default', allowLocalhost: false });
  const pods = new Map<string, OfflinePod>();
  let next = 1,
    identity = 256;
  for (const o of objs.filter((x) => x.kind === 'Pod')) {
    const md = o.metadata as Meta;
    const spec = o.spec as PodSpec | undefined;
    const ns = md.namespace ?? 'default';
    const id = next++,
      ident = identity++;
    engine.upsertIdentity(
      ident,
      podIdentityLabels({
        namespace: ns,
        podLabels: md.labels ?? {},
        namespaceLabels: nsLabels.get(ns) ?? {},
        serviceAccount: spec?.serviceAccountName ?? 'default',
      }),
    );
    const namedPorts = (spec?.containers ?? [])
      .flatMap((c) => c.ports ?? [])
      .filter((p) => p.name)
      .map((p) => ({ name: p.name!, port: p.containerPort, protocol: p.protocol ?? 'TCP' }));
    engine.upsertEndpoint({ id, identity: ident, namedPorts });
    const ports = (spec?.containers ?? []).flatMap((c) => c.ports ?? []);
    pods.set(`${ns}/${md.name}`, {
      id,
      identity: ident,
      namespace: ns,
      name: String(md.name),
      labels: md.labels ?? {},
      ports,
    });
  }
  for (const o of objs) if (policyKinds.has(String(o.kind))) engine.upsertPolicy(o);
  return { engine, pods, objs };
}

const sideOf = (d: ReturnType<PolicyEngine['explain']>['ingress']) => ({
  verdict: d.verdict,
  rules: d.rules.map(formatRuleRef),
  policies: d.policies.map((p) => `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`),
});

export function explainOffline(
  paths: string[],
  from: string,
  to: string,
  port: number,
  protocol: string,
): ExplainResponse {
  const { engine, pods } = loadOffline(paths);
  const src = pods.get(from),
    dst = pods.get(to);
  if (!src) throw new Error(`no Pod ${from} in the manifests (FROM and TO are namespace/name of Pods given with -f)`);
  if (!dst) throw new Error(`no Pod ${to} in the manifests`);
  const e = engine.explain(src.identity, dst.id, port, protocol);
  return {
    verdict: e.verdict,
    fromIdentity: src.identity,
    to,
    port,
    protocol,
    egress: sideOf(e.egress),
    ingress: sideOf(e.ingress),
  };
}

type ServicePort = { name?: string; port: number; targetPort?: number | string; protocol?: string };
type ServiceSpec = { selector?: Record<string, string>; ports?: ServicePort[]; clusterIP?: string };

/**
 * `policy explain FROM svc:NS/NAME --offline`: the Service's selector picks its Pods among the
 * manifests (no EndpointSlices offline: readiness is assumed), its port gives each Pod's target
 * port (a named targetPort resolved per Pod), and each Pod is explained as the agent would.
 */
export function explainServiceOffline(
  paths: string[],
  from: string,
  ref: string,
  port: number,
  protocol: string,
): ServiceExplainResponse {
  const { engine, pods, objs } = loadOffline(paths);
  const src = pods.get(from);
  if (!src) throw new Error(`no Pod ${from} in the manifests (FROM is namespace/name of a Pod given with -f)`);
  const [namespace = '', name = ''] = ref.split('/');
  const svc = objs.find(
    (o) =>
      o.kind === 'Service' &&
      (o.metadata as Meta)?.name === name &&
      ((o.metadata as Meta)?.namespace ?? 'default') === namespace,
  );
  if (!svc) throw new Error(`no Service ${ref} in the manifests`);
  const spec = (svc.spec ?? {}) as ServiceSpec;
  const sp = (spec.ports ?? []).find((p) => p.port === port && (p.protocol ?? 'TCP') === protocol);
  if (!sp) throw new Error(`Service ${ref} has no port ${port}/${protocol}`);
  const selector = spec.selector ?? {};
  const selected = Object.keys(selector).length
    ? [...pods.values()].filter(
        (p) => p.namespace === namespace && Object.entries(selector).every(([k, v]) => p.labels[k] === v),
      )
    : [];
  const backends = selected.flatMap((p) => {
    const target =
      typeof sp.targetPort === 'string'
        ? p.ports.find((c) => c.name === sp.targetPort && (c.protocol ?? 'TCP') === protocol)?.containerPort
        : (sp.targetPort ?? sp.port);
    if (target === undefined) return []; // the EndpointSlice controller leaves such a Pod out
    const e = engine.explain(src.identity, p.id, target, protocol);
    const pod = `${p.namespace}/${p.name}`;
    return [
      {
        backend: pod,
        pod,
        verdict: e.verdict,
        port: target,
        protocol,
        egress: sideOf(e.egress),
        ingress: sideOf(e.ingress),
      },
    ];
  });
  const verdicts = new Set(backends.map((b) => (b.verdict === 'no-enforcement' ? 'allowed' : b.verdict)));
  return {
    verdict: backends.length === 0 ? 'no-backends' : verdicts.size === 1 ? [...verdicts][0]! : 'mixed',
    fromIdentity: src.identity,
    to: `svc:${ref}`,
    service: ref,
    frontend: `${spec.clusterIP ?? ref}:${port}/${protocol}`,
    port,
    protocol,
    backends,
  };
}
