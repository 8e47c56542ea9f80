// This node's endpoints: the CNI server's pod attachments become endpoints with an identity, a
// policy in the kernel and a CiliumEndpoint. Lifecycle as Cilium's: creating → waiting-for-identity
// → ready; not-ready while a failed regeneration waits for its retry. Policy changes reach an
// endpoint through the regeneration queue (batched, retried with backoff); a regeneration swaps
// the endpoint's whole policy map, then writes its cilium_lxc flags, so no packet is judged by
// half a policy.
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { join } from 'node:path';
import type { LxcDatapath } from '../datapath/loader.ts';
import { policyMapEntries } from '../datapath/policy-encoding.ts';
import { errorText, statusOf } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import { podIdentityLabels, ReservedIdentity, type PolicyEngine } from '../policy/index.ts';
import { CniServer, type EndpointDatapathSettings, type EndpointEvent } from './cni/server.ts';
import type { EndpointRecord } from './endpoint-state.ts';
import { CiliumEndpointWriter } from './cilium-endpoint.ts';
import { IdentityAllocator, type IdentityCache } from './identity.ts';
import { endpointInfo, endpointSettings, type LocalEndpoint } from './local-endpoint.ts';
import type { AgentMetrics } from './metrics.ts';
import { RegenerationQueue } from './regeneration-queue.ts';
import type { AgentPart, EndpointStateName, LocalEndpointInfo } from './types.ts';
import type { WatchCache, WatchHandler, WatchedKinds } from './watchers.ts';

export interface EndpointManagerOptions {
  kc: KubeConfig;
  nodeName: string;
  clusterName: string;
  /** where the CNI server keeps its allocations */
  stateDir: string;
  socketPath?: string | undefined;
  log: Logger;
  engine: PolicyEngine;
  identities: IdentityCache;
  datapath: LxcDatapath;
  watch: WatchCache & { on<K extends 'pods' | 'namespaces'>(name: K, h: WatchHandler<WatchedKinds[K]>): void };
  podCidr: () => string | undefined;
  /** the pods' MTU (the routing part's: the underlay's, less the tunnel overhead); undefined = the default */
  mtu?: () => number | undefined;
  metrics: Pick<AgentMetrics, 'regenerations' | 'regenerationSeconds' | 'identitiesAllocated'>;
  /** the set of endpoints or their identities changed (the ipcache reads them) */
  onChange: () => void;
  /** retry backoff of failed regenerations (tests shorten it) */
  retryBaseDelayMs?: number;
}

function eventOf(r: EndpointRecord): EndpointEvent {
  const { containerId, namespace, podName, ifname, netns, ip, hostIfindex, hostIfname, podMac, hostMac, epId } = r;
  return {
    containerId,
    namespace,
    podName,
    ifname,
    netns,
    ip,
    hostIfindex,
    hostIfname,
    podMac,
    hostMac,
    epId,
    ...(r.podUid ? { podUid: r.podUid } : {}),
  };
}

export class EndpointManager implements AgentPart {
  readonly #o: EndpointManagerOptions;
  readonly #log: Logger;
  readonly #core: CoreV1Api;
  readonly #allocator: IdentityAllocator;
  readonly #cep: CiliumEndpointWriter;
  readonly #endpoints = new Map<number, LocalEndpoint>();
  readonly #queue: RegenerationQueue;
  /** identity updates after label changes, in flight */
  readonly #relabels = new Set<Promise<void>>();
  #cni: CniServer | undefined;

  constructor(opts: EndpointManagerOptions) {
    this.#o = opts;
    this.#log = opts.log;
    this.#core = opts.kc.makeApiClient(CoreV1Api);
    this.#allocator = new IdentityAllocator(opts.kc.makeApiClient(CustomObjectsApi), opts.identities);
    this.#cep = new CiliumEndpointWriter(opts.kc, opts.nodeName);
    this.#queue = new RegenerationQueue({
      regenerate: (id) => this.#regenerateQueued(id),
      onFailure: (id, err, retryInMs, attempts) => this.#regenerationFailed(id, err, retryInMs, attempts),
      ...(opts.retryBaseDelayMs !== undefined ? { baseDelayMs: opts.retryBaseDelayMs } : {}),
    });
    // Namespace labels are part of every pod identity in it; a pod's own labels too.
    opts.watch.on('namespaces', (type, obj) => {
      if (type !== 'delete') this.#relabelWhere((ep) => ep.ev.namespace === obj.metadata?.name);
    });
    opts.watch.on('pods', (type, obj) => {
      if (type === 'delete') return; // the CNI DEL removes the endpoint
      const { namespace, name } = obj.metadata ?? {};
      this.#relabelWhere((ep) => ep.ev.namespace === namespace && ep.ev.podName === name);
    });
  }

  get cni(): CniServer | undefined {
    return this.#cni;
  }

  /** Starts the CNI server and rebuilds identity and policy of the endpoints it restored. */
  async start(): Promise<void> {
    const podCidr = this.#o.podCidr();
    const mtu = this.#o.mtu?.();
    this.#cni = await CniServer.start({
      datapath: this.#o.datapath,
      ...(podCidr ? { podCidr } : {}),
      ...(mtu ? { mtu } : {}),
      stateFile: join(this.#o.stateDir, 'endpoints.json'),
      ...(this.#o.socketPath ? { socketPath: this.#o.socketPath } : {}),
      log: this.#log.child({ component: 'cni' }),
      hooks: {
        onEndpointAdded: (ev) => this.#endpointAdded(ev),
        onEndpointDeleted: (ev) => this.#endpointDeleted(ev),
      },
    });
    for (const r of this.#cni.endpoints()) {
      const ev = eventOf(r);
      try {
        const settings = await this.#endpointAdded(ev);
        this.#writeLxc(ev, settings);
      } catch (e) {
        const ctx = { endpoint: ev.epId, namespace: ev.namespace, name: ev.podName, error: errorText(e) };
        this.#log.warn('restoring endpoint failed', ctx);
      }
    }
  }

  async stop(): Promise<void> {
    await this.#cni?.stop();
    await this.#queue.stop();
    await Promise.allSettled([...this.#relabels]);
  }

  /** The node's pod CIDR arrived: the CNI server can hand out addresses. */
  setPodCidr(cidr: string): void {
    this.#cni?.setPodCidr(cidr);
  }

  /** Queue these endpoints for regeneration (ids that are not local endpoints are ignored). */
  regenerate(ids: Iterable<number>): void {
    const local = [...ids].filter((id) => this.#endpoints.has(id));
    if (local.length) this.#queue.add(local);
  }

  /** Resolves when no regeneration or identity update is queued or running. */
  async idle(): Promise<void> {
    for (;;) {
      await this.#queue.idle();
      if (this.#relabels.size === 0) return;
      await Promise.allSettled([...this.#relabels]);
    }
  }

  localEndpoints(): LocalEndpointInfo[] {
    return [...this.#endpoints.values()].map(endpointInfo);
  }

  /** Address and identity of every local endpoint, for the ipcache. */
  addresses(): Array<{ ip: string; identity: number }> {
    return [...this.#endpoints.values()].map((e) => ({ ip: e.ev.ip, identity: e.identity }));
  }

  isLocal(namespace: string | undefined, name: string | undefined): boolean {
    for (const e of this.#endpoints.values()) if (e.ev.namespace === namespace && e.ev.podName === name) return true;
    return false;
  }

  // --- lifecycle ---------------------------------------------------------------------------------

  /** The CNI server plumbed a pod: give it an identity and its policy before ADD returns. */
  async #endpointAdded(ev: EndpointEvent): Promise<EndpointDatapathSettings> {
    const t = performance.now();
    const ep: LocalEndpoint = this.#endpoints.get(ev.epId) ?? {
      ev,
      state: 'creating',
      identity: ReservedIdentity.INIT,
      labels: {},
      serviceAccount: 'default',
      namedPorts: [],
    };
    ep.ev = ev;
    this.#endpoints.set(ev.epId, ep);
    await this.#writeCep(ep, 'waiting-for-identity');
    await this.#resolveIdentity(ep);
    this.#writeKernel(ep);
    await this.#writeCep(ep, 'ready');
    this.#o.metrics.regenerations.inc({ outcome: 'success' });
    this.#o.metrics.regenerationSeconds.observe({ reason: 'endpoint-added' }, (performance.now() - t) / 1000);
    return endpointSettings(ep);
  }

  async #endpointDeleted(ev: EndpointEvent): Promise<void> {
    const ep = this.#endpoints.get(ev.epId);
    this.#endpoints.delete(ev.epId);
    this.regenerate(this.#o.engine.deleteEndpoint(ev.epId));
    this.#o.datapath.deleteEndpointPolicy(ev.epId);
    this.#o.onChange();
    if (ep) this.#log.info('endpoint removed', { endpoint: ev.epId, namespace: ev.namespace, name: ev.podName });
    await this.#cep.delete(ev.namespace, ev.podName);
  }

  // --- identity ----------------------------------------------------------------------------------

  async #resolveIdentity(ep: LocalEndpoint): Promise<void> {
    const pod = await this.#pod(ep.ev.namespace, ep.ev.podName);
    const ns = this.#o.watch.get('namespaces', ep.ev.namespace);
    ep.podUid = pod?.metadata?.uid ?? ep.ev.podUid;
    ep.serviceAccount = pod?.spec?.serviceAccountName ?? 'default';
    ep.namedPorts = (pod?.spec?.containers ?? [])
      .flatMap((c) => c.ports ?? [])
      .flatMap((p) => (p.name ? [{ name: p.name, port: p.containerPort, protocol: p.protocol ?? 'TCP' }] : []));
    const labels = podIdentityLabels({
      namespace: ep.ev.namespace,
      podLabels: pod?.metadata?.labels ?? {},
      namespaceLabels: ns?.metadata?.labels ?? {},
      serviceAccount: ep.serviceAccount,
      clusterName: this.#o.clusterName,
    });
    const { id, created } = await this.#allocator.allocate(labels);
    if (created) this.#o.metrics.identitiesAllocated.inc();
    // The informer will deliver it too; the engine must know it now, before regeneration.
    if (!this.#o.identities.labelsOf(id)) {
      this.#o.identities.set(id, labels);
      this.#o.engine.upsertIdentity(id, labels);
    }
    ep.labels = labels;
    ep.identity = id;
    const endpoint = { id: ep.ev.epId, identity: id, ips: [ep.ev.ip], namedPorts: ep.namedPorts };
    this.regenerate(this.#o.engine.upsertEndpoint(endpoint));
    this.#o.onChange();
  }

  async #pod(namespace: string, name: string): Promise<V1Pod | undefined> {
    const cached = this.#o.watch.get('pods', name, namespace);
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
      const task = this.#relabel(ep).finally(() => this.#relabels.delete(task));
      this.#relabels.add(task);
    }
  }

  async #relabel(ep: LocalEndpoint): Promise<void> {
    const before = ep.identity;
    try {
      await this.#resolveIdentity(ep);
      if (ep.identity === before) return;
      const { epId: endpoint, namespace, podName: name } = ep.ev;
      this.#log.info('endpoint identity changed', { endpoint, namespace, name, from: before, to: ep.identity });
      this.#queue.add([endpoint]); // its cilium_lxc entry and CiliumEndpoint carry the identity
    } catch (e) {
      this.#log.warn('identity update failed', { endpoint: ep.ev.epId, error: errorText(e) });
    }
  }

  // --- regeneration ------------------------------------------------------------------------------

  async #regenerateQueued(id: number): Promise<void> {
    const ep = this.#endpoints.get(id);
    if (!ep || ep.state === 'creating' || ep.state === 'waiting-for-identity') return;
    const t = performance.now();
    try {
      this.#writeKernel(ep);
      ep.failure = undefined;
      await this.#writeCep(ep, 'ready');
      this.#o.metrics.regenerations.inc({ outcome: 'success' });
    } finally {
      this.#o.metrics.regenerationSeconds.observe({ reason: 'policy' }, (performance.now() - t) / 1000);
    }
  }

  #regenerationFailed(id: number, err: unknown, retryInMs: number, attempts: number): void {
    this.#o.metrics.regenerations.inc({ outcome: 'failure' });
    const ep = this.#endpoints.get(id);
    const error = errorText(err);
    this.#log.error('regeneration failed, will retry', { endpoint: id, error, retryInMs, attempts });
    if (!ep || ep.state === 'creating' || ep.state === 'waiting-for-identity') return;
    ep.failure = { message: error, attempts, at: new Date().toISOString() };
    // Best effort: the write that failed may well have been this one.
    this.#writeCep(ep, 'not-ready').catch(() => undefined);
  }

  /** The endpoint's desired policy into the kernel: the whole map swapped, then the flags. */
  #writeKernel(ep: LocalEndpoint): void {
    const policy = this.#o.engine.policyOf(ep.ev.epId);
    this.#o.datapath.replaceEndpointPolicy(
      ep.ev.epId,
      policyMapEntries(policy).map((e) => [e.key, e.entry] as const),
    );
    ep.policy = policy;
    if (this.#endpoints.get(ep.ev.epId) === ep && ep.state !== 'creating') this.#writeLxc(ep.ev, endpointSettings(ep));
  }

  #writeLxc(ev: EndpointEvent, s: EndpointDatapathSettings): void {
    const { epId, podMac: mac, hostMac: nodeMac } = ev;
    this.#o.datapath.maps.endpoints.update(ev.hostIfindex, {
      epId,
      identity: s.identity,
      flags: s.flags,
      mode: s.mode,
      mac,
      nodeMac,
    });
  }

  async #writeCep(ep: LocalEndpoint, state: EndpointStateName): Promise<void> {
    ep.state = state;
    await this.#cep.apply(ep);
  }
}
