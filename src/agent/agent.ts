// The node agent: turns the cluster's policies into this node's kernel state. This file only wires
// the parts, each with one job, and starts them in order (stopping in reverse):
//
//   watchers         resilient informers; every part below subscribes to the kinds it reads
//   policy-watch     policies, identities, nodes, services → policy engine (src/policy)
//   cidr-identities  the rules' CIDR prefixes → node-local identities
//   remote-endpoints CiliumEndpoints of other nodes → engine
//   node             the CiliumNode: addresses, the pod CIDR
//   endpoint-manager CNI attachments → identity → policy in the kernel → CiliumEndpoint (retrying queue)
//   ipcache          every address's identity → cilium_ipcache
//   services         Services + EndpointSlices + hostPorts → the LB maps (kube-proxy replacement)
//   flows, api, metrics  read the parts through the narrow views of types.ts
//
// A new part (tunnels, proxies) is one more AgentPart of the same shape:
// constructed here, subscribed to the watchers, fed the views it needs.
import type { KubeConfig } from '@kubernetes/client-node';
import type { EnforcementModeName } from '../datapath/constants.ts';
import { LbMaps } from '../datapath/lb.ts';
import { LxcDatapath } from '../datapath/loader.ts';
import { startHealthServer, type HealthServer } from '../lib/health.ts';
import { logger, type Logger } from '../lib/log.ts';
import { PolicyEngine } from '../policy/index.ts';
import { startAgentApi, type AgentApiServer } from './api.ts';
import { CidrIdentities } from './cidr-identities.ts';
import type { CniServer } from './cni/server.ts';
import { EndpointManager } from './endpoint-manager.ts';
import { FlowPipeline } from './flows.ts';
import { IdentityCache } from './identity.ts';
import { IpcacheSync } from './ipcache.ts';
import { AgentMetrics } from './metrics.ts';
import { NodePart } from './node.ts';
import { PolicyWatch } from './policy-watch.ts';
import { RemoteEndpoints } from './remote-endpoints.ts';
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
  readonly #policy: PolicyWatch;
  readonly #remote: RemoteEndpoints;
  readonly #node: NodePart;
  readonly #ipcache: IpcacheSync;
  readonly #services: ServicesPart | undefined;
  #lbMaps: LbMaps | undefined;
  #endpoints: EndpointManager | undefined;
  #datapath: LxcDatapath | undefined;
  /** parts started so far, stopped in reverse */
  readonly #started: AgentPart[] = [];
  #stopped = false;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.log = opts.log ?? logger('agent');
    const { kc, nodeName } = opts;
    const log = this.log;
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
    this.#policy = new PolicyWatch({
      nodeName,
      log,
      engine: this.engine,
      identities: this.identities,
      cidrIdentities: this.#cidrIdentities,
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
    this.#datapath = LxcDatapath.load(opts.pinRoot ? { pinRoot: opts.pinRoot } : {});
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
      start: () => flows.start(opts.hubbleListen ? { listen: opts.hubbleListen } : {}),
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
      metrics: this.metrics,
      onChange: () => this.#ipcache.schedule(),
    });
    await this.#run(this.#watchers);
    await this.#run(this.#node);
    await this.#run(this.#endpoints);
    await this.#run(this.#ipcache);
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
    this.#datapath?.close(); // pinned maps and attached programs stay: traffic keeps being enforced
  }

  /** Resolves when no regeneration, identity update, ipcache or service sync is queued or running (tests). */
  async idle(): Promise<void> {
    do {
      await this.#endpoints?.idle();
      await this.#ipcache.idle();
      await this.#services?.idle();
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
    return this.#ipcache.desired();
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
    });
  }
}
