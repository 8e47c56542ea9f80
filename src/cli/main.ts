// The `cilium-ts` command line.
import { parseArgs } from 'node:util';
import { labUp, labDown } from '../lab/lab.ts';

const usage = `usage: cilium-ts <command>

  lab up [--detach]   boot the local lab (real etcd + kube-apiserver + controller-manager, our CRDs,
                      config/samples); foreground until Ctrl-C, or --detach to run it in the
                      background and print the kubeconfig path
  lab down            stop a detached lab and remove its state
`;

async function lab(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parseArgs({
    args: rest,
    options: { detach: { type: 'boolean', short: 'd', default: false }, quiet: { type: 'boolean', default: false } },
  });
  if (sub === 'up') return labUp({ detach: values.detach!, quiet: values.quiet! });
  if (sub === 'down') return labDown();
  process.stderr.write(usage);
  return 2;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'lab':
      return lab(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`cilium-ts: unknown command '${cmd}'\n${usage}`);
      return 2;
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`cilium-ts: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
