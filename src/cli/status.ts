// `cilium-ts status` for a person: the agent's /v1/status as `cilium status` prints its own, one
// aligned `Key:   State   detail` line per subsystem (states Ok, Warning, Failure, Disabled as
// Cilium's), Hubble as `Ok   Current/Max Flows: 22/4,095 (0.54%), Flows/s: 1.30`, routing as
// `Network: Tunnel [vxlan]   Host: BPF` and node reachability as `Cluster health:   2/2 reachable
// (time)` followed by the nodes that do not answer. --verbose adds every node's probe, the BPF maps
// and the flow ring's counters. `-o json` prints the JSON itself (src/cli/inspect.ts).
import type { ClusterHealthStatus, RoutingStatus } from '../agent/types.ts';
import type { FlowStats, KubeProxyReplacement, StatusResponse } from './agent-wire.ts';
import { formatStatusLines, formatTable, thousands } from './table.ts';

/** Between a state and its detail, and between details, as `cilium status` spaces them. */
const GAP = '   ';

function kubernetes(watches: StatusResponse['kubernetes']): string {
  const failing = watches.filter((k) => k.error);
  if (failing.length) return `Failure${GAP}${failing.map((k) => `${k.watch}: ${k.error}`).join('; ')}`;
  const synced = watches.filter((k) => k.synced).length;
  if (synced < watches.length) {
    const waiting = watches.filter((k) => !k.synced).map((k) => k.watch);
    return `Warning${GAP}syncing, ${synced}/${watches.length} watches synced (waiting for ${waiting.join(', ')})`;
  }
  return `Ok${GAP}${watches.length}/${watches.length} watches synced`;
}

function ipam(podCidr: string | null): string {
  if (!podCidr) return 'waiting for the operator to assign a pod CIDR';
  return `${podCidr.includes(':') ? 'IPv6' : 'IPv4'}: allocating from ${podCidr}`;
}

/** Flows/s needs the agent's `rate` (flows over the last minute); older agents do not send it. */
export function hubbleLine(f: FlowStats | undefined): string {
  if (!f) return 'Disabled';
  const pct = f.capacity ? ((f.size / f.capacity) * 100).toFixed(2) : '0.00';
  const parts = [`Current/Max Flows: ${thousands(f.size)}/${thousands(f.capacity)} (${pct}%)`];
  if (typeof f.rate === 'number') parts.push(`Flows/s: ${f.rate.toFixed(2)}`);
  const lost = f.lostKernel + f.lostFollowers;
  if (lost) parts.push(`Lost: ${thousands(lost)}`);
  const server = f.address ? `Server: ${f.address}` : 'Server: not listening';
  return `Ok${GAP}${parts.join(', ')}${GAP}${server}`;
}

/** `True   [ClusterIP, NodePort, ...]` as Cilium prints it; a failing map sync is named after it. */
export function kubeProxyReplacementLine(k: KubeProxyReplacement): string {
  if (!k.enabled) return 'False';
  const features = `[${k.features.join(', ')}]`;
  return k.error ? `True${GAP}${features}${GAP}Failure: syncing the service maps: ${k.error}` : `True${GAP}${features}`;
}

/**
 * Cilium's `Routing:   Network: Tunnel [vxlan]   Host: BPF`. Host is BPF in tunnel mode (bpf_lxc hands
 * packets to the tunnel device and bpf_overlay into the pod, past the stack's routing) and Legacy in
 * native mode (the stack's routes carry them).
 */
export function routingLine(r: RoutingStatus): string {
  const network = r.mode === 'tunnel' ? `Tunnel [${r.tunnelProtocol ?? 'vxlan'}]` : 'Native';
  const host = r.mode === 'tunnel' ? 'BPF' : 'Legacy';
  const failing = r.error ? `${GAP}Failure: syncing node routes: ${r.error}` : '';
  return `Network: ${network}${GAP}Host: ${host}${failing}`;
}

/** Cilium's `2/2 reachable   (2024-01-10T09:24:40Z)`. */
export function clusterHealthLine(h: ClusterHealthStatus): string {
  if (!h.lastProbe) return 'Warning   probing the nodes';
  return `${h.reachable}/${h.total} reachable${GAP}(${h.lastProbe})`;
}

/** The nodes (every one with --verbose, else the unreachable ones), as Cilium lists them. */
function clusterHealthDetails(h: ClusterHealthStatus, verbose: boolean): string {
  const rows = h.nodes
    .filter((n) => verbose || !n.reachable)
    .map((n) => [
      `  ${n.name}${n.local ? ' (localhost)' : ''}`,
      n.address ?? '-',
      n.reachable ? 'reachable' : 'unreachable',
      n.reachable ? `${(n.latencyMs ?? 0).toFixed(3)} ms` : (n.error ?? ''),
    ]);
  return rows.length ? formatTable(['  Name', 'IP', 'Node', 'Detail'], rows) : '';
}

function hubbleDetails(f: FlowStats): string {
  return (
    'Hubble details:\n' +
    formatStatusLines([
      ['  Seen flows', thousands(f.seen)],
      ['  Overwritten', thousands(f.overwritten)],
      ['  Lost (kernel ring)', thousands(f.lostKernel)],
      ['  Lost (slow readers)', thousands(f.lostFollowers)],
      ['  Followers', String(f.followers)],
    ])
  );
}

export function renderStatus(s: StatusResponse, verbose: boolean): string {
  const e = s.endpoints;
  let text = formatStatusLines([
    ['Node', s.node],
    ['Agent', s.agent],
    ['Kubernetes', kubernetes(s.kubernetes)],
    ['Kubernetes APIs', `[${s.kubernetes.map((k) => `"${k.watch}"`).join(', ')}]`],
    ...(s.kubeProxyReplacement
      ? [['KubeProxyReplacement', kubeProxyReplacementLine(s.kubeProxyReplacement)] as [string, string]]
      : []),
    ['Datapath', `${s.datapath.mode}, maps pinned in ${s.datapath.pinRoot}`],
    ...(s.routing ? [['Routing', routingLine(s.routing)] as [string, string]] : []),
    ['IPAM', ipam(s.datapath.podCidr)],
    ['Policy enforcement', s.enforcementMode],
    [
      'Endpoints',
      `${e.ready}/${e.total} ready, ${e.enforcingIngress} enforcing ingress, ${e.enforcingEgress} enforcing egress`,
    ],
    ['Identities', String(s.identities)],
    ['Policies', String(s.policies)],
    ...(s.kubeProxyReplacement?.enabled
      ? [
          ['Services', `${s.kubeProxyReplacement.services} frontends, ${s.kubeProxyReplacement.backends} backends`] as [
            string,
            string,
          ],
        ]
      : []),
    ['Hubble', hubbleLine(s.flows)],
    ...(s.clusterHealth ? [['Cluster health', clusterHealthLine(s.clusterHealth)] as [string, string]] : []),
  ]);
  if (s.clusterHealth) text += clusterHealthDetails(s.clusterHealth, verbose);
  if (verbose) {
    if (s.flows) text += hubbleDetails(s.flows);
    const maps = s.maps.map((m) => [m.name, m.entries, m.maxEntries, `${(m.pressure * 100).toFixed(1)}%`]);
    text += `BPF maps:\n${formatTable(['NAME', 'ENTRIES', 'MAX', 'PRESSURE'], maps)}`;
  }
  return text;
}
