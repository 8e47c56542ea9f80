// The `cilium-ts` command line.
import { parseArgs } from 'node:util';
import { hostname } from 'node:os';
import { labUp, labDown } from '../lab/lab.ts';
import { policyValidate } from './policy-validate.ts';

const usage = `usage: cilium-ts <command>

  lab up [--detach]   boot the local lab (real etcd + kube-apiserver + controller-manager, our CRDs,
                      config/samples); foreground until Ctrl-C, or --detach to run it in the
                      background and print the kubeconfig path
  lab down            stop a detached lab and remove its state
  lab pod add NAMESPACE/NAME [--labels k=v,...] [--ports 80/TCP,81/UDP,NAME=81/UDP,...]
  lab pod delete NAMESPACE/NAME | lab pod list [-o json]
                      pods in the lab: Pod object, network namespace through our CNI plugin,
                      TCP/UDP echo servers on the ports, status Running
  lab probe FROM TO --port N [--protocol TCP|UDP|ICMP] [--timeout MS]
  lab probe --all --port N [--protocol P] [-o json]
                      real connections between lab pods: allowed/denied, or the truth table
  status [--verbose]   the node agent: watches, datapath, endpoints, identities, policies, maps
  endpoint list | endpoint get ID|NS/POD      identity list | identity get ID
  policy get          the policies the agent holds (and what it cannot enforce)
  policy explain FROM TO --port N [--protocol P] [--offline -f PATH...]
                      which rules allow or deny that flow (FROM/TO: namespace/pod, FROM may be
                      an identity); --offline answers from manifests (Pods, Namespaces, policies)
  bpf policy get ID|NS/POD   bpf ct list   bpf ipcache list   map list
                      the kernel's maps; every inspection command takes -o json
  observe [--server ADDR,...] [-f] [--last N] [--namespace NS] [--pod P] [--verdict V] [--protocol P]
          [--port N] [--label k8s:app=web] [--identity ID] [-o compact|json|jsonpb|table] ...
                      flows from the agents' Hubble-compatible observer API, with the rule that
                      decided each one (see cilium-ts observe --help)
  policy validate [PATH|-]... [-o text|json]
                      validate CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy
                      and CiliumLoadBalancerIPPool manifests offline (files, folders, stdin);
                      exit 1 when any is invalid
  webhook [--kubeconfig F] [--port 9443] [--namespace kube-system] [--service NAME]
                      run the admission webhook server (manages its own certificates)
  agent [--kubeconfig F] [--node-name N] [--enforcement-mode default|always|never]
        [--pod-cidr C] [--state-dir D] [--cni-socket S] [--health-port 9962]
        [--hubble-listen :4245] [--flow-capacity 4095] [--api-socket /var/run/cilium-ts/agent.sock]
                      run the node agent: identities, policy engine, endpoints, the CNI server
                      and the eBPF datapath (root)
  operator [--kubeconfig F] [--namespace kube-system] [--health-port 9234]
           [--cluster-pool-ipv4-cidr C,… --cluster-pool-ipv4-mask-size N] [--ipv6 twins]
           [--gc-interval 60s] [--identity-gc-grace 15m] [--leader-elect=false] …
                      run the operator (LB-IPAM, pod-CIDR IPAM, policy status, GC) with leader
                      election; every flag can also be set as an environment variable
                      (--gc-interval → GC_INTERVAL), e.g. from the cilium-ts-operator ConfigMap
`;

async function lab(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'pod') return (await import('../lab/pods.ts')).labPodCommand(rest);
  if (sub === 'probe') return (await import('../lab/probe.ts')).labProbeCommand(rest);
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
  if (sub === 'get' || sub === 'explain') return inspect('policy', args);
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

async function inspect(cmd: string, args: string[]): Promise<number> {
  const { inspectCommand } = await import('./inspect.ts');
  const code = await inspectCommand(cmd, args);
  if (code !== undefined) return code;
  process.stderr.write(`cilium-ts: unknown command '${[cmd, ...args.filter((a) => !a.startsWith('-'))].slice(0, 3).join(' ')}'\n${usage}`);
  return 2;
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

async function operator(args: string[]): Promise<number> {
  const { settingNames, configFrom, runOperator } = await import('../operator.ts');
  const { values } = parseArgs({
    args,
    options: Object.fromEntries(settingNames.map((n) => [n, { type: 'string' as const }])),
  });
  const running = await runOperator({ config: configFrom(values as Record<string, string | undefined>) });
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await running.stop();
  return 0;
}

async function agent(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      'node-name': { type: 'string', default: process.env.K8S_NODE_NAME ?? hostname() },
      'state-dir': { type: 'string', default: '/var/run/cilium-ts/state' },
      'cni-socket': { type: 'string', default: '/var/run/cilium-ts/cni.sock' },
      'pin-root': { type: 'string' },
      'enforcement-mode': { type: 'string', default: process.env.ENFORCEMENT_MODE ?? 'default' },
      'cluster-name': { type: 'string', default: process.env.CLUSTER_NAME ?? 'default' },
      'pod-cidr': { type: 'string' },
      'health-port': { type: 'string', default: '9962' },
      'health-host': { type: 'string', default: '0.0.0.0' },
      'hubble-listen': { type: 'string', default: process.env.HUBBLE_LISTEN ?? ':4245' },
      'flow-capacity': { type: 'string', default: '4095' },
      'api-socket': { type: 'string', default: '/var/run/cilium-ts/agent.sock' },
    },
  });
  const mode = values['enforcement-mode'];
  if (mode !== 'default' && mode !== 'always' && mode !== 'never') {
    process.stderr.write(`cilium-ts agent: --enforcement-mode must be default, always or never, not ${mode}\n`);
    return 2;
  }
  const { Agent } = await import('../agent/agent.ts');
  const { loadKubeConfig } = await import('../lib/kube.ts');
  const running = await Agent.start({
    kc: loadKubeConfig(values.kubeconfig), nodeName: values['node-name']!, stateDir: values['state-dir']!,
    socketPath: values['cni-socket']!, enforcementMode: mode, clusterName: values['cluster-name']!,
    healthPort: Number(values['health-port']), healthHost: values['health-host']!,
    hubbleListen: values['hubble-listen']!.startsWith(':') ? `0.0.0.0${values['hubble-listen']}` : values['hubble-listen']!,
    flowCapacity: Number(values['flow-capacity']), apiSocket: values['api-socket']!,
    ...(values['pin-root'] ? { pinRoot: values['pin-root'] } : {}),
    ...(values['pod-cidr'] ? { podCidr: values['pod-cidr'] } : {}),
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
    case 'operator':
      return operator(rest);
    case 'agent':
      return agent(rest);
    case 'observe':
      return (await import('./observe.ts')).observeCommand(rest);
    case 'status':
    case 'endpoint':
    case 'identity':
    case 'bpf':
    case 'map':
      return inspect(cmd, rest);
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
