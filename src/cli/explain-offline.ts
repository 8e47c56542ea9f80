// `policy explain --offline`: the agent's answer computed from manifests alone (Pods, Namespaces,
// policies) with the same policy engine. Loaded only for that command: the engine is the heaviest
// thing the command line can load.
import { PolicyEngine, formatRuleRef, podIdentityLabels } from '../policy/index.ts';
import type { ExplainResponse } from './agent-wire.ts';
import { readManifests } from './manifests.ts';

type Meta = { name?: string; namespace?: string; labels?: Record<string, string> };
type ContainerPort = { name?: string; containerPort: number; protocol?: string };
type PodSpec = { serviceAccountName?: string; containers?: Array<{ ports?: ContainerPort[] }> };

const policyKinds = new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy', 'NetworkPolicy']);

export function explainOffline(
  paths: string[],
  from: string,
  to: string,
  port: number,
  protocol: string,
): ExplainResponse {
  if (paths.length === 0) {
    throw new Error('--offline needs manifests: -f FILE|DIR|- (Pods, Namespaces and policies)');
  }
  const objs = readManifests(paths);
  const nsLabels = new Map<string, Record<string, string>>();
  for (const o of objs) {
    if (o.kind === 'Namespace') nsLabels.set(String((o.metadata as Meta)?.name), (o.metadata as Meta)?.labels ?? {});
  }
  const engine = new PolicyEngine({ enforcementMode: 'default', allowLocalhost: false });
  const pods = new Map<string, { id: number; identity: number }>();
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
    pods.set(`${ns}/${md.name}`, { id, identity: ident });
  }
  for (const o of objs) if (policyKinds.has(String(o.kind))) engine.upsertPolicy(o);
  const src = pods.get(from),
    dst = pods.get(to);
  if (!src) throw new Error(`no Pod ${from} in the manifests (FROM and TO are namespace/name of Pods given with -f)`);
  if (!dst) throw new Error(`no Pod ${to} in the manifests`);
  const e = engine.explain(src.identity, dst.id, port, protocol);
  const side = (d: typeof e.ingress) => ({
    verdict: d.verdict,
    rules: d.rules.map(formatRuleRef),
    policies: d.policies.map((p) => `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`),
  });
  return {
    verdict: e.verdict,
    fromIdentity: src.identity,
    to,
    port,
    protocol,
    egress: side(e.egress),
    ingress: side(e.ingress),
  };
}
