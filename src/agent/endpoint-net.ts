// The kernel side of a pod attachment, as Cilium's CNI plugin makes it in veth mode:
// - a veth pair, host side `lxc<hash>`, pod side CNI_IFNAME created straight inside the pod's
//   network namespace, both with MACs derived from the attachment (stable across re-ADDs);
// - pod: its address as a /32, an on-link route to the router address and the default route via
//   it, and a permanent neighbour entry router → host veth MAC (nothing answers ARP for the
//   router address: the datapath passes ARP and there is no cilium_host device yet);
// - host: a /32 route to the pod via the host veth, a permanent neighbour entry pod → pod MAC,
//   forwarding on and rp_filter off on the host veth (forwarding only there, not machine-wide).
// Every step is "ensure": running it again on a complete attachment changes nothing.
import { execFile, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { CniError, CniErrorCode } from './cni/protocol.ts';

export interface VethSpec {
  hostIfname: string;
  netns: string;
  ifname: string;
  ip: string;
  routerIp: string;
  podMac: string;
  hostMac: string;
  mtu?: number;
}

export interface VethState {
  hostIfindex: number;
  podIfindex: number;
}

interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], input?: string): Promise<CmdResult> {
  return new Promise((resolve) => {
    const child = execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
    // A command that exits without reading its input must not fail us with EPIPE.
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}

async function must(step: string, cmd: string, args: string[], input?: string): Promise<string> {
  const r = await run(cmd, args, input);
  if (r.code !== 0)
    throw new CniError(CniErrorCode.ENDPOINT_SETUP, `${step} failed`, `${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** `lxc` + 11 hex digits of the attachment's hash: 14 bytes, within IFNAMSIZ. */
export function hostIfnameFor(containerId: string, ifname: string): string {
  return 'lxc' + createHash('sha256').update(`${containerId}/${ifname}`).digest('hex').slice(0, 11);
}

/** Locally administered unicast MACs, stable for an attachment (pod side, host side). */
export function macsFor(containerId: string, ifname: string): { podMac: string; hostMac: string } {
  const h = createHash('sha256').update(`mac/${containerId}/${ifname}`).digest();
  const mac = (first: number, off: number) =>
    [first, ...h.subarray(off, off + 5)].map((b) => b.toString(16).padStart(2, '0')).join(':');
  return { podMac: mac(0x0a, 0), hostMac: mac(0x0e, 5) };
}

/**
 * A link of this process's network namespace, asked over netlink: /sys/class/net shows the
 * namespace sysfs was mounted in, which is not ours when the agent was entered into a node's
 * namespace with `nsenter --net` (the multi-node lab).
 */
function hostLink(name: string): { ifindex: number; link_index?: number } | undefined {
  const r = spawnSync('ip', ['-j', 'link', 'show', 'dev', name], { encoding: 'utf8' });
  if (r.status !== 0) return undefined;
  return (JSON.parse(r.stdout) as Array<{ ifindex: number; link_index?: number }>)[0];
}

export function linkExists(name: string): boolean {
  return hostLink(name) !== undefined;
}

function sysfs(name: string, attr: 'ifindex' | 'iflink'): string {
  const link = hostLink(name);
  if (!link) throw new Error(`link ${name} not found`);
  return String(attr === 'ifindex' ? link.ifindex : (link.link_index ?? link.ifindex));
}

interface PodLink {
  ifindex: number;
  link_index?: number;
  address: string;
  operstate: string;
}

async function podLink(netns: string, ifname: string): Promise<PodLink | undefined> {
  const r = await run('nsenter', [`--net=${netns}`, 'ip', '-j', 'link', 'show', 'dev', ifname]);
  if (r.code !== 0) return undefined;
  return (JSON.parse(r.stdout) as PodLink[])[0];
}

function writeSysctl(path: string, value: string): void {
  writeFileSync(`/proc/sys/${path}`, value);
}

/** Whether the host veth exists and its peer is `ifname` inside `netns`. */
async function pairIntact(spec: VethSpec): Promise<boolean> {
  if (!linkExists(spec.hostIfname)) return false;
  const peer = await podLink(spec.netns, spec.ifname);
  return (
    peer !== undefined &&
    peer.link_index === Number(sysfs(spec.hostIfname, 'ifindex')) &&
    Number(sysfs(spec.hostIfname, 'iflink')) === peer.ifindex
  );
}

export async function ensureVeth(spec: VethSpec): Promise<VethState> {
  if (!existsSync(spec.netns))
    throw new CniError(CniErrorCode.UNKNOWN_CONTAINER, `network namespace ${spec.netns} does not exist`);
  if (!(await pairIntact(spec))) {
    // A half-made or foreign pair goes; then the pair is made in one step, peer inside the pod.
    if (linkExists(spec.hostIfname)) await must('removing a stale host veth', 'ip', ['link', 'del', spec.hostIfname]);
    const mtu = spec.mtu ? ['mtu', String(spec.mtu)] : [];
    await must('creating the veth pair', 'ip', [
      'link',
      'add',
      spec.hostIfname,
      ...mtu,
      'address',
      spec.hostMac,
      'type',
      'veth',
      'peer',
      'name',
      spec.ifname,
      ...mtu,
      'address',
      spec.podMac,
      'netns',
      spec.netns,
    ]);
  }
  writeSysctl(`net/ipv4/conf/${spec.hostIfname}/forwarding`, '1');
  writeSysctl(`net/ipv4/conf/${spec.hostIfname}/rp_filter`, '0');
  await must(
    'configuring the pod side',
    'nsenter',
    [`--net=${spec.netns}`, 'ip', '-batch', '-'],
    [
      'link set lo up',
      `link set ${spec.ifname} up`,
      `addr replace ${spec.ip}/32 dev ${spec.ifname}`,
      `route replace ${spec.routerIp}/32 dev ${spec.ifname} scope link`,
      `route replace default via ${spec.routerIp} dev ${spec.ifname}`,
      `neigh replace ${spec.routerIp} lladdr ${spec.hostMac} dev ${spec.ifname} nud permanent`,
    ].join('\n') + '\n',
  );
  await must(
    'configuring the host side',
    'ip',
    ['-batch', '-'],
    [
      `link set ${spec.hostIfname} up`,
      `route replace ${spec.ip}/32 dev ${spec.hostIfname} scope link`,
      `neigh replace ${spec.ip} lladdr ${spec.podMac} dev ${spec.hostIfname} nud permanent`,
    ].join('\n') + '\n',
  );
  const peer = await podLink(spec.netns, spec.ifname);
  if (!peer) throw new CniError(CniErrorCode.ENDPOINT_SETUP, `${spec.ifname} vanished from ${spec.netns} during setup`);
  return { hostIfindex: Number(sysfs(spec.hostIfname, 'ifindex')), podIfindex: peer.ifindex };
}

/** Removes the pair (the host route and neighbour entry go with the host veth). Idempotent. */
export async function removeVeth(hostIfname: string): Promise<void> {
  if (!linkExists(hostIfname)) return;
  const r = await run('ip', ['link', 'del', hostIfname]);
  if (r.code !== 0 && linkExists(hostIfname))
    throw new CniError(CniErrorCode.ENDPOINT_SETUP, `removing ${hostIfname} failed`, r.stderr.trim());
}

/** What CHECK verifies on the kernel side; returns the problems found (empty: all as ADD left it). */
export async function checkVeth(spec: VethSpec): Promise<string[]> {
  const problems: string[] = [];
  if (!existsSync(spec.netns)) return [`network namespace ${spec.netns} does not exist`];
  if (!linkExists(spec.hostIfname)) return [`host veth ${spec.hostIfname} does not exist`];
  if (!(await pairIntact(spec))) return [`${spec.hostIfname} is not paired with ${spec.ifname} in ${spec.netns}`];
  const addrs = await run('nsenter', [`--net=${spec.netns}`, 'ip', '-j', '-4', 'addr', 'show', 'dev', spec.ifname]);
  const have = (JSON.parse(addrs.stdout || '[]') as Array<{ addr_info?: Array<{ local: string; prefixlen: number }> }>)
    .flatMap((l) => l.addr_info ?? [])
    .map((a) => `${a.local}/${a.prefixlen}`);
  if (!have.includes(`${spec.ip}/32`))
    problems.push(`${spec.ifname} lacks ${spec.ip}/32 (has ${have.join(', ') || 'none'})`);
  const routes = await run('nsenter', [`--net=${spec.netns}`, 'ip', '-j', '-4', 'route', 'show', 'default']);
  const defaults = JSON.parse(routes.stdout || '[]') as Array<{ gateway?: string; dev?: string }>;
  if (!defaults.some((r) => r.gateway === spec.routerIp && r.dev === spec.ifname))
    problems.push(`no default route via ${spec.routerIp} dev ${spec.ifname} in the pod`);
  const host = await run('ip', ['-j', '-4', 'route', 'show', `${spec.ip}/32`]);
  const hostRoutes = JSON.parse(host.stdout || '[]') as Array<{ dev?: string }>;
  if (!hostRoutes.some((r) => r.dev === spec.hostIfname))
    problems.push(`no host route ${spec.ip}/32 dev ${spec.hostIfname}`);
  return problems;
}
