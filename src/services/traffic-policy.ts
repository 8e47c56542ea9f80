// Cilium's table of which backends serve which frontend under externalTrafficPolicy (eTP, north-south)
// and internalTrafficPolicy (iTP, east-west):
//
//   frontend                         | scope    | node-local backends only when
//   ---------------------------------+----------+------------------------------
//   ClusterIP                        | external | iTP = Local
//   NodePort, LoadBalancer, ExtIP    | external | eTP = Local
//   NodePort, LoadBalancer           | internal | iTP = Local  (exists only when eTP ≠ iTP)
//   HostPort                         | external | never (its one backend is a local pod anyway)
//
// The `internal` twin of a NodePort / LoadBalancer address exists only when exactly one policy is
// Local, so in-cluster clients of that address get iTP's answer while outside clients get eTP's.
// externalIPs get no twin (Cilium gives them the external scope only). "Node-local" means the
// endpoint's nodeName is this node; a frontend left with no backend drops its traffic.
import type { FrontendScope, FrontendType } from './types.ts';

export interface TrafficPolicies {
  externalLocal: boolean;
  internalLocal: boolean;
}

/** The scopes a NodePort / LoadBalancer address gets. */
export function scopesFor(p: TrafficPolicies): FrontendScope[] {
  return p.externalLocal !== p.internalLocal ? ['external', 'internal'] : ['external'];
}

export function usesLocalBackends(type: FrontendType, scope: FrontendScope, p: TrafficPolicies): boolean {
  if (type === 'HostPort') return false;
  if (type === 'ClusterIP') return p.internalLocal;
  return scope === 'internal' ? p.internalLocal : p.externalLocal;
}
