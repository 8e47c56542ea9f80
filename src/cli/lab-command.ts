// `cilium-ts lab up|down|pod|probe|exec`: the lab (src/lab), loaded only by these commands.
import { parseArgs } from 'node:util';

/** undefined: not a lab command this knows (the caller prints the usage). */
export async function labCommand(args: string[]): Promise<number | undefined> {
  const [sub, ...rest] = args;
  if (sub === 'pod') return (await import('../lab/pods.ts')).labPodCommand(rest);
  if (sub === 'probe') return (await import('../lab/probe.ts')).labProbeCommand(rest);
  if (sub === 'exec') return (await import('../lab/exec.ts')).labExecCommand(rest);
  if (sub !== 'up' && sub !== 'down') return undefined;
  const { values } = parseArgs({
    args: rest,
    options: {
      detach: { type: 'boolean', short: 'd', default: false },
      quiet: { type: 'boolean', default: false },
      'no-dns': { type: 'boolean', default: false },
    },
  });
  const { labUp, labDown } = await import('../lab/lab.ts');
  return sub === 'up' ? labUp({ detach: values.detach, quiet: values.quiet, dns: !values['no-dns'] }) : labDown();
}
