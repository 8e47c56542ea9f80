// `cilium-ts webhook|operator|agent`: the long-running components, each until SIGINT/SIGTERM. Their
// code is imported only once the flags are read, so a typo costs no start-up of the component.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { FlagError, integerFlag, portFlag } from './flags.ts';

function untilSignal(): Promise<void> {
  return new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
}

export async function webhookCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      kubeconfig: { type: 'string' },
      port: { type: 'string', default: '9443' },
      namespace: { type: 'string', default: process.env.POD_NAMESPACE ?? 'kube-system' },
      service: { type: 'string', default: 'cilium-ts-webhook' },
    },
  });
  const port = portFlag('port', values.port);
  const { runWebhook } = await import('../webhooks/webhook.ts');
  const { loadKubeConfig } = await import('../lib/kube.ts');
  const running = await runWebhook({
    kc: loadKubeConfig(values.kubeconfig),
    namespace: values.namespace,
    port,
    service: values.service,
  });
  await untilSignal();
  await running.stop();
  return 0;
}

export async function operatorCommand(args: string[]): Promise<number> {
  const { settingNames, configFrom, runOperator } = await import('../operator.ts');
  const { values } = parseArgs({
    args,
    options: Object.fromEntries(settingNames.map((n) => [n, { type: 'string' as const }])),
  });
  const running = await runOperator({ config: configFrom(values) });
  await untilSignal();
  await running.stop();
  return 0;
}

export async function agentCommand(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    allowNegative: true,
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
      'kube-proxy-replacement': { type: 'string', default: process.env.KUBE_PROXY_REPLACEMENT ?? 'true' },
      'socket-lb-cgroup': { type: 'string' },
      'socket-lb-host-namespace-only': { type: 'boolean', default: false },
      devices: { type: 'string' },
      'bpf-lb-mode': { type: 'string', default: 'snat' },
      'bpf-lb-maglev-table-size': { type: 'string', default: '16381' },
      'bpf-lb-map-max': { type: 'string' },
      'routing-mode': { type: 'string', default: process.env.ROUTING_MODE ?? 'tunnel' },
      'tunnel-protocol': { type: 'string', default: process.env.TUNNEL_PROTOCOL ?? 'vxlan' },
      // Native mode on one shared underlay (the lab's): on unless --no-auto-direct-node-routes.
      'auto-direct-node-routes': { type: 'boolean' },
      mtu: { type: 'string' },
    },
  });
  const routingMode = values['routing-mode'];
  if (routingMode !== 'tunnel' && routingMode !== 'native') {
    throw new FlagError(`--routing-mode must be tunnel or native, not "${routingMode}"`);
  }
  const tunnelProtocol = values['tunnel-protocol'];
  if (tunnelProtocol !== 'vxlan' && tunnelProtocol !== 'geneve') {
    throw new FlagError(`--tunnel-protocol must be vxlan or geneve, not "${tunnelProtocol}"`);
  }
  if (values['auto-direct-node-routes'] === true && routingMode !== 'native') {
    throw new FlagError('--auto-direct-node-routes needs --routing-mode native (a tunnel reaches the nodes itself)');
  }
  const mtu = values.mtu === undefined ? undefined : integerFlag('mtu', values.mtu);
  if (mtu !== undefined && (mtu < 1280 || mtu > 65535)) throw new FlagError(`--mtu must be 1280..65535, not ${mtu}`);
  const lbMode = values['bpf-lb-mode'];
  if (lbMode !== 'snat' && lbMode !== 'dsr') throw new FlagError(`--bpf-lb-mode must be snat or dsr, not "${lbMode}"`);
  const maglevTableSize = integerFlag('bpf-lb-maglev-table-size', values['bpf-lb-maglev-table-size']);
  const lbMapMax = values['bpf-lb-map-max'] ? integerFlag('bpf-lb-map-max', values['bpf-lb-map-max']) : undefined;
  const devices = (values.devices ?? '')
    .split(',')
    .map((d) => d.trim())
    .filter(Boolean);
  const socketLbCgroup = values['socket-lb-cgroup'];
  const kpr = values['kube-proxy-replacement'];
  if (kpr !== 'true' && kpr !== 'false') {
    throw new FlagError(`--kube-proxy-replacement must be true or false, not "${kpr}"`);
  }
  const mode = values['enforcement-mode'];
  if (mode !== 'default' && mode !== 'always' && mode !== 'never') {
    process.stderr.write(`cilium-ts agent: --enforcement-mode must be default, always or never, not ${mode}\n`);
    return 2;
  }
  const healthPort = portFlag('health-port', values['health-port']);
  const flowCapacity = integerFlag('flow-capacity', values['flow-capacity']);
  const hubble = values['hubble-listen'];
  const { Agent } = await import('../agent/agent.ts');
  const { loadKubeConfig } = await import('../lib/kube.ts');
  const running = await Agent.start({
    kc: loadKubeConfig(values.kubeconfig),
    nodeName: values['node-name'],
    stateDir: values['state-dir'],
    socketPath: values['cni-socket'],
    enforcementMode: mode,
    clusterName: values['cluster-name'],
    healthPort,
    healthHost: values['health-host'],
    hubbleListen: hubble.startsWith(':') ? `0.0.0.0${hubble}` : hubble,
    flowCapacity,
    apiSocket: values['api-socket'],
    kubeProxyReplacement: kpr === 'true',
    lbMode,
    maglevTableSize,
    ...(lbMapMax !== undefined ? { lbMapMax } : {}),
    routingMode,
    tunnelProtocol,
    autoDirectNodeRoutes: values['auto-direct-node-routes'] ?? routingMode === 'native',
    ...(mtu !== undefined ? { mtu } : {}),
    ...(devices.length ? { devices } : {}),
    ...(socketLbCgroup
      ? { socketLb: { cgroupPath: socketLbCgroup, hostNamespaceOnly: values['socket-lb-host-namespace-only'] } }
      : {}),
    ...(values['pin-root'] ? { pinRoot: values['pin-root'] } : {}),
    ...(values['pod-cidr'] ? { podCidr: values['pod-cidr'] } : {}),
  });
  await untilSignal();
  await running.stop();
  return 0;
}
