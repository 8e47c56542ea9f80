// A lab of several nodes (`lab up --nodes N`, N ≥ 2): each node is a network namespace
// `cilium-ts-node-<i>` plugged into the underlay bridge `cts-underlay` (root namespace,
// 172.31.240.1/24; node i is 172.31.240.(10+i) on its eth0), with its own agent PROCESS inside it.
// The agent is started with nsenter (not `ip netns exec`, which remounts /sys and so loses the
// bpffs pins), in a mount namespace of its own where only /sys/class/net and the virtual network
// devices are replaced by a sysfs of the node's namespace: the agent reads its links there.
// Everything here is named after the node, so `lab down` and the next `lab up` find what a
// crashed lab left (namespaces, bridge, pins, cgroups, processes in the namespaces).
import { execFile, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { agentGet } from '../cli/agent-client.ts';
import { detachSocketLb } from '../datapath/socket-lb.ts';
import type { AgentStatus } from '../agent/types.ts';
import { ensureLabCgroups } from './cgroup.ts';
import type { LabNodeRecord } from './nodes-file.ts';
import {
  LAB_CGROUP,
  NODE_UNDERLAY_IFNAME,
  UNDERLAY_ADDR,
  UNDERLAY_BRIDGE,
  UNDERLAY_PREFIX_LEN,
  labNodeNameAt,
  nodeBridgePort,
  nodeCgroup,
  nodeNetns,
  nodePodsCgroup,
  nodeUnderlayAddr,
  type LabPaths,
} from './paths.ts';

export type RoutingMode = 'tunnel' | 'native';
/** Each node's Hubble observer and health ports: every agent is in its own namespace, so no clash. */
export const NODE_HUBBLE_PORT = 4245;
export const NODE_HEALTH_PORT = 9962;

interface CmdResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[]): Promise<CmdResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8', timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function ip(args: string[]): Promise<void> {
  const r = await run('ip', args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** A node's files under the lab folder. */
export function nodeDir(p: LabPaths, name: string): string {
  return join(p.dir, 'nodes', name);
}

/** The lab's pin root for one node (under the lab's LAB_PIN_ROOT). */
export function nodePinRoot(labPinRoot: string, name: string): string {
  return join(labPinRoot, name);
}

/** The underlay bridge and one namespace per node on it, with its address and a route out via the bridge. */
export async function createUnderlay(count: number): Promise<Array<{ name: string; internalIP: string }>> {
  await ip(['link', 'add', UNDERLAY_BRIDGE, 'type', 'bridge']);
  await ip(['addr', 'add', `${UNDERLAY_ADDR}/${UNDERLAY_PREFIX_LEN}`, 'dev', UNDERLAY_BRIDGE]);
  await ip(['link', 'set', UNDERLAY_BRIDGE, 'up']);
  // The root namespace routes between the outside host and the nodes (and answers the relays):
  // forwarding on the bridge only, not machine-wide.
  writeFileSync(`/proc/sys/net/ipv4/conf/${UNDERLAY_BRIDGE}/forwarding`, '1');
  writeFileSync(`/proc/sys/net/ipv4/conf/${UNDERLAY_BRIDGE}/rp_filter`, '0');
  const nodes: Array<{ name: string; internalIP: string }> = [];
  for (let i = 1; i <= count; i++) {
    const name = labNodeNameAt(i);
    const netns = nodeNetns(name);
    const port = nodeBridgePort(i);
    await ip(['netns', 'add', netns]);
    await ip(['link', 'add', port, 'type', 'veth', 'peer', 'name', NODE_UNDERLAY_IFNAME, 'netns', netns]);
    await ip(['link', 'set', port, 'master', UNDERLAY_BRIDGE, 'up']);
    const inside = ['-n', netns];
    await ip([...inside, 'link', 'set', 'lo', 'up']);
    await ip([...inside, 'addr', 'add', `${nodeUnderlayAddr(i)}/${UNDERLAY_PREFIX_LEN}`, 'dev', NODE_UNDERLAY_IFNAME]);
    await ip([...inside, 'link', 'set', NODE_UNDERLAY_IFNAME, 'up']);
    await ip([...inside, 'route', 'add', 'default', 'via', UNDERLAY_ADDR]);
    // A node is a router for its pods: forwarding on in its own namespace; no reverse-path filter
    // (pods' packets arrive from remote nodes over the tunnel or the underlay).
    const sysctl = await run('ip', [
      'netns',
      'exec',
      netns,
      'sysctl',
      '-qw',
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
      `net.ipv4.conf.${NODE_UNDERLAY_IFNAME}.rp_filter=0`,
    ]);
    if (sysctl.code !== 0) throw new Error(`sysctl in ${netns}: ${sysctl.stderr.trim()}`);
    nodes.push({ name, internalIP: nodeUnderlayAddr(i) });
  }
  return nodes;
}

/** The root namespace's routes to each node's pod CIDR (the outside host and the relays reach pods by them). */
export async function routePodCidrs(routes: Array<{ podCidr: string; via: string }>): Promise<void> {
  for (const r of routes) await ip(['route', 'replace', r.podCidr, 'via', r.via, 'dev', UNDERLAY_BRIDGE]);
}

/** Mount namespace for the agent: /sys stays (bpffs, cgroup2), its network view is the node's. */
const NODE_SYSFS = [
  'T=$(mktemp -d) && mount -t sysfs sysfs "$T"',
  'mount --bind "$T/class/net" /sys/class/net',
  'mount --bind "$T/devices/virtual/net" /sys/devices/virtual/net',
  'umount -l "$T" && rmdir "$T"',
  'exec "$@"',
].join(' && ');

export interface AgentProcessSpec {
  name: string;
  netns: string;
  internalIP: string;
  kubeconfig: string;
  dir: string;
  pinRoot: string;
  logFile: string;
  routingMode: RoutingMode;
  /** socket-LB on the node's own cgroup (undefined: no cgroup2 on this machine) */
  cgroup: string | undefined;
}

/** argv of one node's agent process (recorded so `lab node start` runs exactly it again). */
export function agentArgv(s: AgentProcessSpec): string[] {
  const main = join(import.meta.dirname, '..', 'cli', 'main.ts');
  // Tunnel: VXLAN between the nodes' InternalIPs; native: routes to the other nodes' pod CIDRs via
  // their InternalIPs (all on the one underlay). The agent lowers the pod MTU for the tunnel itself.
  const routing = [
    '--routing-mode',
    s.routingMode,
    ...(s.routingMode === 'tunnel' ? ['--tunnel-protocol', 'vxlan'] : ['--auto-direct-node-routes']),
  ];
  return [
    'nsenter',
    `--net=/run/netns/${s.netns}`,
    '--',
    'unshare',
    '--mount',
    '--propagation',
    'slave',
    '--',
    'sh',
    '-c',
    NODE_SYSFS,
    `cilium-ts-agent-${s.name}`,
    process.execPath,
    '--disable-warning=ExperimentalWarning',
    main,
    'agent',
    '--kubeconfig',
    s.kubeconfig,
    '--node-name',
    s.name,
    '--state-dir',
    join(s.dir, 'state'),
    '--cni-socket',
    join(s.dir, 'cni.sock'),
    '--api-socket',
    join(s.dir, 'agent.sock'),
    '--health-port',
    String(NODE_HEALTH_PORT),
    '--hubble-listen',
    `0.0.0.0:${NODE_HUBBLE_PORT}`,
    '--pin-root',
    s.pinRoot,
    '--devices',
    NODE_UNDERLAY_IFNAME,
    ...(s.cgroup ? ['--socket-lb-cgroup', s.cgroup] : []),
    ...routing,
  ];
}

/** The lab's record of a node (for .lab/nodes.json). */
export function nodeRecord(s: AgentProcessSpec): LabNodeRecord {
  return {
    name: s.name,
    internalIP: s.internalIP,
    netns: s.netns,
    cniSocket: join(s.dir, 'cni.sock'),
    apiSocket: join(s.dir, 'agent.sock'),
    cgroup: s.cgroup ?? LAB_CGROUP,
    podsCgroup: s.cgroup ? nodePodsCgroup(s.name) : join(LAB_CGROUP, 'pods'),
    pidFile: join(s.dir, 'agent.pid'),
    logFile: s.logFile,
    agentArgv: agentArgv(s),
    pinRoot: s.pinRoot,
  };
}

export function nodeSpec(
  p: LabPaths,
  i: number,
  o: { kubeconfig: string; labPinRoot: string; routingMode: RoutingMode },
): AgentProcessSpec {
  const name = labNodeNameAt(i);
  const cgroups = ensureLabCgroups();
  if (cgroups) mkdirSync(nodePodsCgroup(name), { recursive: true });
  return {
    name,
    netns: nodeNetns(name),
    internalIP: nodeUnderlayAddr(i),
    kubeconfig: o.kubeconfig,
    dir: nodeDir(p, name),
    pinRoot: nodePinRoot(o.labPinRoot, name),
    logFile: join(p.dir, 'logs', `agent-${name}.log`),
    routingMode: o.routingMode,
    cgroup: cgroups ? nodeCgroup(name) : undefined,
  };
}

/** The pid of a node's agent when it runs. */
export function agentPid(node: LabNodeRecord): number | undefined {
  if (!node.pidFile || !existsSync(node.pidFile)) return undefined;
  const pid = Number(readFileSync(node.pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : undefined;
}

/** Starts a node's agent process (detached: it outlives `lab node start`); its pid in the pid file. */
export function startAgentProcess(node: LabNodeRecord): number {
  if (!node.agentArgv || !node.pidFile || !node.logFile) throw new Error(`node ${node.name} has no agent process`);
  if (agentPid(node)) throw new Error(`the agent of ${node.name} is running already (pid ${agentPid(node)})`);
  mkdirSync(join(node.logFile, '..'), { recursive: true });
  mkdirSync(join(node.pidFile, '..'), { recursive: true });
  const fd = openSync(node.logFile, 'a');
  const [cmd, ...args] = node.agentArgv;
  const child = spawn(cmd!, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_FORMAT: 'json', K8S_NODE_NAME: node.name },
  });
  closeSync(fd);
  child.unref();
  if (!child.pid) throw new Error(`starting the agent of ${node.name} failed`);
  writeFileSync(node.pidFile, `${child.pid}\n`);
  return child.pid;
}

/** The agent's status on its API socket; undefined while it does not answer. */
export async function agentStatus(node: LabNodeRecord): Promise<AgentStatus | undefined> {
  if (!node.apiSocket || !existsSync(node.apiSocket)) return undefined;
  return agentGet<AgentStatus>('/v1/status', node.apiSocket).catch(() => undefined);
}

/** Waits until the node's agent says ok and has its pod CIDR; returns the CIDR. */
export async function waitAgentReady(node: LabNodeRecord, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer on its API socket';
  for (;;) {
    const s = await agentStatus(node);
    if (s?.agent === 'ok' && s.datapath.podCidr) return s.datapath.podCidr;
    if (s) last = s.agent === 'ok' ? 'no pod CIDR yet' : s.agent;
    const pid = agentPid(node);
    if (!pid) {
      const tail = node.logFile && existsSync(node.logFile) ? readFileSync(node.logFile, 'utf8').slice(-2000) : '';
      throw new Error(`the agent of ${node.name} exited (see ${node.logFile}):\n${tail}`);
    }
    if (Date.now() > deadline) throw new Error(`the agent of ${node.name} is not ready after ${timeoutMs} ms: ${last}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Stops a node's agent (SIGTERM, then SIGKILL after a while); the kernel keeps its programs. */
export async function stopAgentProcess(node: LabNodeRecord, timeoutMs = 20_000): Promise<boolean> {
  const pid = agentPid(node);
  if (!pid) return false;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  if (node.pidFile) rmSync(node.pidFile, { force: true });
  return true;
}

async function netnsPids(netns: string): Promise<number[]> {
  const r = await run('ip', ['netns', 'pids', netns]);
  return r.stdout.split(/\s+/).filter(Boolean).map(Number);
}

/** The node namespaces that exist on the machine (a running or crashed multi-node lab's). */
export async function existingNodeNetns(): Promise<string[]> {
  const r = await run('ip', ['netns', 'list']);
  return r.stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => /^cilium-ts-node-\d+$/.test(n));
}

/**
 * Removes every trace of a multi-node lab, whether it stopped or crashed: processes left in the
 * node namespaces (agents, `lab exec --node`), socket-LB links under the nodes' pin roots, the
 * namespaces (their veths, tunnel devices and programs go with them), the bridge, the pins and
 * the nodes' cgroups.
 */
export async function removeMultiNode(labPinRoot: string): Promise<void> {
  const namespaces = await existingNodeNetns();
  for (const ns of namespaces) {
    for (const pid of await netnsPids(ns)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
  const pinned = existsSync(labPinRoot)
    ? readdirSync(labPinRoot).filter((d) => /^node-\d+$/.test(d) && existsSync(join(labPinRoot, d)))
    : [];
  for (const d of pinned) {
    try {
      detachSocketLb({ pinRoot: join(labPinRoot, d) });
    } catch {
      /* nothing attached */
    }
  }
  for (const ns of namespaces) await run('ip', ['netns', 'del', ns]);
  await run('ip', ['link', 'del', UNDERLAY_BRIDGE]);
  for (const d of pinned) rmSync(join(labPinRoot, d), { recursive: true, force: true });
  if (existsSync(LAB_CGROUP)) {
    for (const d of readdirSync(LAB_CGROUP).filter((x) => /^node-\d+$/.test(x))) {
      for (const dir of [join(LAB_CGROUP, d, 'pods'), join(LAB_CGROUP, d)]) {
        try {
          rmdirSync(dir);
        } catch {
          /* gone, or still in use */
        }
      }
    }
  }
}
