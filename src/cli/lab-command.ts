// `cilium-ts lab up|down|pod|probe|exec|node`: the lab (src/lab), loaded only by these commands.
import { parseArgs } from 'node:util';
import { FlagError, integerFlag } from './flags.ts';

/** undefined: not a lab command this knows (the caller prints the usage). */
export async function labCommand(args: string[]): Promise<number | undefined> {
  const [sub, ...rest] = args;
  if (sub === 'pod') return (await import('../lab/pods.ts')).labPodCommand(rest);
  if (sub === 'probe') return (await import('../lab/probe.ts')).labProbeCommand(rest);
  if (sub === 'exec') return (await import('../lab/exec.ts')).labExecCommand(rest);
  if (sub === 'node') return (await import('../lab/node-command.ts')).labNodeCommand(rest);
  if (sub !== 'up' && sub !== 'down') return undefined;
  const { values } = parseArgs({
    args: rest,
    options: {
      detach: { type: 'boolean', short: 'd', default: false },
      quiet: { type: 'boolean', default: false },
      'no-dns': { type: 'boolean', default: false },
      nodes: { type: 'string' },
      'routing-mode': { type: 'string' },
      'cluster-pool-ipv4-cidr': { type: 'string' },
      'cluster-pool-ipv4-mask-size': { type: 'string' },
    },
  });
  const { labUp, labDown } = await import('../lab/lab.ts');
  if (sub === 'down') return labDown();
  const nodes = values.nodes === undefined ? undefined : integerFlag('nodes', values.nodes);
  if (nodes !== undefined && (nodes < 1 || nodes > 16)) throw new FlagError(`--nodes must be 1-16, not ${nodes}`);
  const mode = values['routing-mode'];
  if (mode !== undefined && mode !== 'tunnel' && mode !== 'native')
    throw new FlagError(`--routing-mode must be tunnel or native, not "${mode}"`);
  const mask = values['cluster-pool-ipv4-mask-size'];
  return labUp({
    detach: values.detach,
    quiet: values.quiet,
    dns: !values['no-dns'],
    ...(nodes !== undefined ? { nodes } : {}),
    ...(mode ? { routingMode: mode } : {}),
    ...(values['cluster-pool-ipv4-cidr'] ? { clusterPoolCidr: values['cluster-pool-ipv4-cidr'] } : {}),
    ...(mask !== undefined ? { clusterPoolMaskSize: integerFlag('cluster-pool-ipv4-mask-size', mask) } : {}),
  });
}
