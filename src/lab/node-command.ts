// `cilium-ts lab node list|stop|start`: the lab's nodes — name, addresses, pod CIDR, agent health —
// and stopping or starting one node's agent process (a multi-node lab's; the kernel keeps forwarding
// with the programs and maps the agent left).
import { parseArgs } from 'node:util';
import { cluster } from '../lib/fluent.ts';
import { labPaths } from './paths.ts';
import { runKubectl } from './control-plane.ts';
import { isMultiNode, labNodes, type LabNodeRecord } from './nodes-file.ts';
import { agentPid, agentStatus, startAgentProcess, stopAgentProcess, waitAgentReady } from './multi-node.ts';
import { agentGet, defaultAgentSocket } from '../cli/agent-client.ts';
import type { AgentStatus } from '../agent/types.ts';

export interface LabNodeInfo {
  name: string;
  addresses: Array<{ type: string; address: string }>;
  podCIDRs: string[];
  netns: string | null;
  agent: { pid: number | null; health: string };
}

const nodeUsage = `usage: cilium-ts lab node list [-o text|json]
       cilium-ts lab node stop NAME     stop the node's agent (its programs keep forwarding)
       cilium-ts lab node start NAME    start it again, and wait until it is ready
`;

/** Every CiliumNode's pod CIDRs, by name (the operator's cluster-pool allocation). */
async function podCidrs(): Promise<Map<string, string[]>> {
  const r = await runKubectl(labPaths().kubeconfig, ['get', 'ciliumnodes', '-o', 'json']);
  if (r.code !== 0) return new Map();
  type Item = { metadata: { name: string }; spec?: { ipam?: { podCIDRs?: string[] } } };
  const list = JSON.parse(r.stdout) as { items: Item[] };
  return new Map(list.items.map((cn) => [cn.metadata.name, cn.spec?.ipam?.podCIDRs ?? []]));
}

async function info(n: LabNodeRecord, cidrs: Map<string, string[]>): Promise<LabNodeInfo> {
  const node = await cluster(labPaths().kubeconfig)
    .get('Node', n.name)
    .catch(() => undefined);
  const multi = n.cniSocket !== undefined;
  const pid = multi ? (agentPid(n) ?? null) : null;
  let status: AgentStatus | undefined;
  if (multi) status = pid ? await agentStatus(n) : undefined;
  else status = await agentGet<AgentStatus>('/v1/status', defaultAgentSocket()).catch(() => undefined);
  const health = multi && !pid ? 'stopped' : status ? status.agent : 'not answering';
  return {
    name: n.name,
    addresses: (node?.status?.addresses ?? []).map((a) => ({ type: a.type, address: a.address })),
    podCIDRs: cidrs.get(n.name) ?? [],
    netns: n.netns ?? null,
    agent: { pid, health },
  };
}

function find(name: string | undefined): LabNodeRecord {
  const nodes = labNodes();
  const node = nodes.find((n) => n.name === name);
  if (!node) throw new Error(`no lab node '${name}' (nodes: ${nodes.map((n) => n.name).join(', ')})`);
  if (!isMultiNode(nodes))
    throw new Error('this lab has one node, whose agent runs inside the lab process: start a lab with --nodes 2');
  return node;
}

export async function labNodeCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o', default: 'text' } },
  });
  if (sub === 'list' && positionals.length === 0) {
    const cidrs = await podCidrs();
    const all = await Promise.all(labNodes().map((n) => info(n, cidrs)));
    if (values.output === 'json') {
      process.stdout.write(JSON.stringify(all, null, 2) + '\n');
      return 0;
    }
    const rows = [
      ['NAME', 'INTERNAL-IP', 'POD-CIDR', 'AGENT', 'NETNS'],
      ...all.map((n) => [
        n.name,
        n.addresses
          .filter((a) => a.type === 'InternalIP')
          .map((a) => a.address)
          .join(',') || '-',
        n.podCIDRs.join(',') || '-',
        n.agent.pid ? `${n.agent.health} (pid ${n.agent.pid})` : n.agent.health,
        n.netns ?? '-',
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd() + '\n',
      );
    return 0;
  }
  if ((sub === 'stop' || sub === 'start') && positionals.length === 1) {
    const node = find(positionals[0]);
    if (sub === 'stop') {
      const stopped = await stopAgentProcess(node);
      console.log(stopped ? `agent of ${node.name} stopped` : `the agent of ${node.name} was not running`);
      return 0;
    }
    if (agentPid(node)) {
      console.log(`the agent of ${node.name} is running already`);
      return 0;
    }
    const pid = startAgentProcess(node);
    await waitAgentReady(node, 90_000);
    console.log(`agent of ${node.name} started (pid ${pid}) and ready`);
    return 0;
  }
  process.stderr.write(nodeUsage);
  return 2;
}
