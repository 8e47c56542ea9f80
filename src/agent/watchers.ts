// The agent's watches: one resilient informer per kind it reads, and the handlers each event goes
// to. Parts subscribe with on(name, handler) before start(); a handler that throws is logged and
// never stops the others. The caches answer get/list for parts that read instead of listen.
import {
  CoreV1Api,
  CustomObjectsApi,
  DiscoveryV1Api,
  NetworkingV1Api,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1EndpointSlice,
  type V1Namespace,
  type V1NetworkPolicy,
  type V1Node,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import type {
  CiliumClusterwideNetworkPolicy,
  CiliumEndpoint,
  CiliumIdentity,
  CiliumNetworkPolicy,
  CiliumNode,
} from '../api/types.generated.ts';
import { ResilientInformer, type EventType } from '../lib/informer.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import type { AgentPart } from './types.ts';

/** The kinds the agent watches, by watch name (the names `cilium-ts status` lists). */
export interface WatchedKinds {
  identities: CiliumIdentity;
  cnp: CiliumNetworkPolicy;
  ccnp: CiliumClusterwideNetworkPolicy;
  netpol: V1NetworkPolicy;
  cep: CiliumEndpoint;
  ciliumnode: CiliumNode;
  nodes: V1Node;
  services: V1Service;
  endpointslices: V1EndpointSlice;
  namespaces: V1Namespace;
  /** this node's pods only */
  pods: V1Pod;
}

export type WatchName = keyof WatchedKinds;
export type WatchHandler<T> = (type: EventType, obj: T) => void;

/** Read access to the watch caches, for parts that look objects up. */
export interface WatchCache {
  get<K extends WatchName>(name: K, objName: string, namespace?: string): WatchedKinds[K] | undefined;
  list<K extends WatchName>(name: K): readonly WatchedKinds[K][];
}

export interface WatchersOptions {
  kc: KubeConfig;
  nodeName: string;
  log: Logger;
}

const ciliumPath = (plural: string) => `/apis/cilium.io/v2/${plural}`;

export class Watchers implements AgentPart, WatchCache {
  readonly #log: Logger;
  // Each informer holds its own kind; the map forgets which, get/list restore it by name.
  readonly #informers = new Map<WatchName, ResilientInformer<KubernetesObject>>();

  constructor(opts: WatchersOptions) {
    this.#log = opts.log;
    const core = opts.kc.makeApiClient(CoreV1Api);
    const custom = opts.kc.makeApiClient(CustomObjectsApi);
    const net = opts.kc.makeApiClient(NetworkingV1Api);
    const discovery = opts.kc.makeApiClient(DiscoveryV1Api);
    const cilium =
      <T extends KubernetesObject>(plural: string) =>
      async () =>
        (await custom.listClusterCustomObject({
          group: 'cilium.io',
          version: 'v2',
          plural,
        })) as KubernetesListObject<T>;
    const add = <K extends WatchName>(
      name: K,
      path: string,
      list: () => Promise<KubernetesListObject<WatchedKinds[K]>>,
    ) => {
      const inf = new ResilientInformer<WatchedKinds[K]>({
        kc: opts.kc,
        path,
        list,
        log: this.#log.child({ component: `watch-${name}` }),
      });
      this.#informers.set(name, inf as unknown as ResilientInformer<KubernetesObject>);
    };
    add('identities', ciliumPath('ciliumidentities'), cilium<CiliumIdentity>('ciliumidentities'));
    add('cnp', ciliumPath('ciliumnetworkpolicies'), cilium<CiliumNetworkPolicy>('ciliumnetworkpolicies'));
    add(
      'ccnp',
      ciliumPath('ciliumclusterwidenetworkpolicies'),
      cilium<CiliumClusterwideNetworkPolicy>('ciliumclusterwidenetworkpolicies'),
    );
    add('netpol', '/apis/networking.k8s.io/v1/networkpolicies', () => net.listNetworkPolicyForAllNamespaces());
    add('cep', ciliumPath('ciliumendpoints'), cilium<CiliumEndpoint>('ciliumendpoints'));
    add('ciliumnode', ciliumPath('ciliumnodes'), cilium<CiliumNode>('ciliumnodes'));
    add('nodes', '/api/v1/nodes', () => core.listNode());
    add('services', '/api/v1/services', () => core.listServiceForAllNamespaces());
    add('endpointslices', '/apis/discovery.k8s.io/v1/endpointslices', () =>
      discovery.listEndpointSliceForAllNamespaces(),
    );
    add('namespaces', '/api/v1/namespaces', () => core.listNamespace());
    add('pods', '/api/v1/pods', () =>
      core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${opts.nodeName}` }),
    );
  }

  /** Subscribe to a watch; call before start() to see the initial list too. */
  on<K extends WatchName>(name: K, handler: WatchHandler<WatchedKinds[K]>): void {
    this.#informer(name).on((type, obj) => {
      try {
        handler(type, obj);
      } catch (e) {
        const { name: objName, namespace } = obj.metadata ?? {};
        this.#log.error('event handling failed', { watch: name, type, name: objName, namespace, error: errorText(e) });
      }
    });
  }

  get<K extends WatchName>(name: K, objName: string, namespace?: string): WatchedKinds[K] | undefined {
    return this.#informer(name).get(objName, namespace);
  }

  list<K extends WatchName>(name: K): readonly WatchedKinds[K][] {
    return this.#informer(name).list();
  }

  /** Resolves once every watch has delivered its first list. */
  async start(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((i) => i.stop()));
  }

  /** The first failing watch, for /readyz; undefined when all are healthy. */
  problem(): string | undefined {
    for (const [name, inf] of this.#informers) if (inf.error) return `watch of ${name} failing: ${inf.error}`;
    return undefined;
  }

  status(): Array<{ watch: string; synced: boolean; error: string | null }> {
    return [...this.#informers].map(([watch, inf]) => ({ watch, synced: inf.synced, error: inf.error ?? null }));
  }

  #informer<K extends WatchName>(name: K): ResilientInformer<WatchedKinds[K]> {
    return this.#informers.get(name) as unknown as ResilientInformer<WatchedKinds[K]>;
  }
}
