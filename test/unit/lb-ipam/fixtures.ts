// Builders for LB-IPAM test inputs: terse, so each table row reads as the scenario it is.
import type {
  LBIPAMResult,
  LBPoolInput,
  LBServiceInput,
  LBServicePort,
} from '../../../src/controllers/lb-ipam/allocator.ts';
import type { ServiceSelector } from '../../../src/api/types.generated.ts';

export type Block = string | { start: string; stop?: string };

export function pool(
  name: string,
  blocks: Block[],
  o: { created?: string; disabled?: boolean; allowFirstLastIPs?: 'Yes' | 'No'; selector?: ServiceSelector } = {},
): LBPoolInput {
  return {
    metadata: { name, creationTimestamp: o.created ?? '2026-01-01T00:00:00Z' },
    spec: {
      blocks: blocks.map((b) => (typeof b === 'string' ? { cidr: b } : b)),
      ...(o.disabled !== undefined ? { disabled: o.disabled } : {}),
      ...(o.allowFirstLastIPs ? { allowFirstLastIPs: o.allowFirstLastIPs } : {}),
      ...(o.selector ? { serviceSelector: o.selector } : {}),
    },
  };
}

export interface SvcOpts {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  type?: string;
  cls?: string;
  lbIP?: string;
  families?: string[];
  policy?: string;
  ports?: (number | LBServicePort)[];
  ingress?: string[];
  created?: string;
  etp?: string;
  selector?: Record<string, string>;
  conditions?: { type: string }[];
}

export function svc(ns: string, name: string, o: SvcOpts = {}): LBServiceInput {
  return {
    metadata: {
      namespace: ns,
      name,
      uid: `uid-${ns}-${name}`,
      creationTimestamp: o.created ?? '2026-01-02T00:00:00Z',
      ...(o.labels ? { labels: o.labels } : {}),
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: {
      type: o.type ?? 'LoadBalancer',
      ...(o.cls ? { loadBalancerClass: o.cls } : {}),
      ...(o.lbIP ? { loadBalancerIP: o.lbIP } : {}),
      ...(o.families ? { ipFamilies: o.families } : {}),
      ...(o.policy ? { ipFamilyPolicy: o.policy } : {}),
      ports: (o.ports ?? [80]).map((p) => (typeof p === 'number' ? { port: p, protocol: 'TCP' } : p)),
      ...(o.etp ? { externalTrafficPolicy: o.etp } : {}),
      ...(o.selector ? { selector: o.selector } : {}),
    },
    status: {
      loadBalancer: { ingress: (o.ingress ?? []).map((ip) => ({ ip })) },
      ...(o.conditions ? { conditions: o.conditions } : {}),
    },
  };
}

/** The services of a result, as they would look after the controller wrote the result back. */
export function applyResult(services: readonly LBServiceInput[], r: LBIPAMResult): LBServiceInput[] {
  return services.map((s) => {
    const key = `${s.metadata!.namespace}/${s.metadata!.name}`;
    const res = r.services.find((x) => x.key === key);
    const released = r.released.some((x) => x.key === key);
    if (!res && !released) return s;
    return {
      ...s,
      status: res
        ? {
            loadBalancer: { ingress: res.ingressIPs.map((ip) => ({ ip })) },
            conditions: [{ type: res.condition.type }],
          }
        : { loadBalancer: {} },
    };
  });
}
