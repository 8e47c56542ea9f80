// What every controller gets from the operator: the 2.x client, shared informers, status writes,
// metrics, a work-queue factory and the leadership gate on writes.
import {
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { ResilientInformer } from '../lib/informer.ts';
import { errorText } from '../lib/kube.ts';
import { WorkQueue, type Handler } from '../lib/workqueue.ts';
import type { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../lib/log.ts';
import type { StatusTarget } from './status.ts';

/** A resource the operator watches; plural doubles as the informer's name. */
export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

export const resources = {
  services: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  pods: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  nodes: { group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false },
  lbPools: {
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumloadbalancerippools',
    kind: 'CiliumLoadBalancerIPPool',
    namespaced: false,
  },
  ciliumNodes: { group: 'cilium.io', version: 'v2', plural: 'ciliumnodes', kind: 'CiliumNode', namespaced: false },
  cnps: {
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumnetworkpolicies',
    kind: 'CiliumNetworkPolicy',
    namespaced: true,
  },
  ccnps: {
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumclusterwidenetworkpolicies',
    kind: 'CiliumClusterwideNetworkPolicy',
    namespaced: false,
  },
  endpoints: { group: 'cilium.io', version: 'v2', plural: 'ciliumendpoints', kind: 'CiliumEndpoint', namespaced: true },
  identities: {
    group: 'cilium.io',
    version: 'v2',
    plural: 'ciliumidentities',
    kind: 'CiliumIdentity',
    namespaced: false,
  },
} as const satisfies Record<string, ResourceRef>;

export type ResourceName = keyof typeof resources;

export interface OperatorMetrics {
  registry: Registry;
  reconcileTotal: Counter<'controller' | 'result'>;
  reconcileErrors: Counter<'controller'>;
  reconcileSeconds: Histogram<'controller'>;
  queueDepth: Gauge<'name'>;
  writes: Counter<'controller' | 'kind'>;
  isLeader: Gauge<'name'>;
  lbIPsAvailable: Gauge<'pool'>;
  lbIPsUsed: Gauge<'pool'>;
  lbIPsTotal: Gauge<'pool'>;
  lbConflictingPools: Gauge;
  podCIDRsUsed: Gauge<'family'>;
  podCIDRsTotal: Gauge<'family'>;
  gcDeleted: Counter<'kind'>;
}

/** Thrown by a write attempted while this replica does not hold the lease. */
export class NotLeaderError extends Error {
  constructor(what: string) {
    super(`not the leader: refusing to ${what}`);
    this.name = 'NotLeaderError';
  }
}

export interface ControllerContext {
  kc: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
  metrics: OperatorMetrics;
  log: Logger;
  /** the shared cache of a resource (created on first use, started by the operator) */
  informer<T extends KubernetesObject = KubernetesObject>(name: ResourceName): ResilientInformer<T>;
  /** a per-key queue that logs failures and feeds the reconcile metrics */
  queue(controller: string, handler: Handler, concurrency?: number): WorkQueue;
  /** throws NotLeaderError unless we hold the lease right now; call before every write */
  assertLeader(what: string): void;
  /** merge-patch a custom resource's status, refused (409) if the object moved past resourceVersion */
  patchStatus(target: StatusTarget, status: unknown): Promise<string>;
}

export interface Controller {
  readonly name: string;
  /** informers this controller reads; the operator starts them before start() */
  readonly uses: readonly ResourceName[];
  /** begin reconciling (on becoming leader): a full pass over the caches */
  start(): void;
  /** stop at once (on losing the lease or shutdown); in-flight handlers finish, no new work */
  stop(): Promise<void>;
  /** resolves when there is no pending work (tests) */
  idle(): Promise<void>;
}

function listPath(r: ResourceRef): string {
  return r.group ? `/apis/${r.group}/${r.version}/${r.plural}` : `/api/${r.version}/${r.plural}`;
}

export function makeInformer(kc: KubeConfig, r: ResourceRef, log: Logger): ResilientInformer<KubernetesObject> {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const list = async (): Promise<KubernetesListObject<KubernetesObject>> => {
    if (r.group)
      return (await custom.listClusterCustomObject({
        group: r.group,
        version: r.version,
        plural: r.plural,
      })) as KubernetesListObject<KubernetesObject>;
    switch (r.plural) {
      case 'services':
        return core.listServiceForAllNamespaces();
      case 'pods':
        return core.listPodForAllNamespaces();
      case 'nodes':
        return core.listNode();
      default:
        throw new Error(`no list function for ${r.plural}`);
    }
  };
  return new ResilientInformer({ kc, path: listPath(r), list, log });
}

/** The resourceVersion of an object as a number, for "is this event at least as new as our write" (etcd's are monotonic). */
export function rvNumber(rv: string | undefined): bigint {
  try {
    return rv ? BigInt(rv) : -1n;
  } catch {
    return -1n;
  }
}

/**
 * What we wrote, until the informer shows it: a controller that reruns before the watch caught up
 * must see its own writes, or a stateless allocator would hand the same address out twice.
 */
export class WrittenOverlay<V> {
  readonly #entries = new Map<string, { rv: bigint; value: V }>();

  set(key: string, resourceVersion: string, value: V): void {
    this.#entries.set(key, { rv: rvNumber(resourceVersion), value });
  }

  /** Our written value if the cached object is older than it; drops the entry once the cache caught up. */
  get(key: string, cachedResourceVersion: string | undefined): V | undefined {
    const e = this.#entries.get(key);
    if (!e) return undefined;
    if (rvNumber(cachedResourceVersion) >= e.rv) {
      this.#entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  delete(key: string): void {
    this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

/** Run fn over items with at most `limit` in flight; returns the failures, never throws. */
export async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<{ item: T; error: unknown }[]> {
  const failures: { item: T; error: unknown }[] = [];
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failures.push({ item, error });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}

export function errorMessage(err: unknown): string {
  return errorText(err);
}

/**
 * Per-object retry delays inside one allocation pass: an object whose write failed is skipped by
 * the passes that follow until its backoff has passed (doubling per failure), so it neither holds
 * up the others nor gets hammered on every event.
 */
export class KeyBackoff {
  readonly #entries = new Map<string, { failures: number; until: number }>();
  readonly #baseMs: number;
  readonly #maxMs: number;

  constructor(baseMs = 100, maxMs = 30_000) {
    this.#baseMs = baseMs;
    this.#maxMs = maxMs;
  }

  ready(key: string, now = Date.now()): boolean {
    const e = this.#entries.get(key);
    return !e || e.until <= now;
  }

  /** Record a failure; returns the delay before the object is tried again. */
  failed(key: string, now = Date.now()): number {
    const failures = (this.#entries.get(key)?.failures ?? 0) + 1;
    const delay = Math.min(this.#baseMs * 2 ** (failures - 1), this.#maxMs);
    this.#entries.set(key, { failures, until: now + delay });
    return delay;
  }

  succeeded(key: string): void {
    this.#entries.delete(key);
  }

  /** Forget objects that no longer need a write. */
  retain(keys: ReadonlySet<string>): void {
    for (const k of [...this.#entries.keys()]) if (!keys.has(k)) this.#entries.delete(k);
  }

  /** Milliseconds until the earliest waiting object may be tried again; undefined when none waits. */
  nextIn(now = Date.now()): number | undefined {
    let min: number | undefined;
    for (const e of this.#entries.values()) min = Math.min(min ?? Infinity, Math.max(0, e.until - now));
    return min;
  }

  clear(): void {
    this.#entries.clear();
  }
}

export interface PassWrite {
  /** the object, e.g. `Service shop/web`: the backoff key and the log's name for it */
  what: string;
  run: () => Promise<void>;
}

/**
 * Run the writes one allocation pass decided on: those in backoff wait, the rest go ahead (a few at
 * a time); failures are logged and backed off per object, and a later pass is scheduled for when
 * the first waiting object is due. Throws a summary when any write failed (for the metrics).
 */
export async function runPassWrites(
  writes: readonly PassWrite[],
  backoff: KeyBackoff,
  opts: { concurrency: number; log: Logger; schedule: (ms: number) => void },
): Promise<void> {
  backoff.retain(new Set(writes.map((w) => w.what)));
  const due = writes.filter((w) => backoff.ready(w.what));
  const failures = await forEachLimited(due, opts.concurrency, async (w) => {
    await w.run();
    backoff.succeeded(w.what);
  });
  for (const f of failures) {
    const retryInMs = backoff.failed(f.item.what);
    opts.log.warn('write failed', { object: f.item.what, error: errorMessage(f.error), retryInMs });
  }
  const next = backoff.nextIn();
  if (next !== undefined) opts.schedule(next);
  if (failures.length > 0) {
    throw new Error(
      `${failures.length} of ${due.length} writes failed (first: ${failures[0]!.item.what}: ${errorMessage(failures[0]!.error)})`,
    );
  }
}
