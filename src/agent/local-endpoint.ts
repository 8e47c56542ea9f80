// One pod attachment of this node as the agent tracks it, and the pure views of it: the
// cilium_lxc settings the kernel gets, and the summary that status and inspection show.
import { EndpointFlags, EnforcementMode } from '../datapath/constants.ts';
import { formatLabelSet, type EndpointPolicy, type LabelSet } from '../policy/index.ts';
import type { EndpointDatapathSettings, EndpointEvent } from './cni/server.ts';
import type { EndpointStateName, LocalEndpointInfo } from './types.ts';

export interface NamedPort {
  name: string;
  port: number;
  protocol: string;
}

export interface LocalEndpoint {
  ev: EndpointEvent;
  state: EndpointStateName;
  identity: number;
  labels: LabelSet;
  podUid?: string | undefined;
  serviceAccount: string;
  namedPorts: NamedPort[];
  /** the policy last written into the kernel */
  policy?: EndpointPolicy | undefined;
  /** the failing regeneration, while it is being retried */
  failure?: { message: string; attempts: number; at: string } | undefined;
}

/** The endpoint's cilium_lxc entry: its identity and which directions enforce policy. */
export function endpointSettings(ep: LocalEndpoint): EndpointDatapathSettings {
  const p = ep.policy;
  const flags =
    (p?.enforceIngress ? EndpointFlags.ENFORCE_INGRESS : 0) | (p?.enforceEgress ? EndpointFlags.ENFORCE_EGRESS : 0);
  return { identity: ep.identity, flags, mode: EnforcementMode.DEFAULT };
}

export function endpointInfo(e: LocalEndpoint): LocalEndpointInfo {
  return {
    id: e.ev.epId,
    namespace: e.ev.namespace,
    pod: e.ev.podName,
    identity: e.identity,
    state: e.state,
    ip: e.ev.ip,
    ingress: !!e.policy?.enforceIngress,
    egress: !!e.policy?.enforceEgress,
    labels: formatLabelSet(e.labels),
  };
}
