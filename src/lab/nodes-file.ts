// The lab's nodes as `lab up` records them in .lab/nodes.json: the one node of a single-node lab
// (the machine itself), or each node of a multi-node lab with its namespace, its agent's sockets,
// cgroups and process. Read by `lab exec --node`, `lab pod add --node`, `lab node …`.
import { existsSync, readFileSync } from 'node:fs';
import { labNodeName } from './node.ts';
import { labPaths } from './paths.ts';

/** One node of the lab, as `lab up` records it in .lab/nodes.json. */
export interface LabNodeRecord {
  name: string;
  internalIP: string;
  /** the node's network namespace; undefined: the machine's root namespace */
  netns?: string;
  /** its agent's CNI socket (multi-node labs: one agent process per node) */
  cniSocket?: string;
  /** its agent's API socket */
  apiSocket?: string;
  /** host processes of the node run here, and its pods' processes in podsCgroup */
  cgroup?: string;
  podsCgroup?: string;
  /** its agent process: pid file, log, the argv `lab node start` runs again, its pin root */
  pidFile?: string;
  logFile?: string;
  agentArgv?: string[];
  pinRoot?: string;
}

export function labNodes(): LabNodeRecord[] {
  const p = labPaths();
  if (existsSync(p.nodesFile)) return JSON.parse(readFileSync(p.nodesFile, 'utf8')) as LabNodeRecord[];
  return [{ name: labNodeName(), internalIP: '' }];
}

/** A multi-node lab: each node has its own agent process (and CNI socket). */
export function isMultiNode(nodes: LabNodeRecord[]): boolean {
  return nodes.some((n) => n.cniSocket !== undefined);
}
