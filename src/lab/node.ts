// The lab's node. There is no kubelet, so the lab registers the Node itself, with the addresses
// kubelet would report: the agent publishes the InternalIP in its CiliumNode and gives it the host
// identity in the ipcache.
import { readFileSync } from 'node:fs';
import { hostname, networkInterfaces } from 'node:os';
import { cluster } from '../lib/fluent.ts';

/** The node lab pods are bound to: $K8S_NODE_NAME, else the host name (as Cilium's agent picks its node name). */
export function labNodeName(): string {
  return process.env.K8S_NODE_NAME ?? hostname();
}

/** The interface of the default IPv4 route, from /proc/net/route (destination 00000000). */
function defaultRouteInterface(): string | undefined {
  try {
    const rows = readFileSync('/proc/net/route', 'utf8')
      .split('\n')
      .slice(1)
      .map((l) => l.trim().split(/\s+/));
    return rows.find((r) => r[1] === '00000000')?.[0];
  } catch {
    return undefined;
  }
}

/** As kubelet picks its node IP: the address of the default route's interface, else the first non-loopback one. */
export function labNodeIP(): string {
  const all = networkInterfaces();
  const v4 = (name: string) => (all[name] ?? []).find((a) => a.family === 'IPv4' && !a.internal)?.address;
  const viaDefault = defaultRouteInterface();
  return (
    (viaDefault && v4(viaDefault)) ??
    Object.keys(all)
      .map(v4)
      .find((a) => a !== undefined) ??
    '127.0.0.1'
  );
}

/** Creates the lab's Node with its InternalIP and Hostname addresses; returns the InternalIP. */
export async function registerLabNode(kubeconfig: string, name = labNodeName(), ip = labNodeIP()): Promise<string> {
  const k8s = cluster(kubeconfig);
  const labels = { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' };
  if (!(await k8s.get('Node', name))) await k8s.create('Node', { metadata: { name, labels } });
  const addresses = [
    { type: 'InternalIP', address: ip },
    { type: 'Hostname', address: name },
  ];
  await k8s.patchStatus('Node', { metadata: { name }, status: { addresses } });
  return ip;
}
