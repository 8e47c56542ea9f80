// Pods' hostPorts → HostPort frontends, as Cilium's agent serves them in place of the CNI portmap
// plugin. For each pod on this node that is Running and not being deleted (a finished or deleted pod
// frees its hostPort at once), and each container or init container port with a hostPort:
// - frontend: hostIP when set to a specific address; every address of this node of the pod's
//   families when hostIP is unset; of one family for 0.0.0.0 or ::. A loopback hostIP is left out
//   (Cilium needs netns cookies for it), as is a hostPort inside the NodePort range (Cilium ignores
//   those so they can't shadow a NodePort);
// - backends: the pod's IPs of the frontend's family, on the containerPort, active;
// - the synthetic service is `<pod>:host-port:<hostPort>` in the pod's namespace (Cilium's name
//   without the pod UID suffix).
// hostNetwork pods are skipped: their hostPort is the node's own socket, nothing to translate.
import { formatAddr, parseAddr, type Family } from '../lib/ip.ts';
import { DEFAULT_NODE_PORT_RANGE } from './constants.ts';
import { compareAddress, compareBackend } from './order.ts';
import { parseProtocol } from './ports.ts';
import { enabledFamilies } from './service-entries.ts';
import type { Backend, ContainerPortInput, NodeInput, PodInput, ServiceEntry, TableOptions } from './types.ts';

function isLoopback(a: { family: Family; value: bigint }): boolean {
  return a.family === 4 ? a.value >> 24n === 127n : a.value === 1n;
}

/** Whether the table reads this pod's hostPorts at all. */
export function servesHostPorts(pod: PodInput, node: NodeInput): boolean {
  return (
    pod.spec?.nodeName === node.name &&
    pod.spec.hostNetwork !== true &&
    pod.status?.phase === 'Running' &&
    !pod.metadata?.deletionTimestamp
  );
}

function podIPs(pod: PodInput, families: ReadonlySet<Family>): { family: Family; address: string }[] {
  const raw = pod.status?.podIPs?.length ? pod.status.podIPs.map((p) => p.ip) : [pod.status?.podIP];
  const out = new Map<string, Family>();
  for (const s of raw) {
    const a = s ? parseAddr(s) : undefined;
    if (a && families.has(a.family)) out.set(formatAddr(a.family, a.value), a.family);
  }
  return [...out].map(([address, family]) => ({ family, address }));
}

/** The frontend addresses one container port asks for, given the pod's families. */
function frontendAddresses(p: ContainerPortInput, node: NodeInput, podFamilies: ReadonlySet<Family>): string[] {
  const host = p.hostIP ? parseAddr(p.hostIP) : undefined;
  if (p.hostIP && !host) return [];
  if (host && isLoopback(host)) return [];
  if (host && host.value !== 0n) return podFamilies.has(host.family) ? [formatAddr(host.family, host.value)] : [];
  const wanted = host ? new Set<Family>([host.family].filter((f) => podFamilies.has(f))) : podFamilies;
  const out = new Set<string>();
  for (const s of node.addresses) {
    const a = parseAddr(s);
    if (a && wanted.has(a.family)) out.add(formatAddr(a.family, a.value));
  }
  return [...out].sort(compareAddress);
}

export function hostPortEntries(pod: PodInput, node: NodeInput, opts?: TableOptions): ServiceEntry[] {
  if ((opts?.enableHostPort ?? true) === false || !servesHostPorts(pod, node)) return [];
  const [npMin, npMax] = opts?.nodePortRange ?? DEFAULT_NODE_PORT_RANGE;
  const ips = podIPs(pod, enabledFamilies(opts));
  const podFamilies = new Set(ips.map((i) => i.family));
  const namespace = pod.metadata?.namespace ?? '';
  const podName = pod.metadata?.name ?? '';
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  const out: ServiceEntry[] = [];
  for (const p of containers.flatMap((c) => c.ports ?? [])) {
    const protocol = parseProtocol(p.protocol);
    const hostPort = p.hostPort ?? 0;
    if (protocol === undefined || hostPort <= 0 || hostPort > 65535) continue;
    if (hostPort >= npMin && hostPort <= npMax) continue;
    for (const address of frontendAddresses(p, node, podFamilies)) {
      const family = parseAddr(address)?.family;
      const backends: Backend[] = ips
        .filter((i) => i.family === family)
        .map((i) => ({
          address: i.address,
          port: p.containerPort,
          protocol,
          state: 'active' as const,
          nodeName: node.name,
          pod: { namespace, name: podName },
        }))
        .sort(compareBackend);
      out.push({
        service: { namespace, name: `${podName}:host-port:${hostPort}` },
        portName: p.name ?? '',
        frontend: { address, port: hostPort, protocol, type: 'HostPort', scope: 'external' },
        backends,
        sourceRanges: [],
        externalTrafficLocal: false,
        internalTrafficLocal: false,
      });
    }
  }
  return out;
}
