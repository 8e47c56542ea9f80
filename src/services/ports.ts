// Service port → backend port. A Service's targetPort may name a container port, and pods behind one
// Service may number that name differently; the EndpointSlice controller resolves it per pod and
// groups endpoints into slices by the resulting port list. So the table reads a backend's port from
// its slice (matched by the Service port's name and protocol, as kube-proxy does) and never from the
// Service; resolveTargetPort is the controller's own rule, for readers that start from a pod.
import type { ContainerPortInput, EndpointPortInput, L4Proto, PodInput, ServicePortInput } from './types.ts';

/** A protocol as the API spells it; absent means TCP (the API default); anything else is not ours. */
export function parseProtocol(p: string | undefined): L4Proto | undefined {
  if (p === undefined || p === '') return 'TCP';
  return p === 'TCP' || p === 'UDP' || p === 'SCTP' ? p : undefined;
}

function validPort(n: number | undefined): n is number {
  return n !== undefined && Number.isInteger(n) && n >= 1 && n <= 65535;
}

/**
 * The backend port a slice gives the endpoints it lists for this Service port, or undefined when the
 * slice has no port of that name and protocol (its endpoints then serve other ports only).
 */
export function slicePortFor(
  servicePort: ServicePortInput,
  slicePorts: readonly EndpointPortInput[],
): number | undefined {
  const name = servicePort.name ?? '';
  const proto = parseProtocol(servicePort.protocol);
  for (const p of slicePorts) {
    if ((p.name ?? '') === name && parseProtocol(p.protocol) === proto && validPort(p.port)) return p.port;
  }
  return undefined;
}

function podContainerPorts(pod: PodInput): ContainerPortInput[] {
  const all = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  return all.flatMap((c) => c.ports ?? []);
}

/**
 * The EndpointSlice controller's FindPort: an unset targetPort is the Service port; a number is
 * itself; a name is the pod's container port of that name and the Service port's protocol
 * (undefined when the pod has none, and the pod is then left out of the slice for this port).
 */
export function resolveTargetPort(servicePort: ServicePortInput, pod: PodInput): number | undefined {
  const t = servicePort.targetPort;
  if (t === undefined || t === 0 || t === '') return servicePort.port;
  if (typeof t === 'number') return validPort(t) ? t : undefined;
  const proto = parseProtocol(servicePort.protocol);
  const hit = podContainerPorts(pod).find((p) => p.name === t && parseProtocol(p.protocol) === proto);
  return hit && validPort(hit.containerPort) ? hit.containerPort : undefined;
}
