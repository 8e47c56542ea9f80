// `cilium-ts status` for a person: the agent's /v1/status as `cilium status` prints its own, one
// aligned `Key:   State   detail` line per subsystem (states Ok, Warning, Failure, Disabled as
// Cilium's), Hubble as `Ok   Current/Max Flows: 22/4,095 (0.54%), Flows/s: 1.30`. --verbose adds
// the BPF maps and the flow ring's counters. `-o json` prints the JSON itself (src/cli/inspect.ts).
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
  ]);
  if (verbose) {
    if (s.flows) text += hubbleDetails(s.flows);
    const maps = s.maps.map((m) => [m.name, m.entries, m.maxEntries, `${(m.pressure * 100).toFixed(1)}%`]);
    text += `BPF maps:\n${formatTable(['NAME', 'ENTRIES', 'MAX', 'PRESSURE'], maps)}`;
  }
  return text;
}
