// One Service (+ its slices) → its frontends, each with the backends that serve it. Frontends, as
// Cilium's agent derives them with kube-proxy replacement on:
// - ClusterIP: every spec.clusterIPs address (spec.clusterIP when the list is empty), dual stack;
// - NodePort (types NodePort and LoadBalancer): every port with a nodePort, on every address of this
//   node of the Service's families (spec.ipFamilies, else those of its cluster IPs); a LoadBalancer
//   Service with allocateLoadBalancerNodePorts=false has nodePort 0 and so no NodePort frontend;
// - LoadBalancer: status.loadBalancer.ingress[].ip (skipping ipMode Proxy, KEP-1860), the addresses
//   our LB-IPAM writes; NodePort and LoadBalancer addresses get Cilium's internal twin, see
//   traffic-policy.ts;
// - ExternalIP: spec.externalIPs, on any Service type;
// Skipped entirely: ExternalName Services, headless ones (clusterIP None or the headless label) and
// those labelled service.kubernetes.io/service-proxy-name (another proxy's).
import { formatAddr, formatPrefix, maskedPrefix, parseAddr, parsePrefix, type Family } from '../lib/ip.ts';
import {
  ANNOTATION_LB_SOURCE_RANGES,
  DEFAULT_AFFINITY_TIMEOUT_SEC,
  LABEL_HEADLESS,
  LABEL_SERVICE_PROXY_NAME,
} from './constants.ts';
import { portBackends } from './endpoints.ts';
import { compareAddress } from './order.ts';
import { parseProtocol } from './ports.ts';
import { scopesFor, usesLocalBackends, type TrafficPolicies } from './traffic-policy.ts';
import type {
  Backend,
  EndpointSliceInput,
  FrontendScope,
  FrontendType,
  NodeInput,
  ServiceEntry,
  ServiceInput,
  ServicePortInput,
  TableOptions,
} from './types.ts';

export type SkipReason = 'ExternalName' | 'headless' | 'service-proxy-name';

/** Why the table leaves this Service out, or undefined when it serves it. */
export function skipReason(svc: ServiceInput): SkipReason | undefined {
  const labels = svc.metadata?.labels ?? {};
  if (LABEL_SERVICE_PROXY_NAME in labels) return 'service-proxy-name';
  if (svc.spec?.type === 'ExternalName') return 'ExternalName';
  if (LABEL_HEADLESS in labels || svc.spec?.clusterIP?.toLowerCase() === 'none') return 'headless';
  return undefined;
}

export function enabledFamilies(opts: TableOptions | undefined): Set<Family> {
  const out = new Set<Family>();
  if (opts?.enableIPv4 ?? true) out.add(4);
  if (opts?.enableIPv6 ?? true) out.add(6);
  return out;
}

/** Canonical addresses of a list, those of a disabled family or not parsing dropped, sorted, unique. */
function addresses(list: readonly (string | undefined)[], families: ReadonlySet<Family>): string[] {
  const out = new Set<string>();
  for (const s of list) {
    const a = s ? parseAddr(s) : undefined;
    if (a && families.has(a.family)) out.add(formatAddr(a.family, a.value));
  }
  return [...out].sort(compareAddress);
}

function familyOf(address: string): Family | undefined {
  return parseAddr(address)?.family;
}

function clusterIPs(svc: ServiceInput, families: ReadonlySet<Family>): string[] {
  const spec = svc.spec ?? {};
  const list = spec.clusterIPs && spec.clusterIPs.length > 0 ? spec.clusterIPs : [spec.clusterIP];
  return addresses(list, families);
}

/** The Service's IP families, for NodePort: spec.ipFamilies, else the families of its cluster IPs. */
function serviceFamilies(svc: ServiceInput, families: ReadonlySet<Family>): Set<Family> {
  const out = new Set<Family>();
  const declared = svc.spec?.ipFamilies ?? [];
  if (declared.length > 0) {
    for (const f of declared) {
      if (f === 'IPv4' && families.has(4)) out.add(4);
      if (f === 'IPv6' && families.has(6)) out.add(6);
    }
    return out;
  }
  for (const ip of clusterIPs(svc, families)) {
    const f = familyOf(ip);
    if (f) out.add(f);
  }
  return out;
}

function loadBalancerIPs(svc: ServiceInput, families: ReadonlySet<Family>): string[] {
  const ingress = svc.status?.loadBalancer?.ingress ?? [];
  const vips = ingress.filter((i) => i.ipMode === undefined || i.ipMode === 'VIP').map((i) => i.ip);
  return addresses(vips, families);
}

/**
 * spec.loadBalancerSourceRanges, else the legacy annotation (comma-separated), as kube-proxy reads
 * them; unparsable entries ignored (as Cilium does), the rest masked to their network, sorted, unique.
 */
export function sourceRanges(svc: ServiceInput): string[] {
  let raw = svc.spec?.loadBalancerSourceRanges ?? [];
  if (raw.length === 0) raw = (svc.metadata?.annotations?.[ANNOTATION_LB_SOURCE_RANGES] ?? '').split(',');
  const out = new Set<string>();
  for (const r of raw) {
    const p = parsePrefix(r.trim());
    if (p) out.add(formatPrefix(maskedPrefix(p)));
  }
  return [...out].sort((a, b) => {
    const [aa = '', ab = ''] = a.split('/');
    const [ba = '', bb = ''] = b.split('/');
    return compareAddress(aa, ba) || Number(ab) - Number(bb);
  });
}

export function trafficPolicies(svc: ServiceInput): TrafficPolicies {
  return {
    externalLocal: svc.spec?.externalTrafficPolicy === 'Local',
    internalLocal: svc.spec?.internalTrafficPolicy === 'Local',
  };
}

export function affinityTimeout(svc: ServiceInput): number | undefined {
  if (svc.spec?.sessionAffinity !== 'ClientIP') return undefined;
  const t = svc.spec.sessionAffinityConfig?.clientIP?.timeoutSeconds;
  return t !== undefined && t > 0 ? t : DEFAULT_AFFINITY_TIMEOUT_SEC;
}

interface FrontendSpec {
  address: string;
  family: Family;
  port: number;
  type: FrontendType;
  scope: FrontendScope;
}

/** The addresses a Service's frontends use, worked out once for all its ports. */
interface ServiceAddresses {
  clusterIPs: string[];
  nodeAddresses: string[];
  loadBalancerIPs: string[];
  externalIPs: string[];
}

function serviceAddresses(svc: ServiceInput, node: NodeInput, families: ReadonlySet<Family>): ServiceAddresses {
  const type = svc.spec?.type ?? 'ClusterIP';
  const exposed = type === 'NodePort' || type === 'LoadBalancer';
  const svcFamilies = exposed ? serviceFamilies(svc, families) : new Set<Family>();
  return {
    clusterIPs: clusterIPs(svc, families),
    nodeAddresses: exposed ? addresses(node.addresses, svcFamilies) : [],
    loadBalancerIPs: type === 'LoadBalancer' ? loadBalancerIPs(svc, families) : [],
    externalIPs: addresses(svc.spec?.externalIPs ?? [], families),
  };
}

/** Every frontend address/port/type/scope one Service port asks for. */
function frontendsOfPort(sp: ServicePortInput, addrs: ServiceAddresses, scopes: FrontendScope[]): FrontendSpec[] {
  const out: FrontendSpec[] = [];
  const push = (address: string, port: number, type: FrontendType, scope: FrontendScope): void => {
    out.push({ address, family: familyOf(address) ?? 4, port, type, scope });
  };
  for (const a of addrs.clusterIPs) push(a, sp.port, 'ClusterIP', 'external');
  if (sp.nodePort !== undefined && sp.nodePort > 0) {
    for (const scope of scopes) for (const a of addrs.nodeAddresses) push(a, sp.nodePort, 'NodePort', scope);
  }
  for (const scope of scopes) for (const a of addrs.loadBalancerIPs) push(a, sp.port, 'LoadBalancer', scope);
  for (const a of addrs.externalIPs) push(a, sp.port, 'ExternalIP', 'external');
  return out;
}

function rangesApply(type: FrontendType, opts: TableOptions | undefined): boolean {
  return opts?.sourceRangesAllTypes === true || type === 'LoadBalancer' || type === 'ExternalIP';
}

/**
 * The entries of one Service that skipReason lets through, with `slices` its EndpointSlices (any
 * order). Entries may repeat a frontend when the Service asks for one address twice (an externalIP
 * equal to its LB IP, say); the table keeps one.
 */
export function serviceEntries(
  svc: ServiceInput,
  slices: readonly EndpointSliceInput[],
  node: NodeInput,
  opts?: TableOptions,
): ServiceEntry[] {
  const families = enabledFamilies(opts);
  const policies = trafficPolicies(svc);
  const affinity = affinityTimeout(svc);
  const ranges = sourceRanges(svc);
  const service = { namespace: svc.metadata?.namespace ?? '', name: svc.metadata?.name ?? '' };
  const addrs = serviceAddresses(svc, node, families);
  const scopes = scopesFor(policies);
  const out: ServiceEntry[] = [];
  for (const sp of svc.spec?.ports ?? []) {
    const protocol = parseProtocol(sp.protocol);
    if (protocol === undefined) continue;
    const all = portBackends(sp, slices, families);
    for (const fe of frontendsOfPort(sp, addrs, scopes)) {
      const local = usesLocalBackends(fe.type, fe.scope, policies);
      const backends: Backend[] = all
        .filter((x) => x.family === fe.family && (!local || x.backend.nodeName === node.name))
        .map(({ backend: b }) => ({ ...b, ...(b.pod ? { pod: { ...b.pod } } : {}) }));
      const entry: ServiceEntry = {
        service: { ...service },
        portName: sp.name ?? '',
        frontend: { address: fe.address, port: fe.port, protocol, type: fe.type, scope: fe.scope },
        backends,
        sourceRanges: rangesApply(fe.type, opts) ? [...ranges] : [],
        externalTrafficLocal: policies.externalLocal,
        internalTrafficLocal: policies.internalLocal,
      };
      if (affinity !== undefined) entry.sessionAffinityTimeoutSec = affinity;
      out.push(entry);
    }
  }
  return out;
}
