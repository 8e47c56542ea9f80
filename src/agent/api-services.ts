// The local API's service answers: /v1/service (the frontends the kernel holds, named, with their
// backends and states, as `cilium service list`), /v1/bpf/lb (the LB maps raw, as `cilium bpf lb
// list`) and `policy explain` towards a Service (one answer per backend a new flow may pick).
import { BackendStateCode, IpProto, SvcFlags } from '../datapath/constants.ts';
import type { LbFamilyMaps } from '../datapath/lb-maps.ts';
import { evaluate, formatRuleRef, type Explanation } from '../policy/index.ts';
import type { AgentView, ServiceInfo } from './types.ts';

const PROTO_NAMES: Record<number, string> = { [IpProto.TCP]: 'TCP', [IpProto.UDP]: 'UDP', 132: 'SCTP' };
const protoName = (n: number) => PROTO_NAMES[n] ?? String(n);
const stateName = (n: number) => Object.entries(BackendStateCode).find(([, v]) => v === n)?.[0] ?? `state ${n}`;

/** Cilium's flag words in `cilium bpf lb list`'s brackets. */
function flagNames(flags: number): string[] {
  const out: string[] = [];
  if (flags & SvcFlags.NODEPORT) out.push('NodePort');
  else if (flags & SvcFlags.LOADBALANCER) out.push('LoadBalancer');
  else if (flags & SvcFlags.EXTERNAL_IP) out.push('ExternalIP');
  else if (flags & SvcFlags.HOSTPORT) out.push('HostPort');
  else out.push('ClusterIP');
  out.push(flags & SvcFlags.ROUTABLE ? 'routable' : 'non-routable');
  if (flags & SvcFlags.AFFINITY) out.push('sessionAffinity');
  if (flags & SvcFlags.SOURCE_RANGE) out.push('check source-range');
  if (flags & SvcFlags.EXT_LOCAL_SCOPE) out.push('Local');
  return out;
}

function familyRows(m: LbFamilyMaps) {
  return {
    services: m.services.entries().map(([k, v]) => ({
      family: m.family,
      frontend: `${m.family === 6 ? `[${k.address}]` : k.address}:${k.port}/${protoName(k.protocol)}`,
      scope: k.scope,
      slot: k.slot,
      revNatId: v.revNatIndex,
      ...(k.slot === 0
        ? { count: v.count, flags: flagNames(v.flags), flagBits: v.flags, flags2: v.flags2 }
        : { backendId: v.backendId }),
    })),
    backends: m.backends.entries().map(([id, b]) => ({
      id,
      address: b.address,
      port: b.port,
      protocol: protoName(b.protocol),
      state: stateName(b.state),
    })),
    reverseNat: m.reverseNat.entries().map(([id, fe]) => ({ id, address: fe.address, port: fe.port })),
    sourceRanges: m.sourceRange.entries().map(([k]) => ({ revNatId: k.revNatId, cidr: k.cidr })),
    maglev: m.maglev.entries().map(([revNatId, innerMapId]) => ({ revNatId, innerMapId })),
  };
}

/** The LB maps as the kernel holds them, both families. */
export function bpfLbList(agent: Pick<AgentView, 'datapath'>) {
  const v4 = familyRows(agent.datapath.lb.v4);
  const v6 = familyRows(agent.datapath.lb.v6);
  const order = (a: { revNatId: number; slot: number }, b: { revNatId: number; slot: number }) =>
    a.revNatId - b.revNatId || a.slot - b.slot;
  return {
    services: [...v4.services, ...v6.services].sort(order),
    backends: [...v4.backends, ...v6.backends].sort((a, b) => a.id - b.id),
    reverseNat: [...v4.reverseNat, ...v6.reverseNat].sort((a, b) => a.id - b.id),
    sourceRanges: [...v4.sourceRanges, ...v6.sourceRanges],
    maglev: [...v4.maglev, ...v6.maglev],
  };
}

export class ServiceNotFound extends Error {}

export interface ExplainSide {
  verdict: string;
  rules: string[];
  policies: string[];
  endpoint?: number | undefined;
}

function side(d: Explanation['ingress']): ExplainSide {
  return {
    verdict: d.verdict,
    rules: d.rules.map(formatRuleRef),
    policies: d.policies.map((p) => `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`),
    endpoint: d.endpointId,
  };
}

/** The frontends of `ns/name` a client would use on this port and protocol (ClusterIPs first). */
export function frontendsFor(agent: AgentView, ref: string, port: number, protocol: string): ServiceInfo[] {
  const src = agent.serviceSource;
  if (!src) throw new ServiceNotFound('the agent runs without kube-proxy replacement: it load-balances no Service');
  const [namespace = '', name = ''] = ref.split('/');
  const all = src.serviceFrontends(namespace, name);
  if (all.length === 0) throw new ServiceNotFound(`no Service ${ref} in the agent's service maps`);
  const matching = all.filter((s) => s.frontend.protocol === protocol && (port === 0 || s.frontend.port === port));
  if (matching.length === 0) {
    const ports = [...new Set(all.map((s) => `${s.frontend.port}/${s.frontend.protocol}`))].join(', ');
    throw new ServiceNotFound(`Service ${ref} has no port ${port}/${protocol} (it has ${ports})`);
  }
  const rank = (s: ServiceInfo) => (s.frontend.type === 'ClusterIP' ? 0 : 1);
  return matching.sort((a, b) => rank(a) - rank(b) || a.id - b.id);
}

/**
 * `policy explain FROM svc:NS/NAME`: the Service's frontend, and for each backend a new flow may
 * pick the verdict of FROM → that backend on its (target) port — what the datapath decides after
 * translation. A backend on another node gets the source's egress side only (its ingress is that
 * node's to judge).
 */
export function explainService(agent: AgentView, from: number, ref: string, port: number, protocol: string) {
  const [fe] = frontendsFor(agent, ref, port, protocol);
  if (!fe) throw new ServiceNotFound(`no Service ${ref}`);
  const locals = agent.localEndpoints();
  const srcEp = locals.filter((e) => e.identity === from).sort((a, b) => a.id - b.id)[0];
  const srcPolicy = srcEp ? agent.engine.policyOf(srcEp.id) : undefined;
  const backends = fe.backends.slice(0, fe.selectable).map((b) => {
    const local = locals.find((e) => e.ip === b.address);
    const who = b.pod ? `${b.pod.namespace}/${b.pod.name}` : (agent.remoteEndpointByIp(b.address) ?? undefined);
    const pod = typeof who === 'string' ? who : who ? `${who.namespace}/${who.name}` : undefined;
    const base = { backend: `${b.address}:${b.port}`, ...(pod ? { pod } : {}), port: b.port, protocol };
    if (local) {
      const e = agent.engine.explain(from, local.id, b.port, protocol);
      return { ...base, verdict: e.verdict, egress: side(e.egress), ingress: side(e.ingress) };
    }
    const peer = agent.datapath.maps.ipcache.lookup(`${b.address}${b.address.includes(':') ? '/128' : '/32'}`);
    const egress: ExplainSide = srcPolicy
      ? side({ ...evaluate(srcPolicy, 'egress', peer?.identity ?? 2, protocol, b.port), endpointId: srcEp?.id })
      : { verdict: 'no-enforcement', rules: [], policies: [] };
    const ingress: ExplainSide = { verdict: 'unknown', rules: [], policies: [] };
    const verdict = egress.verdict === 'allowed' || egress.verdict === 'no-enforcement' ? 'unknown' : egress.verdict;
    return { ...base, verdict, egress, ingress, note: 'backend on another node: its agent judges ingress' };
  });
  const verdicts = new Set(backends.map((b) => (b.verdict === 'no-enforcement' ? 'allowed' : b.verdict)));
  const verdict = backends.length === 0 ? 'no-backends' : verdicts.size === 1 ? [...verdicts][0]! : 'mixed';
  const f = fe.frontend;
  return {
    verdict,
    fromIdentity: from,
    to: `svc:${ref}`,
    service: ref,
    frontend: `${f.address.includes(':') ? `[${f.address}]` : f.address}:${f.port}/${f.protocol}`,
    port: f.port,
    protocol,
    backends,
  };
}
