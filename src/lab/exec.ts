// `cilium-ts lab exec`: a command inside a lab pod's network namespace, the outside host's, or as
// a host process of a lab node, with stdio inherited and its exit code passed through. Through
// `ip netns exec`, so the pod's /etc/netns/<netns>/resolv.conf (the cluster resolver) applies;
// pods' commands run in the lab's pods cgroup and node commands in the lab's cgroup, where
// socket-LB attaches.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { inCgroup } from './cgroup.ts';
import { labNodes } from './nodes-file.ts';
import { LAB_CGROUP, LAB_PODS_CGROUP, OUTSIDE_NETNS } from './paths.ts';
import { labPodOptions, parsePodRef, readPod } from './pods.ts';

export type { LabNodeRecord } from './nodes-file.ts';

const execUsage = `usage: cilium-ts lab exec NAMESPACE/POD -- COMMAND [ARGS...]
       cilium-ts lab exec --outside -- COMMAND [ARGS...]
       cilium-ts lab exec --node [NAME] -- COMMAND [ARGS...]
`;

class UsageError extends Error {}

/** The argv to run for `lab exec` (exported for tests). */
export function execArgv(args: string[]): string[] {
  const dash = args.indexOf('--');
  if (dash < 0 || dash === args.length - 1) throw new UsageError('no command after --');
  const [where, ...rest] = args.slice(0, dash);
  const cmd = args.slice(dash + 1);
  if (where === '--outside' && rest.length === 0) {
    if (!existsSync(`/var/run/netns/${OUTSIDE_NETNS}`))
      throw new Error(`the outside host (netns ${OUTSIDE_NETNS}) does not exist: is a lab running?`);
    return ['ip', 'netns', 'exec', OUTSIDE_NETNS, ...cmd];
  }
  if (where === '--node' && rest.length <= 1) {
    const nodes = labNodes();
    const name = rest[0];
    const node = name === undefined ? (nodes.length === 1 ? nodes[0] : undefined) : nodes.find((n) => n.name === name);
    if (!node) {
      const known = nodes.map((n) => n.name).join(', ');
      throw new Error(
        name === undefined
          ? `the lab has several nodes (${known}): name one`
          : `no lab node '${name}' (nodes: ${known})`,
      );
    }
    return inCgroup(node.cgroup ?? LAB_CGROUP, node.netns ? ['ip', 'netns', 'exec', node.netns, ...cmd] : cmd);
  }
  if (where !== undefined && !where.startsWith('-') && rest.length === 0) {
    const { namespace, name } = parsePodRef(where);
    const pod = readPod(labPodOptions(), namespace, name);
    if (!pod) throw new Error(`no lab pod ${namespace}/${name} (see 'cilium-ts lab pod list')`);
    return inCgroup(pod.cgroup ?? LAB_PODS_CGROUP, ['ip', 'netns', 'exec', pod.netns, ...cmd]);
  }
  throw new UsageError(`unexpected arguments before --: ${args.slice(0, dash).join(' ')}`);
}

export async function labExecCommand(args: string[]): Promise<number> {
  let argv: string[];
  try {
    argv = execArgv(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`cilium-ts lab exec: ${e.message}\n${execUsage}`);
    return 2;
  }
  const child = spawn(argv[0]!, argv.slice(1), { stdio: 'inherit' });
  // The terminal's Ctrl-C reaches the command too (same process group): it decides, we wait.
  const ignore = () => undefined;
  process.on('SIGINT', ignore);
  try {
    return await new Promise<number>((resolve, reject) => {
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)));
    });
  } finally {
    process.off('SIGINT', ignore);
  }
}
