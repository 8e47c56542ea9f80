// The node agent: turns the cluster's policies into this node's kernel state. This file only wires
// the parts, each with one job, and starts them in order (stopping in reverse):
//
//   watchers         resilient informers; every part below subscribes to the kinds it reads
//   policy-watch     policies, identities, nodes, services → policy engine (src/policy)
//   cidr-identities  the rules' CIDR prefixes → node-local identities
//   remote-endpoints CiliumEndpoints of other nodes → engine
//   node             the CiliumNode: addresses, the pod CIDR; node-identities: a per-node identity each
//   routing          tunnel (cilium_vxlan + bpf_overlay) or native (routes to other nodes' pod CIDRs)
//   endpoint-manager CNI attachments → identity → policy in the kernel → CiliumEndpoint (retrying queue)
//   ipcache          every address's identity → cilium_ipcache
//   services         Services + EndpointSlices + hostPorts → the LB maps (kube-proxy replacement),
//                    read by bpf_lxc (pods), bpf_sock (socket-LB) and bpf_host (--devices, north-south)
//   cluster-health   probes every node's agent health endpoint (cilium-health's idea)
//   flows, api, metrics  read the parts through the narrow views of types.ts
//
// A new part (tunnels, proxies) is one more AgentPart of the same shape:
// constructed here, subscribed to the watchers, fed the views it needs.
import type { KubeConfig } from '@kubernetes/client-node';
import { networkInterfaces } from 'node:os';
import type { EnforcementModeName } from '../datapath/constants.ts';
import { LbMaps } from '../datapath/lb.ts';
import { LxcDatapath } from '../datapath/loader.ts';
import { NodePortDatapath, type LbMode } from '../datapath/nodeport.ts';
import { attachSocketLb, type SocketLbHandle } from '../datapath/socket-lb.ts';
import { PeerNotifier } from '../hubble/peer-service.ts';
import { peersFromCiliumNodes, publishedHubbleAddress } from '../hubble/peer-source.ts';
import { startHealthServer, type HealthServer } from '../lib/health.ts';
import { logger, type Logger } from '../lib/log.ts';
import { PolicyEngine } from '../policy/index.ts';
import { startAgentApi, type AgentApiServer } from './api.ts';
import { CidrIdentities } from './cidr-identities.ts';
import { ClusterHealth } from './cluster-health.ts';
import type { CniServer } from './cni/server.ts';
import { EndpointManager } from './endpoint-manager.ts';
import { FlowPipeline } from './flows.ts';
import { IdentityCache } from './identity.ts';
import { IpcacheSync, type IpcacheEntry } from './ipcache.ts';
import { AgentMetrics } from './metrics.ts';
import { NodeIdentities } from './node-identities.ts';
import { NodePart } from './node.ts';
import { PolicyWatch } from './policy-watch.ts';
import { RemoteEndpoints } from './remote-endpoints.ts';
import { RoutingPart, type RoutingMode, type TunnelProtocol } from './routing.ts';
import { ServicesPart } from './services.ts';
import { agentStatus } from './status.ts';
import type { AgentPart, AgentStatus, AgentView, EndpointSource, LocalEndpointInfo, ServiceSource } from './types.ts';
import { Watchers } from './watchers.ts';

export { AGENT_FIELD_MANAGER } from './cilium-endpoint.ts';
export type { AgentStatus, EndpointStateName, LocalEndpointInfo } from './types.ts';

export interface AgentOptions {
  kc: KubeConfig;
  nodeName: string;
  /** where the CNI server keeps its allocations */
  stateDir: string;
  socketPath?: string;
  pinRoot?: string;
  enforcementMode?: EnforcementModeName;
  clusterName?: string;
  /** use this pod CIDR instead of waiting for the operator to fill the CiliumNode */
  podCidr?: string;
  /** the Hubble-compatible observer API ("127.0.0.1:4245", a unix socket path); undefined = none */
  hubbleListen?: string;
  /** flows kept in the node's ring (Hubble's default 4095) */
  flowCapacity?: number;
  /** the local API socket for the status and inspection commands; undefined = none */
  apiSocket?: string;
  /** /healthz, /readyz, /metrics; 0 = any free port, undefined = none */
  healthPort?: number;
  healthHost?: string;
  /** Services answered by the eBPF datapath (default true); false leaves them to a kube-proxy beside us */
  kubeProxyReplacement?: boolean;
  /** socket-LB (bpf_sock) on a cgroup of our own: Services translated at connect/sendmsg (Cilium's socketLB) */
  socketLb?: { cgroupPath: string; hostNamespaceOnly?: boolean };
  /**
   * The node's external interfaces (Cilium's --devices): bpf_host answers NodePorts, LoadBalancer IPs
   * and externalIPs arriving on them, and their IPv4 addresses are NodePort addresses too.
   */
  devices?: string[];
  /** --bpf-lb-mode for north-south traffic (default snat) */
  lbMode?: LbMode;
  /** Maglev table size M (--bpf-lb-maglev-table-size; one of Cilium's primes, default 16381) */
  maglevTableSize?: number;
  /** --bpf-lb-map-max: entries of the service, backend, rev-NAT and affinity maps (unset: as pinned, else 65536) */
  lbMapMax?: number;
  /** --routing-mode: tunnel (default, as Cilium) or native */
  routingMode?: RoutingMode;
  /** --tunnel-protocol (default vxlan; geneve is refused where the kernel cannot make the device) */
  tunnelProtocol?: TunnelProtocol;
  /** --auto-direct-node-routes: native mode routes other nodes' pod CIDRs via their InternalIPs */
  autoDirectNodeRoutes?: boolean;
  /** --mtu: the underlay MTU (default the device's, else 1500); pods get 50 less in tunnel mode */
  mtu?: number;
  /** how often the other nodes' health endpoints are probed (default 5 s) */
  clusterHealthIntervalMs?: number;
  log?: Logger;
}

export class Agent implements AgentView {
  readonly opts: AgentOptions;
  readonly log: Logger;
  readonly engine: PolicyEngine;
  readonly identities = new IdentityCache();
  readonly metrics: AgentMetrics;
  health?: HealthServer;
  api?: AgentApiServer;
  /** kernel flow events → Hubble flows: the ring behind the observer API */
  flows?: FlowPipeline;
  readonly #watchers: Watchers;
  readonly #cidrIdentities = new CidrIdentities();
  readonly #nodeIdentities: NodeIdentities;
  readonly #policy: PolicyWatch;
  readonly #remote: RemoteEndpoints;
  readonly #node: NodePart;
  readonly #ipcache: IpcacheSync;
  readonly #services: ServicesPart | undefined;
  #lbMaps: LbMaps | undefined;
  #endpoints: EndpointManager | undefined;
  #routing: RoutingPart | undefined;
  #clusterHealth: ClusterHealth | undefined;
  #datapath: LxcDatapath | undefined;
  #socketLb: SocketLbHandle | undefined;
  #nodePort: NodePortDatapath | undefined;
  /** the agents Hubble Relay can reach, from the CiliumNodes (served beside the observer API) */
  readonly #peers = new PeerNotifier();
  /** parts started so far, stopped in reverse */
  readonly #started: AgentPart[] = [];
  #stopped = false;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.log = opts.log ?? logger('agent');
    const { kc, nodeName } = opts;
    const log = this.log;
    this.#nodeIdentities = new NodeIdentities(nodeName);
    this.engine = new PolicyEngine({
      enforcementMode: opts.enforcementMode ?? 'default',
      clusterName: opts.clusterName ?? 'default',
    });
    const endpointSource: EndpointSource = {
      localEndpoints: () => this.localEndpoints(),
      remoteEndpointByIp: (ip) => this.remoteEndpointByIp(ip),
    };
    this.metrics = new AgentMetrics({
      endpoints: () => endpointSource,
      engine: () => this.engine,
      datapath: () => this.#datapath,
      flows: () => this.flows,
    });
    const regenerate = (ids: Iterable<number>) => this.#endpoints?.regenerate(ids);
    const ipcacheChanged = () => this.#ipcache.schedule();
    this.#watchers = new Watchers({ kc, nodeName, log });
    this.#watchers.on('ciliumnode', () => this.#peers.set(peersFromCiliumNodes(this.#watchers.list('ciliumnode'))));
    this.#policy = new PolicyWatch({
      nodeName,
      log,
      engine: this.engine,
      identities: this.identities,
      cidrIdentities: this.#cidrIdentities,
      nodeIdentities: this.#nodeIdentities,
      watch: this.#watchers,
      metrics: this.metrics,
      regenerate,
      onChange: ipcacheChanged,
    });
    this.#remote = new RemoteEndpoints({
      nodeName,
      engine: this.engine,
      watch: this.#watchers,
      regenerate,
      onChange: ipcacheChanged,
      isLocal: (ns, name) => this.#endpoints?.isLocal(ns, name) ?? false,
    });
    this.#node = new NodePart({
      kc,
      nodeName,
      log,
      podCidr: opts.podCidr,
      watch: this.#watchers,
      hubbleAddress: (internalIP) => {
        const server = this.flows?.server;
        if (!opts.hubbleListen || !server) return undefined;
        return publishedHubbleAddress(opts.hubbleListen, server.port, internalIP);
      },
      onPodCidr: (cidr) => {
        this.#endpoints?.setPodCidr(cidr);
        ipcacheChanged();
      },
    });
    this.#ipcache = new IpcacheSync({
      log,
      map: () => this.datapath.maps.ipcache,
      input: () => ({
        nodeName,
        nodes: this.#watchers.list('nodes'),
        ciliumNodes: this.#watchers.list('ciliumnode'),
        nodeIdentities: this.#nodeIdentities.entries(),
        ciliumEndpoints: this.#watchers.list('cep'),
        localEndpoints: this.#endpoints?.addresses() ?? [],
        cidrIdentities: this.#cidrIdentities.entries(),
        podCidr: this.#node.podCidr,
      }),
    });
    if (opts.kubeProxyReplacement ?? true) {
      this.#services = new ServicesPart({
        nodeName,
        log: log.child({ component: 'services' }),
        watch: this.#watchers,
        registry: this.metrics.registry,
        lb: () => (this.#lbMaps ??= new LbMaps(this.datapath)),
        socketLB: () => this.#socketLb !== undefined,
        extraNodeAddresses: () => deviceAddresses(opts.devices ?? []),
      });
    }
  }

  static async start(opts: AgentOptions): Promise<Agent> {
    const a = new Agent(opts);
    try {
      await a.#start();
    } catch (e) {
      await a.stop();
      throw e;
    }
    return a;
  }

  async #start(): Promise<void> {
    const { opts } = this;
    this.#datapath = LxcDatapath.load({
      ...(opts.pinRoot ? { pinRoot: opts.pinRoot } : {}),
      ...(opts.maglevTableSize ? { maglevTableSize: opts.maglevTableSize } : {}),
      ...(opts.lbMapMax ? { lbMapMax: opts.lbMapMax } : {}),
    });
    if (opts.socketLb && this.#services) {
      this.#socketLb = attachSocketLb({ ...opts.socketLb, pinRoot: this.#datapath.pinRoot });
      this.log.info('socket-LB attached', { cgroup: opts.socketLb.cgroupPath });
    }
    const flows = new FlowPipeline(
      {
        nodeName: opts.nodeName,
        datapath: this.datapath,
        endpoints: () => this,
        engine: this.engine,
        services: () => this.#services,
      },
      { capacity: opts.flowCapacity ?? 4095 },
    );
    this.flows = flows;
    await this.#run({
      start: () => flows.start(opts.hubbleListen ? { listen: opts.hubbleListen, peers: this.#peers } : {}),
      stop: () => flows.stop(),
    });
    // Subscribes to the pod and namespace watches: constructed before they start.
    this.#endpoints = new EndpointManager({
      kc: opts.kc,
      nodeName: opts.nodeName,
      clusterName: opts.clusterName ?? 'default',
      stateDir: opts.stateDir,
      socketPath: opts.socketPath,
      log: this.log,
      engine: this.engine,
      identities: this.identities,
      datapath: this.datapath,
      watch: this.#watchers,
      podCidr: () => this.#node.podCidr,
      mtu: () => this.#routing?.podMtu,
      metrics: this.metrics,
      onChange: () => this.#ipcache.schedule(),
    });
    this.#routing = new RoutingPart({
      nodeName: opts.nodeName,
      log: this.log.child({ component: 'routing' }),
      pinRoot: this.datapath.pinRoot,
      watch: this.#watchers,
      ...(opts.routingMode ? { mode: opts.routingMode } : {}),
      ...(opts.tunnelProtocol ? { tunnelProtocol: opts.tunnelProtocol } : {}),
      autoDirectNodeRoutes: opts.autoDirectNodeRoutes ?? false,
      mtu: opts.mtu,
      devices: opts.devices ?? [],
    });
    await this.#run(this.#watchers);
    await this.#run(this.#node);
    await this.#run(this.#routing);
    await this.#run(this.#endpoints);
    await this.#run(this.#ipcache);
    if (this.#services && opts.devices?.length) this.#loadNorthSouth(opts.devices);
    if (this.#services) await this.#run(this.#services);
    if (opts.healthPort !== undefined) {
      const health = await startHealthServer({
        host: opts.healthHost ?? '127.0.0.1',
        port: opts.healthPort,
        registry: this.metrics.registry,
        healthz: () => (this.#stopped ? 'stopping' : undefined),
        readyz: () => this.#readyProblem(),
      });
      this.health = health;
      this.#started.push({ start: () => Promise.resolve(), stop: () => health.close() });
      // The other agents listen on the same port (a flag of the cluster's agents, as Cilium's 4240).
      this.#clusterHealth = new ClusterHealth({
        nodeName: opts.nodeName,
        port: opts.healthPort || health.port,
        watch: this.#watchers,
        ...(opts.clusterHealthIntervalMs ? { intervalMs: opts.clusterHealthIntervalMs } : {}),
      });
      await this.#run(this.#clusterHealth);
    }
    if (opts.apiSocket) {
      const api = await startAgentApi(this, opts.apiSocket);
      this.api = api;
      this.#started.push({ start: () => Promise.resolve(), stop: () => api.close() });
    }
    this.log.info('agent started', {
      node: opts.nodeName,
      podCidr: this.#node.podCidr ?? '(waiting for the operator)',
      endpoints: this.localEndpoints().length,
    });
  }

  /** bpf_host on the external interfaces; remote backends see the node's InternalIP (SNAT). */
  #loadNorthSouth(devices: string[]): void {
    const node = this.#watchers.get('nodes', this.opts.nodeName);
    const internal = node?.status?.addresses?.find((a) => a.type === 'InternalIP' && !a.address.includes(':'));
    const snatAddress = internal?.address ?? deviceAddresses(devices)[0];
    if (!snatAddress) throw new Error(`north-south: node ${this.opts.nodeName} has no IPv4 InternalIP to SNAT to`);
    const np = NodePortDatapath.load({
      pinRoot: this.datapath.pinRoot,
      snatAddress,
      maglevTableSize: this.datapath.maglevTableSize,
      ...(this.opts.lbMode ? { mode: this.opts.lbMode } : {}),
    });
    this.#nodePort = np;
    for (const dev of devices) np.attach(dev);
    this.log.info('north-south attached', { devices, snatAddress, mode: this.opts.lbMode ?? 'snat' });
  }

  /**
   * Takes the programs off the machine's cgroup and interfaces (the lab's `lab down`); stop() alone
   * leaves them attached so that Services keep answering across a restart.
   */
  detachPrograms(): void {
    for (const dev of this.opts.devices ?? []) {
      try {
        this.#nodePort?.detach(dev);
      } catch (e) {
        this.log.warn('detaching north-south failed', { device: dev, error: String(e) });
      }
    }
    this.#socketLb?.detach();
    this.#socketLb = undefined;
  }

  async #run(part: AgentPart): Promise<void> {
    await part.start();
    this.#started.push(part);
  }

  /** Resolves once the agent can take pods (watches healthy, pod CIDR known); throws after timeoutMs. */
  async ready(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (let problem = this.#readyProblem(); problem; problem = this.#readyProblem()) {
      if (Date.now() > deadline) throw new Error(`the agent is not ready after ${timeoutMs} ms: ${problem}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  #readyProblem(): string | undefined {
    return (
      this.#watchers.problem() ??
      (this.#node.podCidr ? undefined : 'no pod CIDR yet (the operator fills the CiliumNode)')
    );
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const part of this.#started.splice(0).reverse()) await part.stop();
    // Parts constructed but never started still hold timers or queues.
    await this.#ipcache.stop();
    await this.#services?.stop();
    // Pinned maps and attached programs stay: traffic keeps being enforced and translated.
    this.#nodePort?.close();
    this.#socketLb?.close();
    this.#datapath?.close();
  }

  /** Resolves when no regeneration, identity update, ipcache or service sync is queued or running (tests). */
  async idle(): Promise<void> {
    do {
      await this.#endpoints?.idle();
      await this.#ipcache.idle();
      await this.#services?.idle();
      await this.#routing?.idle();
    } while (this.#ipcache.pending || this.#services?.pending);
  }

  /** The node's BPF maps and programs (loaded by start). */
  get datapath(): LxcDatapath {
    if (!this.#datapath) throw new Error('the agent has not loaded its datapath yet');
    return this.#datapath;
  }

  get cni(): CniServer | undefined {
    return this.#endpoints?.cni;
  }

  /** "Kind/namespace/name" → resourceVersion of the policy objects the engine holds */
  get policyRevisions(): ReadonlyMap<string, string> {
    return this.#policy.revisions;
  }

  /** The services part (frontends, backends, the kube-proxy replacement status); undefined when off. */
  get serviceSource(): ServiceSource | undefined {
    return this.#services;
  }

  localEndpoints(): LocalEndpointInfo[] {
    return this.#endpoints?.localEndpoints() ?? [];
  }

  remoteEndpointByIp(ip: string): { namespace: string; name: string } | undefined {
    return this.#remote.byIp(ip);
  }

  /** The ipcache's desired content: every endpoint of the cluster, node addresses, CIDR identities. */
  desiredIpcache(): Map<string, number> {
    return new Map([...this.#ipcache.desired()].map(([prefix, e]) => [prefix, e.identity]));
  }

  /** The same with each entry's tunnel endpoint (the node it lives behind). */
  desiredIpcacheEntries(): Map<string, IpcacheEntry> {
    return this.#ipcache.desired();
  }

  /** The routing part (undefined before start). */
  get routing(): RoutingPart | undefined {
    return this.#routing;
  }

  /** Node reachability (undefined without a health port). */
  get clusterHealth(): ClusterHealth | undefined {
    return this.#clusterHealth;
  }

  syncIpcache(): void {
    this.#ipcache.sync();
  }

  /** What `cilium-ts status` shows. */
  status(): AgentStatus {
    return agentStatus({
      node: this.opts.nodeName,
      problem: this.#stopped ? 'stopping' : this.#readyProblem(),
      watches: this.#watchers.status(),
      datapath: this.datapath,
      podCidr: this.#node.podCidr,
      enforcementMode: this.opts.enforcementMode ?? 'default',
      endpoints: this.localEndpoints(),
      engine: this.engine,
      flows: this.flows?.stats(),
      kubeProxyReplacement: this.#services?.kubeProxyReplacement(),
      routing: this.#routing?.status(),
      clusterHealth: this.#clusterHealth?.status(),
    });
  }
}

/** The IPv4 addresses of the external interfaces (NodePort addresses, as Cilium derives them from --devices). */
function deviceAddresses(devices: readonly string[]): string[] {
  if (devices.length === 0) return [];
  const all = networkInterfaces();
  return devices.flatMap((d) => (all[d] ?? []).filter((a) => a.family === 'IPv4').map((a) => a.address));
}
