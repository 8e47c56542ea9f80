// The LB-IPAM shell: any change of a pool or of a LoadBalancer Service queues one "allocate" key
// (debounced); its handler feeds every pool and Service to the pure allocator and writes only the
// differences: Service status (ingress + condition) by server-side apply under our field manager,
// pool conditions by a status merge patch (../status.ts). Allocation and its writes run under one
// key, so two passes never race each other into handing one address to two Services; a write
// that fails is logged, the others go ahead, and the pass is retried with backoff.
import { PatchStrategy, setHeaderOptions, type KubernetesObject, type V1Service } from '@kubernetes/client-node';
import {
  allocate,
  isResponsible,
  mergeConditions,
  type DesiredCondition,
  type LBIPAMOptions,
  type LBPoolInput,
  type StatusCondition,
} from './allocator.ts';
import * as C from './constants.ts';
import {
  KeyBackoff,
  resources,
  runPassWrites,
  WrittenOverlay,
  type ControllerContext,
  type PassWrite,
} from '../context.ts';
import { QueueController } from '../lifecycle.ts';
import type { ResilientInformer } from '../../lib/informer.ts';

export interface LBIPAMControllerOptions extends LBIPAMOptions {
  /** wait this long after an event before allocating, so a burst becomes one pass; default 50 ms */
  debounceMs?: number;
  /** status writes in flight at once; default 16 */
  writeConcurrency?: number;
}

interface PoolObject extends KubernetesObject {
  metadata: NonNullable<KubernetesObject['metadata']>;
  spec: LBPoolInput['spec'];
  status?: { conditions?: StatusCondition[] };
}

type ServiceStatus = NonNullable<V1Service['status']>;

const ALLOCATE = 'allocate';

function sameIPs(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((ip, i) => ip === b[i]);
}

function sameCondition(
  a: { status?: string; reason?: string; message?: string } | undefined,
  b: DesiredCondition,
): boolean {
  return !!a && a.status === b.status && (a.reason ?? '') === b.reason && (a.message ?? '') === b.message;
}

function ingressIPs(status: ServiceStatus | undefined): string[] {
  return (status?.loadBalancer?.ingress ?? []).flatMap((i) => (i.ip ? [i.ip] : []));
}

function sameConditions(a: readonly StatusCondition[] | undefined, b: readonly StatusCondition[]): boolean {
  if ((a ?? []).length !== b.length) return false;
  return b.every((d) => {
    const c = (a ?? []).find((x) => x.type === d.type);
    return (
      !!c &&
      c.status === d.status &&
      (c.reason ?? '') === d.reason &&
      (c.message ?? '') === d.message &&
      c.observedGeneration === d.observedGeneration
    );
  });
}

export class LBIPAMController extends QueueController {
  readonly name = 'lb-ipam';
  readonly uses = ['lbPools', 'services'] as const;
  readonly #opts: LBIPAMControllerOptions;
  readonly #pools: ResilientInformer<PoolObject>;
  readonly #services: ResilientInformer<V1Service & KubernetesObject>;
  readonly #svcWritten = new WrittenOverlay<ServiceStatus>();
  readonly #backoff = new KeyBackoff();
  readonly #poolWritten = new WrittenOverlay<{ resourceVersion: string; conditions: StatusCondition[] }>();

  constructor(ctx: ControllerContext, opts: LBIPAMControllerOptions = {}) {
    super(ctx, { concurrency: 1 });
    this.#opts = opts;
    this.#pools = ctx.informer<PoolObject>('lbPools');
    this.#services = ctx.informer<V1Service & KubernetesObject>('services');
    this.#pools.on(() => this.#trigger());
    this.#services.on((type, svc) => {
      if (type === 'delete') this.#svcWritten.delete(`${svc.metadata?.namespace}/${svc.metadata?.name}`);
      // Services that are not ours and carry none of our status are no business of LB-IPAM.
      const ours =
        isResponsible(svc, opts) ||
        (svc.status?.conditions ?? []).some((c) => c.type === C.CONDITION_REQUEST_SATISFIED);
      if (ours) this.#trigger();
    });
  }

  #trigger(): void {
    this.enqueue(ALLOCATE, this.#opts.debounceMs ?? 50);
  }

  protected override reset(): void {
    this.#svcWritten.clear();
    this.#poolWritten.clear();
    this.#backoff.clear();
  }

  protected fullPass(): string[] {
    return [ALLOCATE];
  }

  protected reconcile(): Promise<void> {
    return this.#allocate();
  }

  /** A Service as we last know it: the cache, or our own newer write the watch has not shown yet. */
  #effectiveService(svc: V1Service & KubernetesObject): V1Service {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const written = this.#svcWritten.get(key, svc.metadata?.resourceVersion);
    return written ? { ...svc, status: written } : svc;
  }

  async #allocate(): Promise<void> {
    const log = this.ctx.log;
    const pools = this.#pools.list().map((p) => {
      const written = this.#poolWritten.get(p.metadata?.name ?? '', p.metadata?.resourceVersion);
      return written
        ? {
            ...p,
            metadata: { ...p.metadata, resourceVersion: written.resourceVersion },
            status: { ...p.status, conditions: written.conditions },
          }
        : p;
    });
    const services = this.#services.list().map((s) => this.#effectiveService(s));
    const result = allocate(pools, services, this.#opts);
    const now = new Date().toISOString();
    const byKey = new Map(services.map((s) => [`${s.metadata?.namespace}/${s.metadata?.name}`, s]));

    const writes: PassWrite[] = [];
    for (const r of result.services) {
      const svc = byKey.get(r.key);
      if (!svc) continue;
      for (const w of r.warnings) log.info(w, { kind: 'Service', namespace: r.namespace, name: r.name });
      const current = (svc.status?.conditions ?? []).find((c) => c.type === C.CONDITION_REQUEST_SATISFIED);
      if (sameIPs(ingressIPs(svc.status), r.ingressIPs) && sameCondition(current, r.condition)) continue;
      const condition = {
        ...r.condition,
        lastTransitionTime: current && current.status === r.condition.status ? String(current.lastTransitionTime) : now,
        ...(svc.metadata?.generation !== undefined ? { observedGeneration: svc.metadata.generation } : {}),
      };
      const status: ServiceStatus = {
        loadBalancer: { ingress: r.ingressIPs.map((ip) => ({ ip })) },
        conditions: [condition as never],
      };
      writes.push({
        what: `Service ${r.key}`,
        run: () => this.#applyServiceStatus(r.namespace, r.name, status, r.ingressIPs),
      });
    }
    for (const r of result.released) {
      writes.push({ what: `Service ${r.key}`, run: () => this.#applyServiceStatus(r.namespace, r.name, {}, []) });
    }
    const poolsByName = new Map(pools.map((p) => [p.metadata?.name ?? '', p]));
    const m = this.ctx.metrics;
    m.lbIPsAvailable.reset();
    m.lbIPsUsed.reset();
    m.lbIPsTotal.reset();
    m.lbConflictingPools.set(result.conflictingPools.length);
    for (const r of result.pools) {
      m.lbIPsAvailable.set({ pool: r.name }, Number(r.ipsAvailable));
      m.lbIPsUsed.set({ pool: r.name }, Number(r.ipsUsed));
      m.lbIPsTotal.set({ pool: r.name }, Number(r.ipsTotal));
      const pool = poolsByName.get(r.name);
      if (!pool) continue;
      const existing = pool.status?.conditions;
      const next = mergeConditions(existing, r.conditions, now, pool.metadata?.generation);
      if (sameConditions(existing, next)) continue;
      writes.push({ what: `CiliumLoadBalancerIPPool ${r.name}`, run: () => this.#writePoolStatus(pool, next) });
    }

    await runPassWrites(writes, this.#backoff, {
      concurrency: this.#opts.writeConcurrency ?? 16,
      log,
      schedule: (ms) => this.enqueue(ALLOCATE, ms),
    });
  }

  async #applyServiceStatus(namespace: string, name: string, status: ServiceStatus, ips: string[]): Promise<void> {
    this.ctx.assertLeader(`write the status of Service ${namespace}/${name}`);
    // Server-side apply: we own status.loadBalancer.ingress and our one condition; applying an
    // empty status gives them up (a released Service), other managers' conditions stay.
    const body = { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace }, status };
    const res = await this.ctx.core.patchNamespacedServiceStatus(
      { name, namespace, body, fieldManager: C.FIELD_MANAGER, force: true },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    );
    this.ctx.metrics.writes.inc({ controller: this.name, kind: 'Service' });
    this.#svcWritten.set(`${namespace}/${name}`, res.metadata?.resourceVersion ?? '', res.status ?? {});
    this.ctx.log.info(ips.length ? 'service allocated' : 'service status updated', {
      kind: 'Service',
      namespace,
      name,
      ips,
      satisfied: res.status?.conditions?.find((c) => c.type === C.CONDITION_REQUEST_SATISFIED)?.status,
    });
  }

  async #writePoolStatus(pool: PoolObject, conditions: StatusCondition[]): Promise<void> {
    const name = pool.metadata?.name ?? '';
    this.ctx.assertLeader(`write the status of CiliumLoadBalancerIPPool ${name}`);
    const r = resources.lbPools;
    const rv = await this.ctx.patchStatus(
      {
        group: r.group,
        version: r.version,
        plural: r.plural,
        kind: r.kind,
        name,
        resourceVersion: pool.metadata?.resourceVersion ?? '',
      },
      { conditions },
    );
    this.ctx.metrics.writes.inc({ controller: this.name, kind: r.kind });
    this.#poolWritten.set(name, rv, { resourceVersion: rv, conditions });
  }
}
