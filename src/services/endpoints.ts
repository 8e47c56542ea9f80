// EndpointSlices (discovery.k8s.io/v1) → the backends of each Service port, as kube-proxy reads them:
// - slices join their Service by the kubernetes.io/service-name label, in the Service's namespace;
//   a Service may have several slices (per address family, per port list, per 100 endpoints);
// - addressType IPv4 / IPv6 only (FQDN slices are ignored); an address of the other family is dropped;
// - only an endpoint's first address is used (they are fungible, https://issue.k8s.io/106267);
// - conditions: ready (nil = ready) → active; not ready but serving and terminating → terminating;
//   anything else (not serving) → left out. serving nil counts as serving and terminating nil as
//   not terminating, as kube-proxy does;
// - the same address/port in two slices (a transient state while the controller moves an endpoint)
//   is listed once: the active copy wins, then the slice whose name sorts first.
import { parseAddr, formatAddr, type Family } from '../lib/ip.ts';
import { LABEL_SERVICE_NAME } from './constants.ts';
import { backendKey } from './ids.ts';
import { parseProtocol, slicePortFor } from './ports.ts';
import type { Backend, EndpointInput, EndpointSliceInput, L4Proto, ServicePortInput } from './types.ts';

export type EndpointState = 'active' | 'terminating';

/** The state an endpoint's conditions give it, or undefined when it must not serve at all. */
export function endpointState(conditions: EndpointInput['conditions']): EndpointState | undefined {
  const ready = conditions?.ready ?? true;
  const serving = conditions?.serving ?? true;
  const terminating = conditions?.terminating ?? false;
  if (ready) return 'active';
  if (serving && terminating) return 'terminating';
  return undefined;
}

export function sliceFamily(addressType: string): Family | undefined {
  if (addressType === 'IPv4') return 4;
  if (addressType === 'IPv6') return 6;
  return undefined;
}

/** `namespace/name` of the Service a slice belongs to, or undefined for an orphan slice. */
export function sliceServiceKey(slice: EndpointSliceInput): string | undefined {
  const svc = slice.metadata?.labels?.[LABEL_SERVICE_NAME];
  if (!svc) return undefined;
  return `${slice.metadata?.namespace ?? ''}/${svc}`;
}

/** Slices grouped by `namespace/service`, each group sorted by slice name so results never depend on watch order. */
export function groupSlices(slices: readonly EndpointSliceInput[]): Map<string, EndpointSliceInput[]> {
  const out = new Map<string, EndpointSliceInput[]>();
  for (const s of slices) {
    const key = sliceServiceKey(s);
    if (key === undefined) continue;
    const list = out.get(key);
    if (list) list.push(s);
    else out.set(key, [s]);
  }
  for (const list of out.values()) {
    list.sort((a, b) => cmpStr(a.metadata?.name ?? '', b.metadata?.name ?? ''));
  }
  return out;
}

/** Key of a Service port among its Service's ports: name and protocol, the way slices match it. */
export function servicePortKey(p: ServicePortInput): string {
  return `${p.name ?? ''}/${parseProtocol(p.protocol) ?? p.protocol}`;
}

function toBackend(
  ep: EndpointInput,
  address: string,
  port: number,
  protocol: L4Proto,
  state: EndpointState,
  ns: string,
): Backend {
  const be: Backend = { address, port, protocol, state };
  if (ep.nodeName) be.nodeName = ep.nodeName;
  if (ep.zone) be.zone = ep.zone;
  const ref = ep.targetRef;
  if (ref?.kind === 'Pod' && ref.name) be.pod = { namespace: ref.namespace || ns, name: ref.name };
  return be;
}

/** A backend with its parsed address, so callers filter and sort without parsing again. */
export interface ParsedBackend {
  backend: Backend;
  family: Family;
  value: bigint;
}

const PROTO_ORDER: Record<L4Proto, number> = { TCP: 0, UDP: 1, SCTP: 2 };

/**
 * The backends of one Service port across its slices, deduplicated (see the file comment), sorted as
 * order.ts sorts (family, address, port); families not enabled are left out.
 */
export function portBackends(
  servicePort: ServicePortInput,
  slices: readonly EndpointSliceInput[],
  families: ReadonlySet<Family>,
): ParsedBackend[] {
  const protocol = parseProtocol(servicePort.protocol);
  if (protocol === undefined) return [];
  const byKey = new Map<string, ParsedBackend>();
  for (const slice of slices) {
    const family = sliceFamily(slice.addressType);
    if (family === undefined || !families.has(family)) continue;
    const port = slicePortFor(servicePort, slice.ports ?? []);
    if (port === undefined) continue;
    const ns = slice.metadata?.namespace ?? '';
    for (const ep of slice.endpoints ?? []) {
      const state = endpointState(ep.conditions);
      const first = ep.addresses[0];
      if (state === undefined || first === undefined) continue;
      const addr = parseAddr(first);
      if (!addr || addr.family !== family) continue;
      const be = toBackend(ep, formatAddr(addr.family, addr.value), port, protocol, state, ns);
      const key = backendKey(be);
      const seen = byKey.get(key);
      if (!seen || (seen.backend.state !== 'active' && be.state === 'active')) {
        byKey.set(key, { backend: be, family: addr.family, value: addr.value });
      }
    }
  }
  return [...byKey.values()].sort(
    (x, y) =>
      x.family - y.family ||
      (x.value < y.value ? -1 : x.value > y.value ? 1 : 0) ||
      x.backend.port - y.backend.port ||
      PROTO_ORDER[x.backend.protocol] - PROTO_ORDER[y.backend.protocol],
  );
}

export function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
