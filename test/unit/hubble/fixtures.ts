// Synthetic flows for the hubble tests: what the agent would build from datapath events.
import { flowFromEvent, type Flow, type EndpointInfo } from '../../../src/hubble/flow.ts';
import { dropReasonName } from '../../../src/hubble/proto.ts';
import type { FlowEvent } from '../../../src/datapath/codecs.ts';

export const pods: Record<number, EndpointInfo> = {
  300: { id: 11, namespace: 'x', podName: 'a-7d9f', labels: ['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=x'] },
  301: {
    id: 12,
    namespace: 'y',
    podName: 'b-5c4e',
    labels: ['k8s:app=b', 'k8s:tier=backend', 'k8s:io.kubernetes.pod.namespace=y'],
  },
  302: { id: 13, namespace: 'y', podName: 'c-1a2b', labels: ['k8s:app=c', 'k8s:io.kubernetes.pod.namespace=y'] },
};

export const BASE_NS = 1_764_331_200_000_000_000n; // 2025-11-28T12:00:00Z

export interface EventOpts extends Partial<FlowEvent> {
  /** ms after BASE_NS */
  at?: number;
  rules?: string[];
  node?: string;
}

export function event(o: EventOpts = {}): FlowEvent {
  const { at = 0, rules: _r, node: _n, ...rest } = o;
  return {
    timestamp: BASE_NS + BigInt(Math.round(at * 1e6)),
    srcIdentity: 300,
    dstIdentity: 301,
    ifindex: 5,
    epId: 12,
    family: 4,
    saddr: '10.0.0.1',
    daddr: '10.0.1.2',
    sport: 51234,
    dport: 80,
    protocol: 6,
    verdict: 1,
    dropReason: 0,
    direction: 'ingress',
    tcpFlags: 2,
    ctState: 0,
    icmpType: 0,
    len: 60,
    ...rest,
  };
}

/** A Flow as the agent builds it, with wall time = BASE_NS + at (the ktime is taken as wall time). */
export function flow(o: EventOpts = {}): Flow {
  return flowFromEvent(event(o), {
    nodeName: o.node ?? 'node-a',
    time: (ns) => ({ seconds: Number(ns / 1_000_000_000n), nanos: Number(ns % 1_000_000_000n) }),
    endpoint: (identity) => pods[identity],
    ifname: (i) => (i === 5 ? 'lxc1234' : undefined),
    rules: o.rules ?? [],
    dropReasonName,
  });
}

export const denied = (o: EventOpts = {}) =>
  flow({ verdict: 2, dropReason: 133, rules: ['CiliumNetworkPolicy/y/deny-a ingressDeny[0]'], ...o });
