// Where a lab keeps its state, and the names of what it makes on the machine outside its folder
// (cgroups, the outside host). Its own module so that commands which only need to find a lab
// (`cilium-ts status`, `observe`, `lab pod`, `lab exec`) do not load the lab itself, and so that the
// agent can find where to attach socket-LB and north-south programs.
import { join } from 'node:path';
import { repoRoot } from '../lib/paths.ts';

export interface LabPaths {
  dir: string;
  kubeconfig: string;
  pidFile: string;
  readyFile: string;
  logFile: string;
  /** the outside host's address, one line (written by `lab up`) */
  outsideAddrFile: string;
  /** the outside host as JSON: OutsideHost (src/lab/outside.ts) */
  outsideFile: string;
  /** the lab's nodes as JSON: LabNodeRecord[] (src/lab/exec.ts reads it for `lab exec --node`) */
  nodesFile: string;
  /** the kube-dns ClusterIP, one line; present when the lab runs cluster DNS (pods get it as resolver) */
  kubeDnsFile: string;
}

export function labPaths(dir = process.env.CILIUM_TS_LAB_DIR ?? join(repoRoot, '.lab')): LabPaths {
  return {
    dir,
    kubeconfig: join(dir, 'kubeconfig'),
    pidFile: join(dir, 'lab.pid'),
    readyFile: join(dir, 'ready'),
    logFile: join(dir, 'lab.log'),
    outsideAddrFile: join(dir, 'outside.addr'),
    outsideFile: join(dir, 'outside.json'),
    nodesFile: join(dir, 'nodes.json'),
    kubeDnsFile: join(dir, 'kube-dns.addr'),
  };
}

/** cgroup2 as mounted on this machine (v1 hybrid: the unified hierarchy beside the v1 controllers). */
export const CGROUP2_ROOT = process.env.CILIUM_TS_CGROUP2_ROOT ?? '/sys/fs/cgroup/unified';
/**
 * The lab's own cgroup: host processes of the lab's node (`lab exec --node`) run here, and pods'
 * processes in LAB_PODS_CGROUP below it. Socket-LB (connect/sendmsg/recvmsg hooks) attaches here,
 * never at the machine's root cgroup; programs attached here apply to the pods' cgroup too.
 */
export const LAB_CGROUP = join(CGROUP2_ROOT, 'cilium-ts-lab');
/** Pods' processes: echo servers, CoreDNS, probers and `lab exec NS/POD`. */
export const LAB_PODS_CGROUP = join(LAB_CGROUP, 'pods');

/** The outside host: a network namespace that is not a node, linked to the node by a veth pair. */
export const OUTSIDE_NETNS = 'cilium-ts-outside';
/** The node-side end of the outside host's veth pair: north-south programs (bpf_host) attach here. */
export const OUTSIDE_HOST_IFNAME = 'cts-outside';
/** The outside host's own end, inside OUTSIDE_NETNS. */
export const OUTSIDE_IFNAME = 'eth0';
/** A /30 of its own (RFC 1918, not routed anywhere else): .1 the node's end, .2 the outside host. */
export const OUTSIDE_NODE_ADDR = '172.31.254.1';
export const OUTSIDE_ADDR = '172.31.254.2';
export const OUTSIDE_PREFIX_LEN = 30;
/** The routing table (and rule preference) that confines what the outside host sends to the cluster. */
export const OUTSIDE_TABLE = '2540';
/** The cluster's pod addresses: the only range the node forwards from the outside host unchanged. */
export const LAB_FORWARDED_POOL = '10.0.0.0/8';

// --- a lab of several nodes (`lab up --nodes N`, N ≥ 2) ---

/** The underlay: a bridge in the root namespace that every node's eth0 is plugged into. */
export const UNDERLAY_BRIDGE = 'cts-underlay';
/** The bridge's own address: the root namespace on the underlay (the apiserver relay listens here). */
export const UNDERLAY_ADDR = '172.31.240.1';
export const UNDERLAY_PREFIX_LEN = 24;
/** The node's underlay interface, inside its namespace. */
export const NODE_UNDERLAY_IFNAME = 'eth0';
/** The per-node names and places a multi-node lab uses on the machine. */
export const labNodeNameAt = (i: number): string => `node-${i}`;
export const nodeUnderlayAddr = (i: number): string => `172.31.240.${10 + i}`;
export const nodeNetns = (name: string): string => `cilium-ts-${name}`;
/** The root-namespace end of a node's underlay veth (IFNAMSIZ: short). */
export const nodeBridgePort = (i: number): string => `cts-n${i}`;
/** Each node's cgroup below the lab's (socket-LB attaches there), its pods' below it. */
export const nodeCgroup = (name: string): string => join(LAB_CGROUP, name);
export const nodePodsCgroup = (name: string): string => join(LAB_CGROUP, name, 'pods');
