// The `cilium-ts` command line: a dispatcher. Each command's code is imported when that command
// runs, so `status` loads the agent client and its renderer, not the lab, the agent or the engine
// (bench/cli-startup.bench.ts keeps the count honest).

// Built-ins through process.getBuiltinModule, not `import`: an ES module facade reads every export
// of a built-in, lazy ones too (node:http's load undici, ~18 ms), and the command pays for each.
const { enableCompileCache } = process.getBuiltinModule('node:module');
const { homedir } = process.getBuiltinModule('node:os');
const path = process.getBuiltinModule('node:path');

// Node keeps the compiled (and type-stripped) modules of earlier runs here: a command's second run
// skips stripping and compiling what the first one loaded. bin/cilium-ts sets NODE_COMPILE_CACHE to
// the same folder so that main.ts itself is cached too (then this is a no-op); this covers
// `node src/cli/main.ts` run directly.
try {
  const cacheRoot = process.env.CILIUM_TS_CACHE ?? path.join(homedir(), '.cache', 'cilium-ts');
  enableCompileCache(path.join(cacheRoot, 'node-compile-cache'));
} catch {
  // a read-only or missing home: run uncached
}

const usage = `usage: cilium-ts <command>

  lab up [--detach] [--no-dns] [--nodes N] [--routing-mode tunnel|native]
         [--cluster-pool-ipv4-cidr CIDR] [--cluster-pool-ipv4-mask-size N]
                      boot the local lab (real etcd + kube-apiserver + controller-manager, our CRDs,
                      config/samples, the outside host, CoreDNS as kube-dns unless --no-dns);
                      foreground until Ctrl-C, or --detach to run it in the background and print
                      the kubeconfig path; --nodes N ≥ 2: N node namespaces on an underlay bridge,
                      one agent process each
  lab down            stop a detached lab and remove its state
  lab node list [-o json] | lab node stop NAME | lab node start NAME
                      the lab's nodes (addresses, pod CIDR, agent health); stop/start one agent
  lab pod add NAMESPACE/NAME [--labels k=v,...] [--ports 80/TCP,81/UDP,NAME=81/UDP,...]
                      [--node NAME] [--ip ADDR]
  lab pod delete NAMESPACE/NAME | lab pod list [-o json]
                      pods in the lab: Pod object, network namespace through our CNI plugin,
                      TCP/UDP/HTTP servers on the ports answering namespace/name, status Running
  lab probe FROM TO --port N [--protocol TCP|UDP|ICMP] [--timeout MS] [-o json]
  lab probe --all --port N [--protocol P] [-o json]
                      real connections: allowed/denied and who answered, or the truth table;
                      FROM: NS/POD, outside, node or node:NAME; TO: NS/POD, svc:NS/NAME or an address
  lab exec NS/POD|--outside|--node [NAME] -- COMMAND [ARGS...]
                      run a command in a pod's network namespace, the outside host, or on a node
  status [--verbose]   the node agent: watches, datapath, endpoints, identities, policies, maps
  endpoint list | endpoint get ID|NS/POD      identity list | identity get ID
  policy get          the policies the agent holds (and what it cannot enforce)
  policy explain FROM TO --port N [--protocol P] [--offline -f PATH...]
                      which rules allow or deny that flow (FROM/TO: namespace/pod, FROM may be
                      an identity, TO may be svc:NS/NAME: one answer per backend); --offline
                      answers from manifests (Pods, Namespaces, Services, policies)
  service list        the Services the agent load-balances: ID, frontend, type, backends with state
  bpf policy get ID|NS/POD   bpf ct list   bpf ipcache list   bpf lb list   map list
                      the kernel's maps; every inspection command takes -o json
  observe [--server ADDR,...] [-f] [--last N] [--namespace NS] [--pod P] [--verdict V] [--protocol P]
          [--port N] [--label k8s:app=web] [--identity ID] [-o compact|json|jsonpb|table] ...
                      flows from the agents' Hubble-compatible observer API, with the rule that
                      decided each one (see cilium-ts observe --help)
  hubble relay [--listen 127.0.0.1:4245] [--peer-service ADDR]
                      Hubble Relay: the observer API for the whole cluster, agents found through
                      the peer service (peer.Peer/Notify) of one of them
  policy validate [PATH|-]... [-o text|json]
                      validate CiliumNetworkPolicy, CiliumClusterwideNetworkPolicy, NetworkPolicy
                      and CiliumLoadBalancerIPPool manifests offline (files, folders, stdin);
                      exit 1 when any is invalid
  webhook [--kubeconfig F] [--port 9443] [--namespace kube-system] [--service NAME]
                      run the admission webhook server (manages its own certificates)
  agent [--kubeconfig F] [--node-name N] [--enforcement-mode default|always|never]
        [--pod-cidr C] [--state-dir D] [--cni-socket S] [--health-port 9962]
        [--hubble-listen :4245] [--flow-capacity 4095] [--api-socket /var/run/cilium-ts/agent.sock]
        [--kube-proxy-replacement=true|false] [--socket-lb-cgroup PATH] [--socket-lb-host-namespace-only]
        [--devices IFNAME[,IFNAME]] [--bpf-lb-mode snat|dsr] [--bpf-lb-maglev-table-size 16381]
        [--bpf-lb-map-max 65536]
                      run the node agent: identities, policy engine, endpoints, the CNI server,
                      the eBPF datapath and (unless false) Services in eBPF instead of kube-proxy
                      (root)
  operator [--kubeconfig F] [--namespace kube-system] [--health-port 9234]
           [--cluster-pool-ipv4-cidr C,… --cluster-pool-ipv4-mask-size N] [--ipv6 twins]
           [--gc-interval 60s] [--identity-gc-grace 15m] [--leader-elect=false] …
                      run the operator (LB-IPAM, pod-CIDR IPAM, policy status, GC) with leader
                      election; every flag can also be set as an environment variable
                      (--gc-interval → GC_INTERVAL), e.g. from the cilium-ts-operator ConfigMap
`;

type Command = (args: string[]) => Promise<number | undefined>;

const inspect =
  (cmd: string): Command =>
  async (args) =>
    (await import('./inspect.ts')).inspectCommand(cmd, args);

const commands: Record<string, Command> = {
  lab: async (args) => (await import('./lab-command.ts')).labCommand(args),
  policy: async (args) => {
    if (args[0] === 'validate') return (await import('./policy-validate.ts')).policyValidateCommand(args.slice(1));
    return inspect('policy')(args);
  },
  observe: async (args) => (await import('./observe.ts')).observeCommand(args),
  hubble: async (args) => (await import('./hubble-command.ts')).hubbleCommand(args),
  webhook: async (args) => (await import('./components.ts')).webhookCommand(args),
  operator: async (args) => (await import('./components.ts')).operatorCommand(args),
  agent: async (args) => (await import('./components.ts')).agentCommand(args),
  status: inspect('status'),
  endpoint: inspect('endpoint'),
  identity: inspect('identity'),
  bpf: inspect('bpf'),
  service: inspect('service'),
  map: inspect('map'),
};

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === 'help' || cmd === '--help' || cmd === '-h') {
    process.stdout.write(usage);
    return cmd === undefined ? 2 : 0;
  }
  const run = Object.hasOwn(commands, cmd) ? commands[cmd] : undefined;
  const code = await run?.(rest);
  if (code !== undefined) return code;
  const words = [cmd, ...rest.filter((a) => !a.startsWith('-'))].slice(0, 3).join(' ');
  process.stderr.write(`cilium-ts: unknown command '${run ? words : cmd}'\n${usage}`);
  return 2;
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`cilium-ts: ${err instanceof Error ? err.message : String(err)}\n`);
  // a bad flag value (src/cli/flags.ts) is a usage error, as parseArgs' own are not
  process.exitCode = err instanceof Error && err.name === 'FlagError' ? 2 : 1;
}
