// The services part's pure glue: the service table's entries plus the ids known so far → the
// LbService list the datapath writer takes; the ids read back from the pinned maps after a restart;
// this node's addresses from its Node object; what `cilium-ts status` calls the features in use.
import type { LbBackend, LbService } from '../datapath/lb.ts';
import {
  allocateBackendIds,
  allocateServiceIds,
  backendKey,
  frontendKey,
  type FrontendType,
  type ServiceEntry,
} from '../services/index.ts';

export interface LbIds {
  /** frontendKey → service (= rev-NAT) id */
  services: Map<string, number>;
  /** backendKey → backend id */
  backends: Map<string, number>;
}

export interface LbPlan {
  services: LbService[];
  ids: LbIds;
  /** frontends and backends left without an id (an id range is full): not written */
  exhausted: string[];
}

/** The ids the kernel holds: what a restarted agent starts from, so connections keep their backends. */
export function idsFromRestored(restored: readonly LbService[]): LbIds {
  const services = new Map<string, number>();
  const backends = new Map<string, number>();
  for (const s of restored) {
    services.set(frontendKey(s.frontend), s.id);
    for (const b of s.backends) backends.set(backendKey(b), b.id);
  }
  return { services, backends };
}

/** Entries + previous ids → the services to write, every frontend and backend numbered. */
export function planLbServices(entries: readonly ServiceEntry[], previous: LbIds): LbPlan {
  const svc = allocateServiceIds(entries, previous.services);
  const be = allocateBackendIds(entries, previous.backends);
  const services: LbService[] = [];
  for (const e of entries) {
    const id = svc.ids.get(frontendKey(e.frontend));
    if (id === undefined) continue;
    services.push(lbServiceOf(e, id, be.ids));
  }
  return { services, ids: { services: svc.ids, backends: be.ids }, exhausted: [...svc.exhausted, ...be.exhausted] };
}

/** A Node as the services part reads it (V1Node fits). */
export interface ServiceNode {
  status?: { addresses?: Array<{ type: string; address: string }> };
}

/** This node's addresses for NodePort and hostPort frontends: its InternalIPs and ExternalIPs. */
export function nodeAddresses(node: ServiceNode | undefined): string[] {
  const out = new Set<string>();
  for (const a of node?.status?.addresses ?? []) {
    if (a.type === 'InternalIP' || a.type === 'ExternalIP') out.add(a.address);
  }
  return [...out];
}

const FEATURE_OF_TYPE: Record<FrontendType, string> = {
  ClusterIP: 'ClusterIP',
  NodePort: 'NodePort',
  LoadBalancer: 'LoadBalancer',
  ExternalIP: 'ExternalIPs',
  HostPort: 'HostPort',
};
const FEATURE_ORDER = [
  'ClusterIP',
  'NodePort',
  'LoadBalancer',
  'ExternalIPs',
  'HostPort',
  'SessionAffinity',
  'SourceRanges',
  'SocketLB',
];

/** The kube-proxy replacement features the current services use, in Cilium's order. */
export function featuresInUse(services: readonly LbService[], socketLB: boolean): string[] {
  const used = new Set<string>();
  for (const s of services) {
    used.add(FEATURE_OF_TYPE[s.frontend.type]);
    if (s.affinityTimeoutSec !== undefined) used.add('SessionAffinity');
    if (s.sourceRanges.length > 0) used.add('SourceRanges');
  }
  if (socketLB) used.add('SocketLB');
  return FEATURE_ORDER.filter((f) => used.has(f));
}

/** One entry numbered: the LbService the writer takes . */
export function lbServiceOf(e: ServiceEntry, id: number, backendIds: ReadonlyMap<string, number>): LbService {
  const backends: LbBackend[] = e.backends.flatMap((b) => {
    const bid = backendIds.get(backendKey(b));
    return bid === undefined
      ? []
      : [{ id: bid, address: b.address, port: b.port, protocol: b.protocol, state: b.state }];
  });
  return {
    id,
    frontend: { ...e.frontend },
    backends,
    ...(e.sessionAffinityTimeoutSec !== undefined ? { affinityTimeoutSec: e.sessionAffinityTimeoutSec } : {}),
    sourceRanges: [...e.sourceRanges],
    externalTrafficLocal: e.externalTrafficLocal,
    internalTrafficLocal: e.internalTrafficLocal,
  };
}
