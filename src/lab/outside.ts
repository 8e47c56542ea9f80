// The outside host: a machine that is not part of the cluster, to test north-south traffic (a
// client reaching NodePorts and LoadBalancer IPs) and pods reaching something outside. It is a
// network namespace linked to the lab's node by a veth pair on a /30 of its own, with routes to
// the pod and Service/LB ranges via the node (nothing else: it never reaches real networks), and
// the node routes back through the connected /30. It runs the lab's servers answering `outside`.
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_PORTS } from './pods.ts';
import { echoCommand, startDetached } from './echo-server.ts';
import {
  OUTSIDE_ADDR,
  OUTSIDE_HOST_IFNAME,
  OUTSIDE_IFNAME,
  OUTSIDE_NETNS,
  OUTSIDE_NODE_ADDR,
  OUTSIDE_PREFIX_LEN,
  OUTSIDE_TABLE,
  LAB_FORWARDED_POOL,
  type LabPaths,
} from './paths.ts';

/** What `lab up` writes to .lab/outside.json for the agent and tests. */
export interface OutsideHost {
  netns: string;
  /** the outside host's address */
  address: string;
  /** the node's address on the link (the outside host's next hop) */
  nodeAddress: string;
  prefixLen: number;
  /** node-side veth: where north-south programs attach */
  hostIfname: string;
  ifname: string;
  /** destinations routed via the node */
  routes: string[];
  /** pid of its servers (`outside` on 80, 81 over TCP and UDP) */
  serverPid: number;
}

function ip(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', args, { encoding: 'utf8', timeout: 30_000 }, (err, _out, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });
}

async function must(args: string[]): Promise<void> {
  const r = await ip(args);
  if (r.code !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim()}`);
}

export function readOutside(p: LabPaths): OutsideHost | undefined {
  return existsSync(p.outsideFile) ? (JSON.parse(readFileSync(p.outsideFile, 'utf8')) as OutsideHost) : undefined;
}

/**
 * Makes the outside host (after removing any leftover of an earlier lab). `routes`: the ranges
 * reachable through the node — the pod CIDRs and the Service and LoadBalancer ranges.
 */
export async function createOutside(
  p: LabPaths,
  routes: string[],
  /**
   * pool: the cluster's pod range (forwarded as the main table routes it; default 10.0.0.0/8);
   * via: a multi-node lab's next hop for the other ranges (a node on the underlay, whose bpf_host
   * translates Services), instead of answering them as unreachable.
   */
  opts: { pool?: string; via?: string } = {},
): Promise<OutsideHost> {
  await removeOutside(p);
  await must(['netns', 'add', OUTSIDE_NETNS]);
  const inside = ['-n', OUTSIDE_NETNS];
  await must([
    'link',
    'add',
    OUTSIDE_HOST_IFNAME,
    'type',
    'veth',
    'peer',
    'name',
    OUTSIDE_IFNAME,
    'netns',
    OUTSIDE_NETNS,
  ]);
  await must(['addr', 'add', `${OUTSIDE_NODE_ADDR}/${OUTSIDE_PREFIX_LEN}`, 'dev', OUTSIDE_HOST_IFNAME]);
  await must(['link', 'set', OUTSIDE_HOST_IFNAME, 'up']);
  // The node forwards what arrives from the outside host (pods' veths have forwarding on already),
  // on this interface only, not machine-wide.
  writeFileSync(`/proc/sys/net/ipv4/conf/${OUTSIDE_HOST_IFNAME}/forwarding`, '1');
  writeFileSync(`/proc/sys/net/ipv4/conf/${OUTSIDE_HOST_IFNAME}/rp_filter`, '0');
  await confineOutside(routes, opts.pool ?? LAB_FORWARDED_POOL, opts.via);
  await must([...inside, 'link', 'set', 'lo', 'up']);
  await must([...inside, 'addr', 'add', `${OUTSIDE_ADDR}/${OUTSIDE_PREFIX_LEN}`, 'dev', OUTSIDE_IFNAME]);
  await must([...inside, 'link', 'set', OUTSIDE_IFNAME, 'up']);
  for (const r of routes) await must([...inside, 'route', 'replace', r, 'via', OUTSIDE_NODE_ADDR]);
  mkdirSync(p.dir, { recursive: true });
  const serverPid = await startDetached(
    ['ip', 'netns', 'exec', OUTSIDE_NETNS, ...echoCommand('outside', DEFAULT_PORTS)],
    join(p.dir, 'logs', 'outside.log'),
    { readyLine: true, what: 'the outside host servers' },
  );
  const host: OutsideHost = {
    netns: OUTSIDE_NETNS,
    address: OUTSIDE_ADDR,
    nodeAddress: OUTSIDE_NODE_ADDR,
    prefixLen: OUTSIDE_PREFIX_LEN,
    hostIfname: OUTSIDE_HOST_IFNAME,
    ifname: OUTSIDE_IFNAME,
    routes,
    serverPid,
  };
  writeFileSync(p.outsideFile, JSON.stringify(host, null, 2) + '\n');
  writeFileSync(p.outsideAddrFile, `${OUTSIDE_ADDR}\n`);
  return host;
}

/**
 * What arrives from the outside host is forwarded only into the cluster: a routing table of its own
 * sends the pod ranges on to the main table and makes everything else unreachable, so a frontend no
 * program translated (a Service range, a LoadBalancer pool) answers with an ICMP error on the node
 * instead of leaving through the machine's own uplink.
 */
async function confineOutside(routes: string[], pool: string, via: string | undefined): Promise<void> {
  await unconfineOutside();
  await must(['route', 'replace', 'unreachable', 'default', 'table', OUTSIDE_TABLE]);
  for (const r of routes) {
    if (r !== pool && via) await must(['route', 'replace', r, 'via', via, 'table', OUTSIDE_TABLE]);
    else await must(['route', 'replace', r === pool ? 'throw' : 'unreachable', r, 'table', OUTSIDE_TABLE]);
  }
  await must(['rule', 'add', 'iif', OUTSIDE_HOST_IFNAME, 'lookup', OUTSIDE_TABLE, 'pref', OUTSIDE_TABLE]);
}

async function unconfineOutside(): Promise<void> {
  while ((await ip(['rule', 'del', 'pref', OUTSIDE_TABLE])).code === 0);
  await ip(['route', 'flush', 'table', OUTSIDE_TABLE]);
}

/** Removes the outside host: its servers, the namespace (its veth end goes with it, and so the node's). */
export async function removeOutside(p: LabPaths): Promise<void> {
  // Every process in the namespace goes first: one left would keep it, and the veth, alive.
  const pids = await new Promise<string>((resolve) =>
    execFile('ip', ['netns', 'pids', OUTSIDE_NETNS], { encoding: 'utf8' }, (_e, out) => resolve(out ?? '')),
  );
  for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  await unconfineOutside();
  await ip(['netns', 'del', OUTSIDE_NETNS]);
  await ip(['link', 'del', OUTSIDE_HOST_IFNAME]);
  rmSync(p.outsideFile, { force: true });
  rmSync(p.outsideAddrFile, { force: true });
}
