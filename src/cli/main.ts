// The `cilium-ts` command line.
import { parseArgs } from 'node:util';
import { labUp, labDown } from '../lab/lab.ts';
import { policyValidate } from './policy-validate.ts';

const usage = `usage: cilium-ts <command>

  lab up [--detach]   boot the local lab (real etcd + kube-apiserver + controller-manager, our CRDs,
                      config/samples); foreground until Ctrl-C, or --detach to run it in the
                      background and print the kubeconfig path
  lab down            stop a detached lab and remove its state
  policy validate [PATH|-]... [-o text|json]
                      validate CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy
                      and CiliumLoadBalancerIPPool manifests offline (files, folders, stdin);
                      exit 1 when any is invalid
  webhook [--kubeconfig F] [--port 9443] [--namespace kube-system] [--service NAME]
                      run the admission webhook server (manages its own certificates)
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

async function policy(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub !== 'validate') {
    process.stderr.write(usage);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o', default: 'text' } },
  });
  if (values.output !== 'text' && values.output !== 'json') {
    process.stderr.write(`cilium-ts: --output must be text or json, not ${values.output}\n`);
    return 2;
  }
  return policyValidate(positionals, values.output);
}

async function webhook(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      port: { type: 'string', default: '9443' },
      namespace: { type: 'string', default: process.env.POD_NAMESPACE ?? 'kube-system' },
      service: { type: 'string', default: 'cilium-ts-webhook' },
    },
  });
  const { runWebhook } = await import('../webhooks/webhook.ts');
  const { loadKubeConfig } = await import('../lib/kube.ts');
  const running = await runWebhook({
    kc: loadKubeConfig(values.kubeconfig),
    namespace: values.namespace!,
    port: Number(values.port),
    service: values.service,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.stop();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'lab':
      return lab(rest);
    case 'policy':
      return policy(rest);
    case 'webhook':
      return webhook(rest);
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
