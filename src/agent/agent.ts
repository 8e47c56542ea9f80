// The node agent: turns the cluster's policies into this node's kernel state.
//
//   watches (resilient informers) ─► identities (CiliumIdentity), policy engine (src/policy)
//   CNI server (pod attachments)  ─► endpoints: identity → policy → maps → CiliumEndpoint
//   CiliumEndpoints, Nodes, CIDR rules ─► ipcache
//
// Every change goes through the engine, which names the endpoints whose desired state changed;
// only those are regenerated. A regeneration swaps the endpoint's whole policy map atomically and
// then writes its enforcement flags, so no packet is judged by half a policy.
import {
  CoreV1Api, CustomObjectsApi, NetworkingV1Api, PatchStrategy, setHeaderOptions,
  type KubeConfig, type KubernetesListObject, type KubernetesObject, type V1Namespace, type V1NetworkPolicy, type V1Node,
  type V1Pod, type V1Service,
} from '@kubernetes/client-node';
import { join } from 'node:path';
import type {
  CiliumClusterwideNetworkPolicy, CiliumEndpoint, CiliumIdentity, CiliumNetworkPolicy, CiliumNode, EndpointStatus,
} from '../api/types.generated.ts';
import { LxcDatapath } from '../datapath/loader.ts';
import { EndpointFlags, EnforcementMode, type EnforcementModeName } from '../datapath/constants.ts';
import type { RemoteEndpointInfo } from '../datapath/codecs.ts';
import { syncMap } from '../datapath/map-sync.ts';
import { ResilientInformer } from '../lib/informer.ts';
import { errorText, statusOf } from '../lib/kube.ts';
import { logger, type Logger } from '../lib/log.ts';
import { Registry } from '../lib/metrics.ts';
import { startHealthServer, type HealthServer } from '../lib/health.ts';
import {
  PolicyEngine, cidrIdentityLabels, formatLabelSet, podIdentityLabels, refOf, LOCAL_IDENTITY_FLAG, ReservedIdentity,
  type EndpointPolicy, type LabelSet, type PolicyObject,
} from '../policy/index.ts';
import { CniServer, type EndpointDatapathSettings, type EndpointEvent } from './cni/server.ts';
import { podCidrInfo } from './endpoint-state.ts';
import { IdentityAllocator, IdentityCache } from './identity.ts';
import { AgentMetrics } from './metrics.ts';
import { startAgentApi, type AgentApiServer } from './api.ts';
import { FlowPipeline } from './flows.ts';

export const AGENT_FIELD_MANAGER = 'cilium-ts-agent';

/** Cilium's endpoint lifecycle states, as CiliumEndpoint status.state shows them. */
export type EndpointStateName =
  | 'creating' | 'waiting-for-identity' | 'not-ready' | 'waiting-to-regenerate' | 'regenerating' | 'ready'
  | 'disconnecting' | 'disconnected';

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
  log?: Logger;
}

interface LocalEndpoint {
  ev: EndpointEvent;
  state: EndpointStateName;
  identity: number;
  labels: LabelSet;
  podUid?: string;
  serviceAccount: string;
  namedPorts: Array<{ name: string; port: number; protocol: string }>;
  policy?: EndpointPolicy;
}

type Obj = KubernetesObject;

function ref(group: string, version: string, plural: string) {
  return { group, version, plural, path: group ? `/apis/${group}/${version}/${plural}` : `/api/${version}/${plural}` };
}

const CILIUM = (plural: string) => ref('cilium.io', 'v2', plural);

export class Agent {
  readonly opts: AgentOptions;
  readonly log: Logger;
  readonly engine: PolicyEngine;
  readonly identities = new IdentityCache();
  readonly metrics: AgentMetrics;
  datapath!: LxcDatapath;
  cni!: CniServer;
  health?: HealthServer;
  api?: AgentApiServer;
  /** kernel flow events → Hubble flows: the ring behind the observer API */
  flows?: FlowPipeline;
  readonly #core: CoreV1Api;
  readonly #custom: CustomObjectsApi;
  readonly #net: NetworkingV1Api;
  readonly #allocator: IdentityAllocator;
  readonly #informers = new Map<string, ResilientInformer<Obj>>();
  readonly #endpoints = new Map<number, LocalEndpoint>();
  /** CiliumEndpoints of other nodes: ns/name → synthetic engine id (never a local id) */
  readonly #remoteIds = new Map<string, number>();
  #nextRemoteId = 0x40000000;
  /** CIDR prefix → node-local identity (LOCAL_IDENTITY_FLAG | n) */
  readonly #cidrIds = new Map<string, number>();
  #nextCidrId = 1;
  #podCidr: string | undefined;
  #stopped = false;
  #ipcacheTimer: NodeJS.Timeout | undefined;
  #regenQueue = new Set<number>();
  /** "Kind/namespace/name" → resourceVersion of the policy objects the engine holds */
  readonly policyRevisions = new Map<string, string>();
  #regenRunning: Promise<void> | undefined;

  constructor(opts: AgentOptions) {
    this.opts = opts;
    this.log = opts.log ?? logger('agent');
    this.engine = new PolicyEngine({ enforcementMode: opts.enforcementMode ?? 'default', clusterName: opts.clusterName ?? 'default' });
    this.#core = opts.kc.makeApiClient(CoreV1Api);
    this.#custom = opts.kc.makeApiClient(CustomObjectsApi);
    this.#net = opts.kc.makeApiClient(NetworkingV1Api);
    this.#allocator = new IdentityAllocator(this.#custom, this.identities);
    this.metrics = new AgentMetrics(new Registry(), () => this);
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
    this.datapath = LxcDatapath.load(this.opts.pinRoot ? { pinRoot: this.opts.pinRoot } : {});
    this.flows = new FlowPipeline(this, { capacity: this.opts.flowCapacity ?? 4095 });
    await this.flows.start({ ...(this.opts.hubbleListen ? { listen: this.opts.hubbleListen } : {}) });
    this.#watchAll();
    await Promise.all([...this.#informers.values()].map((i) => i.start()));
    await this.#registerCiliumNode();
    this.#podCidr = this.opts.podCidr ?? this.#podCidrFromCiliumNode();
    this.cni = await CniServer.start({
      datapath: this.datapath,
      ...(this.#podCidr ? { podCidr: this.#podCidr } : {}),
      stateFile: join(this.opts.stateDir, 'endpoints.json'),
      ...(this.opts.socketPath ? { socketPath: this.opts.socketPath } : {}),
      log: this.log.child({ component: 'cni' }),
      hooks: {
        onEndpointAdded: (ev) => this.#endpointAdded(ev),
        onEndpointDeleted: (ev) => this.#endpointDeleted(ev),
      },
    });
    // Endpoints restored from the state file: rebuild their identity and policy.
    for (const r of this.cni.endpoints()) {
      const ev: EndpointEvent = {
        containerId: r.containerId, namespace: r.namespace, podName: r.podName, ifname: r.ifname, netns: r.netns, ip: r.ip,
        hostIfindex: r.hostIfindex, hostIfname: r.hostIfname, podMac: r.podMac, hostMac: r.hostMac, epId: r.epId,
        ...(r.podUid ? { podUid: r.podUid } : {}),
      };
      try {
        const settings = await this.#endpointAdded(ev);
        this.#writeLxc(ev, settings);
      } catch (e) {
        this.log.warn('restoring endpoint failed', { endpoint: ev.epId, namespace: ev.namespace, name: ev.podName, error: errorText(e) });
      }
    }
    this.#scheduleIpcache();
    if (this.opts.healthPort !== undefined) {
      this.health = await startHealthServer({
        host: this.opts.healthHost ?? '127.0.0.1', port: this.opts.healthPort, registry: this.metrics.registry,
        healthz: () => (this.#stopped ? 'stopping' : undefined),
        readyz: () => this.#readyProblem(),
      });
    }
    if (this.opts.apiSocket) this.api = await startAgentApi(this, this.opts.apiSocket);
    this.log.info('agent started', { node: this.opts.nodeName, podCidr: this.#podCidr ?? '(waiting for the operator)', endpoints: this.#endpoints.size });
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
    for (const [name, inf] of this.#informers) if (inf.error) return `watch of ${name} failing: ${inf.error}`;
    if (!this.#podCidr) return 'no pod CIDR yet (the operator fills the CiliumNode)';
    return undefined;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#ipcacheTimer);
    await this.cni?.stop();
    await this.#regenRunning;
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
    await this.health?.close();
    await this.api?.close();
    await this.flows?.stop();
    this.datapath?.close(); // pinned maps and attached programs stay: traffic keeps being enforced
  }

  // --- watches -----------------------------------------------------------------------------------

  #informer<T extends Obj>(name: string, path: string, list: () => Promise<KubernetesListObject<T>>, on: (type: 'add' | 'update' | 'delete', obj: T) => void): void {
    const inf = new ResilientInformer<T>({ kc: this.opts.kc, path, list, log: this.log.child({ component: `watch-${name}` }) });
    inf.on((type, obj) => {
      try {
        on(type, obj);
      } catch (e) {
        this.log.error('event handling failed', { watch: name, type, name: obj.metadata?.name, namespace: obj.metadata?.namespace, error: errorText(e) });
      }
    });
    this.#informers.set(name, inf as unknown as ResilientInformer<Obj>);
  }

  #customList<T extends Obj>(r: { group: string; version: string; plural: string }) {
    return async () => (await this.#custom.listClusterCustomObject(r)) as KubernetesListObject<T>;
  }

  #watchAll(): void {
    const ids = CILIUM('ciliumidentities');
    this.#informer<CiliumIdentity>('identities', ids.path, this.#customList(ids), (type, obj) => {
      const id = Number(obj.metadata.name);
      if (!this.identities.apply(obj, type === 'delete')) return;
      const changed = type === 'delete' ? this.engine.deleteIdentity(id) : this.engine.upsertIdentity(id, this.identities.labelsOf(id)!);
      this.#regenerate(changed);
      this.#scheduleIpcache();
    });
    const cnps = CILIUM('ciliumnetworkpolicies');
    this.#informer<CiliumNetworkPolicy>('cnp', cnps.path, this.#customList(cnps), (type, obj) => this.#policyEvent(type, obj, 'CiliumNetworkPolicy'));
    const ccnps = CILIUM('ciliumclusterwidenetworkpolicies');
    this.#informer<CiliumClusterwideNetworkPolicy>('ccnp', ccnps.path, this.#customList(ccnps), (type, obj) => this.#policyEvent(type, obj, 'CiliumClusterwideNetworkPolicy'));
    this.#informer<V1NetworkPolicy>('netpol', '/apis/networking.k8s.io/v1/networkpolicies', () => this.#net.listNetworkPolicyForAllNamespaces(),
      (type, obj) => this.#policyEvent(type, obj as PolicyObject, 'NetworkPolicy'));
    const ceps = CILIUM('ciliumendpoints');
    this.#informer<CiliumEndpoint>('cep', ceps.path, this.#customList(ceps), (type, obj) => this.#remoteEndpointEvent(type, obj));
    const cns = CILIUM('ciliumnodes');
    this.#informer<CiliumNode>('ciliumnode', cns.path, this.#customList(cns), (type, obj) => {
      if (obj.metadata.name !== this.opts.nodeName || type === 'delete' || this.#podCidr) return;
      const cidr = this.#podCidrFromCiliumNode(obj);
      if (cidr) {
        this.#podCidr = cidr;
        this.cni?.setPodCidr(cidr);
        this.log.info('pod CIDR assigned', { node: this.opts.nodeName, podCidr: cidr });
        this.#scheduleIpcache();
      }
    });
    this.#informer<V1Node>('nodes', '/api/v1/nodes', () => this.#core.listNode(), (type, obj) => {
      const name = obj.metadata?.name ?? '';
      const identity = name === this.opts.nodeName ? ReservedIdentity.HOST : ReservedIdentity.REMOTE_NODE;
      this.#regenerate(type === 'delete' ? this.engine.deleteNode(name) : this.engine.upsertNode({ name, labels: obj.metadata?.labels ?? {}, identity }));
      this.#scheduleIpcache();
    });
    this.#informer<V1Service>('services', '/api/v1/services', () => this.#core.listServiceForAllNamespaces(), (type, obj) => {
      const namespace = obj.metadata?.namespace ?? '', name = obj.metadata?.name ?? '';
      this.#regenerate(type === 'delete'
        ? this.engine.deleteService(namespace, name)
        : this.engine.upsertService({ namespace, name, labels: obj.metadata?.labels ?? {}, selector: obj.spec?.selector ?? null }));
    });
    this.#informer<V1Namespace>('namespaces', '/api/v1/namespaces', () => this.#core.listNamespace(), (type, obj) => {
      // Namespace labels are part of every pod identity in it.
      if (type !== 'delete') this.#relabelWhere((ep) => ep.ev.namespace === obj.metadata?.name);
    });
    this.#informer<V1Pod>('pods', '/api/v1/pods', () => this.#core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${this.opts.nodeName}` }), (type, obj) => {
      if (type === 'delete') return; // the CNI DEL removes the endpoint
      this.#relabelWhere((ep) => ep.ev.namespace === obj.metadata?.namespace && ep.ev.podName === obj.metadata?.name);
    });
  }

  #policyEvent(type: 'add' | 'update' | 'delete', obj: PolicyObject, kind: 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy'): void {
    let changed: number[];
    try {
      changed = type === 'delete' ? this.engine.deletePolicy(refOf(obj, kind)) : this.engine.upsertPolicy(obj, kind);
    } catch (e) {
      // A policy the engine cannot read (stored before admission validation existed) changes
      // nothing that is enforced; the operator's Valid condition tells the user why.
      this.log.warn('policy ignored', { kind, namespace: obj.metadata?.namespace, name: obj.metadata?.name, error: errorText(e) });
      return;
    }
    const key = `${kind}/${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
    if (type === 'delete') this.policyRevisions.delete(key);
    else this.policyRevisions.set(key, (obj.metadata as { resourceVersion?: string } | undefined)?.resourceVersion ?? '');
    this.metrics.policyChanges.inc({ kind, event: type });
    this.#ensureCidrIdentities();
    this.#regenerate(changed);
  }

  #remoteEndpointEvent(type: 'add' | 'update' | 'delete', obj: CiliumEndpoint): void {
    const key = `${obj.metadata.namespace}/${obj.metadata.name}`;
    const local = obj.status?.networking?.node === this.opts.nodeName
      || [...this.#endpoints.values()].some((e) => e.ev.namespace === obj.metadata.namespace && e.ev.podName === obj.metadata.name);
    if (!local) {
      let id = this.#remoteIds.get(key);
      if (type === 'delete' || !obj.status?.identity?.id) {
        if (id !== undefined) this.#regenerate(this.engine.deleteEndpoint(id));
        this.#remoteIds.delete(key);
      } else {
        if (id === undefined) this.#remoteIds.set(key, (id = this.#nextRemoteId++));
        const ips = (obj.status.networking?.addressing ?? []).flatMap((a) => [a.ipv4, a.ipv6].filter((x): x is string => !!x));
        const namedPorts = (obj.status['named-ports'] ?? []).filter((p) => p.name && p.port)
          .map((p) => ({ name: p.name!, port: p.port!, protocol: p.protocol ?? 'TCP' }));
        this.#regenerate(this.engine.upsertEndpoint({ id, identity: obj.status.identity.id, ips, namedPorts, local: false }));
      }
    }
    this.#scheduleIpcache();
  }

  // --- endpoints ---------------------------------------------------------------------------------

  /** The CNI server plumbed a pod: give it an identity and its policy before ADD returns. */
  async #endpointAdded(ev: EndpointEvent): Promise<EndpointDatapathSettings> {
    const t = performance.now();
    const ep: LocalEndpoint = this.#endpoints.get(ev.epId) ?? {
      ev, state: 'creating', identity: ReservedIdentity.INIT, labels: {}, serviceAccount: 'default', namedPorts: [],
    };
    ep.ev = ev;
    this.#endpoints.set(ev.epId, ep);
    await this.#writeCep(ep, 'waiting-for-identity');
    await this.#resolveIdentity(ep);
    this.#regenerateNow(ep);
    await this.#writeCep(ep, 'ready');
    this.metrics.regenerationSeconds.observe({ reason: 'endpoint-added' }, (performance.now() - t) / 1000);
    return this.#settings(ep);
  }

  async #endpointDeleted(ev: EndpointEvent): Promise<void> {
    const ep = this.#endpoints.get(ev.epId);
    this.#endpoints.delete(ev.epId);
    this.#regenerate(this.engine.deleteEndpoint(ev.epId));
    this.datapath.deleteEndpointPolicy(ev.epId);
    this.#scheduleIpcache();
    if (ep) this.log.info('endpoint removed', { endpoint: ev.epId, namespace: ev.namespace, name: ev.podName });
    try {
      await this.#custom.deleteNamespacedCustomObject({ ...CILIUM('ciliumendpoints'), namespace: ev.namespace, name: ev.podName });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
    }
  }

  async #resolveIdentity(ep: LocalEndpoint): Promise<void> {
    const pod = await this.#pod(ep.ev.namespace, ep.ev.podName);
    const ns = this.#informers.get('namespaces')?.get(ep.ev.namespace) as V1Namespace | undefined;
    ep.podUid = pod?.metadata?.uid ?? ep.ev.podUid;
    ep.serviceAccount = pod?.spec?.serviceAccountName ?? 'default';
    ep.namedPorts = (pod?.spec?.containers ?? []).flatMap((c) => c.ports ?? [])
      .filter((p) => p.name).map((p) => ({ name: p.name!, port: p.containerPort, protocol: p.protocol ?? 'TCP' }));
    const labels = podIdentityLabels({
      namespace: ep.ev.namespace, podLabels: pod?.metadata?.labels ?? {}, namespaceLabels: ns?.metadata?.labels ?? {},
      serviceAccount: ep.serviceAccount, clusterName: this.opts.clusterName ?? 'default',
    });
    const { id, created } = await this.#allocator.allocate(labels);
    if (created) this.metrics.identitiesAllocated.inc();
    // The informer will deliver it too; the engine must know it now, before regeneration.
    if (!this.identities.labelsOf(id)) {
      this.identities.set(id, labels);
      this.engine.upsertIdentity(id, labels);
    }
    ep.labels = labels;
    ep.identity = id;
    this.#regenerate(this.engine.upsertEndpoint({ id: ep.ev.epId, identity: id, ips: [ep.ev.ip], namedPorts: ep.namedPorts }));
    this.#scheduleIpcache();
  }

  async #pod(namespace: string, name: string): Promise<V1Pod | undefined> {
    const cached = this.#informers.get('pods')?.get(name, namespace) as V1Pod | undefined;
    if (cached) return cached;
    try {
      return await this.#core.readNamespacedPod({ namespace, name });
    } catch (e) {
      if (statusOf(e) === 404) return undefined;
      throw e;
    }
  }

  /** Labels of pods or namespaces changed: endpoints whose identity labels differ get a new identity. */
  #relabelWhere(pred: (ep: LocalEndpoint) => boolean): void {
    for (const ep of this.#endpoints.values()) {
      if (!pred(ep) || ep.state === 'creating') continue;
      void (async () => {
        const before = ep.identity;
        try {
          await this.#resolveIdentity(ep);
          if (ep.identity !== before) {
            this.log.info('endpoint identity changed', { endpoint: ep.ev.epId, namespace: ep.ev.namespace, name: ep.ev.podName, from: before, to: ep.identity });
            this.#regenerateNow(ep);
            await this.#writeCep(ep, 'ready');
          }
        } catch (e) {
          this.log.warn('identity update failed', { endpoint: ep.ev.epId, error: errorText(e) });
        }
      })();
    }
  }

  #settings(ep: LocalEndpoint): EndpointDatapathSettings {
    const p = ep.policy;
    const flags = (p?.enforceIngress ? EndpointFlags.ENFORCE_INGRESS : 0) | (p?.enforceEgress ? EndpointFlags.ENFORCE_EGRESS : 0);
    return { identity: ep.identity, flags, mode: EnforcementMode.DEFAULT };
  }

  #writeLxc(ev: EndpointEvent, s: EndpointDatapathSettings): void {
    this.datapath.maps.endpoints.update(ev.hostIfindex, { epId: ev.epId, identity: s.identity, flags: s.flags, mode: s.mode, mac: ev.podMac, nodeMac: ev.hostMac });
  }

  /** Queue endpoints for regeneration; they are written together on the next tick. */
  #regenerate(ids: Iterable<number>): void {
    for (const id of ids) if (this.#endpoints.has(id)) this.#regenQueue.add(id);
    if (this.#regenQueue.size === 0 || this.#regenRunning) return;
    this.#regenRunning = (async () => {
      await new Promise((r) => setImmediate(r));
      while (this.#regenQueue.size && !this.#stopped) {
        const batch = [...this.#regenQueue];
        this.#regenQueue.clear();
        for (const id of batch) {
          const ep = this.#endpoints.get(id);
          if (!ep || ep.state === 'creating' || ep.state === 'waiting-for-identity') continue;
          const t = performance.now();
          try {
            this.#regenerateNow(ep);
            await this.#writeCep(ep, 'ready');
          } catch (e) {
            this.log.error('regeneration failed', { endpoint: id, error: errorText(e) });
          }
          this.metrics.regenerationSeconds.observe({ reason: 'policy' }, (performance.now() - t) / 1000);
        }
      }
    })().finally(() => { this.#regenRunning = undefined; });
  }

  /** Writes the endpoint's desired policy into the kernel: whole map swapped, then the flags. */
  #regenerateNow(ep: LocalEndpoint): void {
    const policy = this.engine.policyOf(ep.ev.epId);
    ep.policy = policy;
    this.datapath.replaceEndpointPolicy(ep.ev.epId, (policy?.entries ?? []).map((e) => [e.key, e.entry] as const));
    if (this.#endpoints.get(ep.ev.epId) === ep && ep.state !== 'creating') this.#writeLxc(ep.ev, this.#settings(ep));
    this.metrics.regenerations.inc({ outcome: 'success' });
  }

  async #writeCep(ep: LocalEndpoint, state: EndpointStateName): Promise<void> {
    ep.state = state;
    const p = ep.policy;
    const enforcement = (on: boolean | undefined) => ({ enforcing: !!on, state: on ? 'enforcing' : 'non-enforcing' });
    const status: EndpointStatus = {
      id: ep.ev.epId,
      state,
      identity: { id: ep.identity, labels: formatLabelSet(ep.labels) },
      networking: { addressing: [{ ipv4: ep.ev.ip }], node: this.opts.nodeName },
      'external-identifiers': {
        'container-id': ep.ev.containerId, 'k8s-namespace': ep.ev.namespace, 'k8s-pod-name': ep.ev.podName,
        'pod-name': `${ep.ev.namespace}/${ep.ev.podName}`, 'cni-attachment-id': `${ep.ev.containerId}:${ep.ev.ifname}`,
      },
      'named-ports': ep.namedPorts,
      policy: { ingress: enforcement(p?.enforceIngress), egress: enforcement(p?.enforceEgress) },
      'service-account': ep.serviceAccount,
    };
    const body = {
      apiVersion: 'cilium.io/v2', kind: 'CiliumEndpoint',
      metadata: {
        name: ep.ev.podName, namespace: ep.ev.namespace,
        ...(ep.podUid ? { ownerReferences: [{ apiVersion: 'v1', kind: 'Pod', name: ep.ev.podName, uid: ep.podUid, blockOwnerDeletion: true }] } : {}),
      },
      status,
    };
    await this.#custom.patchNamespacedCustomObject(
      { ...CILIUM('ciliumendpoints'), namespace: ep.ev.namespace, name: ep.ev.podName, body, fieldManager: AGENT_FIELD_MANAGER, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  // --- node ---------------------------------------------------------------------------------------

  /** Cilium's agent owns its CiliumNode's addresses; the operator fills spec.ipam.podCIDRs. */
  async #registerCiliumNode(): Promise<void> {
    const node = this.#informers.get('nodes')?.get(this.opts.nodeName) as V1Node | undefined;
    const addresses = (node?.status?.addresses ?? []).filter((a) => a.type === 'InternalIP').map((a) => ({ type: 'InternalIP', ip: a.address }));
    await this.#custom.patchClusterCustomObject(
      {
        ...CILIUM('ciliumnodes'), name: this.opts.nodeName, fieldManager: AGENT_FIELD_MANAGER, force: true,
        body: { apiVersion: 'cilium.io/v2', kind: 'CiliumNode', metadata: { name: this.opts.nodeName }, spec: { addresses } },
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
  }

  #podCidrFromCiliumNode(cn?: CiliumNode): string | undefined {
    const obj = cn ?? (this.#informers.get('ciliumnode')?.get(this.opts.nodeName) as CiliumNode | undefined);
    return obj?.spec?.ipam?.podCIDRs?.find((c) => !c.includes(':'));
  }

  // --- ipcache -----------------------------------------------------------------------------------

  /** Every rule's CIDR prefix gets a node-local identity (Cilium's local CIDR identities). */
  #ensureCidrIdentities(): void {
    const want = new Set(this.engine.requiredCidrPrefixes());
    const changed = new Set<number>();
    for (const prefix of want) {
      if (this.#cidrIds.has(prefix)) continue;
      const id = LOCAL_IDENTITY_FLAG | this.#nextCidrId++;
      this.#cidrIds.set(prefix, id);
      for (const e of this.engine.upsertIdentity(id, cidrIdentityLabels(prefix))) changed.add(e);
    }
    for (const [prefix, id] of this.#cidrIds) {
      if (want.has(prefix)) continue;
      this.#cidrIds.delete(prefix);
      for (const e of this.engine.deleteIdentity(id)) changed.add(e);
    }
    this.#regenerate(changed);
    this.#scheduleIpcache();
  }

  #scheduleIpcache(): void {
    if (this.#ipcacheTimer || this.#stopped) return;
    this.#ipcacheTimer = setTimeout(() => {
      this.#ipcacheTimer = undefined;
      try {
        this.syncIpcache();
      } catch (e) {
        this.log.error('ipcache sync failed', { error: errorText(e) });
      }
    }, 20);
  }

  /** The ipcache's desired content: every endpoint of the cluster, node addresses, CIDR identities. */
  desiredIpcache(): Map<string, number> {
    const want = new Map<string, number>();
    for (const [prefix, id] of this.#cidrIds) want.set(prefix.includes('/') ? prefix : `${prefix}/32`, id);
    for (const inf of [this.#informers.get('nodes')]) {
      for (const n of (inf?.list() ?? []) as V1Node[]) {
        const id = n.metadata?.name === this.opts.nodeName ? ReservedIdentity.HOST : ReservedIdentity.REMOTE_NODE;
        for (const a of n.status?.addresses ?? []) if (a.type === 'InternalIP' || a.type === 'ExternalIP') want.set(hostPrefix(a.address), id);
      }
    }
    for (const cep of (this.#informers.get('cep')?.list() ?? []) as CiliumEndpoint[]) {
      const id = cep.status?.identity?.id;
      if (!id) continue;
      for (const a of cep.status?.networking?.addressing ?? []) for (const ip of [a.ipv4, a.ipv6]) if (ip) want.set(hostPrefix(ip), id);
    }
    // Local endpoints first-hand (their CiliumEndpoint may not have come back yet).
    for (const ep of this.#endpoints.values()) want.set(hostPrefix(ep.ev.ip), ep.identity);
    // The pods' gateway, on this node's host side, is the host.
    if (this.#podCidr) want.set(hostPrefix(podCidrInfo(this.#podCidr).routerIp), ReservedIdentity.HOST);
    return want;
  }

  syncIpcache(): void {
    const desired: Array<[string, RemoteEndpointInfo]> = [...this.desiredIpcache()].map(([p, identity]) => [p, { identity, tunnelEndpoint: null, flags: 0 }]);
    const r = syncMap(this.datapath.maps.ipcache, desired);
    if (r.added || r.changed || r.removed) this.log.debug('ipcache synced', { ...r });
  }

  /** Local endpoints as the agent sees them (for status and inspection commands). */
  localEndpoints(): Array<{ id: number; namespace: string; pod: string; identity: number; state: EndpointStateName; ip: string; ingress: boolean; egress: boolean; labels: string[] }> {
    return [...this.#endpoints.values()].map((e) => ({
      id: e.ev.epId, namespace: e.ev.namespace, pod: e.ev.podName, identity: e.identity, state: e.state, ip: e.ev.ip,
      ingress: !!e.policy?.enforceIngress, egress: !!e.policy?.enforceEgress, labels: formatLabelSet(e.labels),
    }));
  }

  /** The CiliumEndpoint (of any node) holding this address. */
  remoteEndpointByIp(ip: string): { namespace: string; name: string } | undefined {
    for (const cep of (this.#informers.get('cep')?.list() ?? []) as CiliumEndpoint[]) {
      if (cep.status?.networking?.addressing?.some((a) => a.ipv4 === ip || a.ipv6 === ip)) {
        return { namespace: cep.metadata.namespace ?? '', name: cep.metadata.name ?? '' };
      }
    }
    return undefined;
  }

  /** The endpoint's policy map as the kernel holds it. */
  kernelPolicy(epId: number) {
    return this.datapath.endpointPolicyEntries(epId);
  }

  mapStats() {
    return this.datapath.mapStats();
  }

  /** What `cilium-ts status` shows. */
  status() {
    const eps = this.localEndpoints();
    const maps = this.mapStats();
    return {
      node: this.opts.nodeName,
      agent: this.#stopped ? 'stopping' : (this.#readyProblem() ?? 'ok'),
      kubernetes: [...this.#informers].map(([name, inf]) => ({ watch: name, synced: inf.synced, error: inf.error ?? null })),
      datapath: { mode: 'tc (bpf_lxc on each pod veth)', pinRoot: this.datapath.pinRoot, podCidr: this.#podCidr ?? null },
      enforcementMode: this.opts.enforcementMode ?? 'default',
      endpoints: { total: eps.length, ready: eps.filter((e) => e.state === 'ready').length, enforcingIngress: eps.filter((e) => e.ingress).length, enforcingEgress: eps.filter((e) => e.egress).length },
      identities: this.engine.identities().size,
      policies: new Set(this.engine.rules().map((r) => `${r.policy.kind}/${r.policy.namespace ?? ''}/${r.policy.name}`)).size,
      maps: maps.map((m) => ({ ...m, pressure: m.maxEntries ? m.entries / m.maxEntries : 0 })),
      ...(this.flows ? { flows: this.flows.stats() } : {}),
    };
  }

  /** Resolves when no regeneration is queued or running (tests). */
  async idle(): Promise<void> {
    while (this.#regenRunning || this.#regenQueue.size || this.#ipcacheTimer) {
      await (this.#regenRunning ?? new Promise((r) => setTimeout(r, 10)));
    }
  }
}

function hostPrefix(ip: string): string {
  return ip.includes(':') ? `${ip}/128` : `${ip}/32`;
}
