// The service table: Services + EndpointSlices + this node's pods and addresses → one entry per
// frontend (address, port, protocol, scope), each with the backends that may serve it. Pure and
// deterministic: the same input gives the same list, sorted (order.ts), whatever the input order.
//
// Two objects asking for one frontend (two Services sharing an externalIP and port, a hostPort on a
// Service's address, one Service listing an address both as LB IP and externalIP) resolve the way
// Cilium's first-come rule would on a fresh agent: Services before hostPorts, then the older object
// (creationTimestamp), then namespace/name; inside one Service ClusterIP > LoadBalancer > NodePort >
// ExternalIP. The losers are reported in `conflicts`.
import { cmpStr, groupSlices } from './endpoints.ts';
import { hostPortEntries } from './host-ports.ts';
import { frontendKey } from './ids.ts';
import { compareFrontend, sortByL4 } from './order.ts';
import { serviceEntries, skipReason } from './service-entries.ts';
import type { FrontendConflict, FrontendType, ServiceEntry, TableInput, TableResult } from './types.ts';

export const TYPE_RANK: Record<FrontendType, number> = {
  ClusterIP: 0,
  LoadBalancer: 1,
  NodePort: 2,
  ExternalIP: 3,
  HostPort: 4,
};

export interface Candidate {
  entry: ServiceEntry;
  ownerRank: number;
  created: number;
}

export function createdAt(t: Date | string | undefined): number {
  if (t === undefined) return Number.POSITIVE_INFINITY;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

export function better(a: Candidate, b: Candidate): number {
  const sa = a.entry.service;
  const sb = b.entry.service;
  return (
    a.ownerRank - b.ownerRank ||
    (a.created === b.created ? 0 : a.created < b.created ? -1 : 1) ||
    cmpStr(sa.namespace, sb.namespace) ||
    cmpStr(sa.name, sb.name) ||
    TYPE_RANK[a.entry.frontend.type] - TYPE_RANK[b.entry.frontend.type] ||
    cmpStr(a.entry.portName, b.entry.portName)
  );
}

function candidates(input: TableInput): Candidate[] {
  const out: Candidate[] = [];
  const slices = groupSlices(input.endpointSlices);
  for (const svc of input.services) {
    if (skipReason(svc) !== undefined) continue;
    const key = `${svc.metadata?.namespace ?? ''}/${svc.metadata?.name ?? ''}`;
    const created = createdAt(svc.metadata?.creationTimestamp);
    for (const entry of serviceEntries(svc, slices.get(key) ?? [], input.node, input.options)) {
      out.push({ entry, ownerRank: 0, created });
    }
  }
  for (const pod of input.pods ?? []) {
    const created = createdAt(pod.metadata?.creationTimestamp);
    for (const entry of hostPortEntries(pod, input.node, input.options)) out.push({ entry, ownerRank: 1, created });
  }
  return out;
}

export function buildServiceTable(input: TableInput): TableResult {
  const winners = new Map<string, Candidate>();
  const losers: Candidate[] = [];
  for (const c of candidates(input)) {
    const key = frontendKey(c.entry.frontend);
    const cur = winners.get(key);
    if (!cur) winners.set(key, c);
    else if (better(c, cur) < 0) {
      winners.set(key, c);
      losers.push(cur);
    } else losers.push(c);
  }
  const entries = sortByL4(
    [...winners.values()].map((c) => c.entry),
    (e) => e.frontend,
  );
  const conflicts: FrontendConflict[] = losers
    .map((l) => {
      const kept = winners.get(frontendKey(l.entry.frontend))?.entry.service ?? l.entry.service;
      return {
        frontend: { ...l.entry.frontend },
        kept: { ...kept },
        dropped: { ...l.entry.service, type: l.entry.frontend.type },
      };
    })
    .sort(
      (a, b) =>
        compareFrontend(a.frontend, b.frontend) ||
        cmpStr(a.dropped.namespace, b.dropped.namespace) ||
        cmpStr(a.dropped.name, b.dropped.name) ||
        TYPE_RANK[a.dropped.type] - TYPE_RANK[b.dropped.type],
    );
  return { entries, conflicts };
}

/** The table's entries alone (see buildServiceTable for the conflicts). */
export function serviceTable(input: TableInput): ServiceEntry[] {
  return buildServiceTable(input).entries;
}
