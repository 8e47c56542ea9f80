// Builders for service-table inputs and a one-line rendering of entries, so each table row reads as
// the scenario it is: `ClusterIP 10.96.0.10:53/UDP kube-system/kube-dns:dns -> 10.244.1.5:53@n1`.
import type {
  EndpointInput,
  EndpointSliceInput,
  NodeInput,
  PodInput,
  ServiceEntry,
  ServiceInput,
  ServicePortInput,
  ContainerPortInput,
} from '../../../src/services/types.ts';

export const NODE: NodeInput = { name: 'n1', addresses: ['192.168.1.10', 'fd00:1::10'] };

export interface SvcOpts {
  type?: string;
  clusterIP?: string;
  clusterIPs?: string[];
  families?: string[];
  ports?: (number | ServicePortInput)[];
  externalIPs?: string[];
  ingress?: { ip?: string; ipMode?: string; hostname?: string }[];
  etp?: string;
  itp?: string;
  affinity?: string;
  affinityTimeout?: number;
  sourceRanges?: string[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  created?: string;
  allocateNodePorts?: boolean;
}

export function svc(ns: string, name: string, o: SvcOpts = {}): ServiceInput {
  const clusterIP = o.clusterIP ?? o.clusterIPs?.[0] ?? '10.96.0.1';
  return {
    metadata: {
      namespace: ns,
      name,
      labels: o.labels ?? {},
      annotations: o.annotations ?? {},
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
    },
    spec: {
      type: o.type ?? 'ClusterIP',
      clusterIP,
      ...(o.clusterIPs ? { clusterIPs: o.clusterIPs } : {}),
      ...(o.families ? { ipFamilies: o.families } : {}),
      ports: (o.ports ?? [80]).map((p) => (typeof p === 'number' ? { port: p, protocol: 'TCP' } : p)),
      ...(o.externalIPs ? { externalIPs: o.externalIPs } : {}),
      ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
      ...(o.itp ? { internalTrafficPolicy: o.itp } : {}),
      ...(o.affinity ? { sessionAffinity: o.affinity } : {}),
      ...(o.affinityTimeout !== undefined
        ? { sessionAffinityConfig: { clientIP: { timeoutSeconds: o.affinityTimeout } } }
        : {}),
      ...(o.sourceRanges ? { loadBalancerSourceRanges: o.sourceRanges } : {}),
      ...(o.allocateNodePorts !== undefined ? { allocateLoadBalancerNodePorts: o.allocateNodePorts } : {}),
    },
    status: { loadBalancer: { ingress: o.ingress ?? [] } },
  };
}

export interface EpOpts {
  node?: string;
  zone?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
  noConditions?: boolean;
  pod?: string | { namespace: string; name: string };
  extra?: string[];
}

export function ep(address: string, o: EpOpts = {}): EndpointInput {
  const conditions: EndpointInput['conditions'] = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  const out: EndpointInput = { addresses: [address, ...(o.extra ?? [])] };
  if (!o.noConditions) out.conditions = conditions;
  if (o.node) out.nodeName = o.node;
  if (o.zone) out.zone = o.zone;
  if (typeof o.pod === 'string') out.targetRef = { kind: 'Pod', name: o.pod };
  else if (o.pod) out.targetRef = { kind: 'Pod', ...o.pod };
  return out;
}

export interface SliceOpts {
  name?: string;
  addressType?: string;
  ports?: { name?: string; port?: number; protocol?: string }[];
  label?: string | null;
}

/** A slice of Service ns/service; ports default to one unnamed TCP port 8080. */
export function slice(ns: string, service: string, endpoints: EndpointInput[], o: SliceOpts = {}): EndpointSliceInput {
  const labels: Record<string, string> = {};
  if (o.label !== null) labels['kubernetes.io/service-name'] = o.label ?? service;
  return {
    metadata: { namespace: ns, name: o.name ?? `${service}-abcde`, labels },
    addressType: o.addressType ?? 'IPv4',
    endpoints,
    ports: o.ports ?? [{ port: 8080, protocol: 'TCP' }],
  };
}

export interface PodOpts {
  node?: string;
  ips?: string[];
  phase?: string;
  hostNetwork?: boolean;
  deleting?: boolean;
  ports?: ContainerPortInput[];
  initPorts?: ContainerPortInput[];
  created?: string;
}

export function pod(ns: string, name: string, o: PodOpts = {}): PodInput {
  const ips = o.ips ?? ['10.244.1.7'];
  return {
    metadata: {
      namespace: ns,
      name,
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      ...(o.deleting ? { deletionTimestamp: '2026-01-02T00:00:00Z' } : {}),
    },
    spec: {
      nodeName: o.node ?? 'n1',
      ...(o.hostNetwork ? { hostNetwork: true } : {}),
      containers: [{ ports: o.ports ?? [] }],
      ...(o.initPorts ? { initContainers: [{ ports: o.initPorts }] } : {}),
    },
    status: { phase: o.phase ?? 'Running', podIP: ips[0], podIPs: ips.map((ip) => ({ ip })) },
  };
}

function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * One line per entry: `TYPE addr:port/PROTO[/i] ns/name:portName -> be1,be2 [aff=N] [src=a,b] [eLocal] [iLocal]`;
 * a backend is `addr:port` plus `@node` when it has one and ` (t)` when terminating.
 */
export function render(e: ServiceEntry): string {
  const fe = e.frontend;
  const scope = fe.scope === 'internal' ? '/i' : '';
  const bes = e.backends
    .map(
      (b) =>
        `${hostPort(b.address, b.port)}${b.nodeName ? '@' + b.nodeName : ''}${b.state === 'terminating' ? '(t)' : ''}`,
    )
    .join(',');
  let s = `${fe.type} ${hostPort(fe.address, fe.port)}/${fe.protocol}${scope} ${e.service.namespace}/${e.service.name}:${e.portName} -> ${bes}`;
  if (e.sessionAffinityTimeoutSec !== undefined) s += ` aff=${e.sessionAffinityTimeoutSec}`;
  if (e.sourceRanges.length > 0) s += ` src=${e.sourceRanges.join(',')}`;
  if (e.externalTrafficLocal) s += ' eLocal';
  if (e.internalTrafficLocal) s += ' iLocal';
  return s;
}

/** Deterministic shuffle (mulberry32), for order-independence checks. */
export function shuffled<T>(xs: readonly T[], seed: number): T[] {
  let a = seed >>> 0;
  const rnd = (): number => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
