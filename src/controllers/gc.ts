// Garbage collection, run every interval by the leader:
// - CiliumEndpoints whose pod is gone (or is another pod of the same name: owner UID differs);
// - CiliumNodes whose Node is gone;
// - CiliumIdentities no CiliumEndpoint uses, once they have been unused for the grace period.
// Something must be found orphaned on two passes at least `grace` apart before it is deleted, so
// a cache that lags behind a fresh pod or endpoint never costs a live object; each deletion is
// conditional on the UID we saw. An identity is checked against the endpoints again right before
// its deletion. Leadership changes restart every grace period (the new leader's clock starts then).
import type { KubernetesObject } from '@kubernetes/client-node';
import { errorText, statusOf } from '../lib/kube.ts';
import { resources, type ControllerContext, type ResourceRef } from './context.ts';
import { QueueController } from './lifecycle.ts';
import type { ResilientInformer } from '../lib/informer.ts';

export interface GCOptions {
  /** how often each sweep runs; default 60 s */
  intervalMs?: number;
  /** an unused identity is deleted after this long; default 15 min (Cilium's identity-gc-interval) */
  identityGraceMs?: number;
  /** an endpoint or CiliumNode without its pod / Node is deleted after this long; default 60 s */
  orphanGraceMs?: number;
}

interface EndpointObject extends KubernetesObject {
  status?: { identity?: { id?: number } };
}

type Sweep = 'endpoints' | 'nodes' | 'identities';

export class GarbageCollector extends QueueController {
  readonly name = 'gc';
  readonly uses = ['endpoints', 'pods', 'ciliumNodes', 'nodes', 'identities'] as const;
  readonly #o: Required<GCOptions>;
  readonly #i: {
    endpoints: ResilientInformer<EndpointObject>;
    pods: ResilientInformer<KubernetesObject>;
    ciliumNodes: ResilientInformer<KubernetesObject>;
    nodes: ResilientInformer<KubernetesObject>;
    identities: ResilientInformer<KubernetesObject>;
  };
  /** key → when we first saw it orphaned (and its UID then) */
  readonly #orphans = new Map<string, { since: number; uid: string }>();

  constructor(ctx: ControllerContext, opts: GCOptions = {}) {
    const o = { intervalMs: 60_000, identityGraceMs: 15 * 60_000, orphanGraceMs: 60_000, ...opts };
    super(ctx, { concurrency: 3, resyncMs: o.intervalMs });
    this.#o = o;
    this.#i = {
      endpoints: ctx.informer<EndpointObject>('endpoints'),
      pods: ctx.informer('pods'),
      ciliumNodes: ctx.informer('ciliumNodes'),
      nodes: ctx.informer('nodes'),
      identities: ctx.informer('identities'),
    };
  }

  protected override reset(): void {
    this.#orphans.clear();
  }

  protected fullPass(): Sweep[] {
    return ['endpoints', 'nodes', 'identities'];
  }

  protected reconcile(key: string): Promise<void> {
    return this.#sweep(key as Sweep);
  }

  async #sweep(what: Sweep): Promise<void> {
    switch (what) {
      case 'endpoints':
        return this.#collect(resources.endpoints, this.#i.endpoints.list(), this.#o.orphanGraceMs, (cep) => {
          const pod = this.#i.pods.get(cep.metadata?.name ?? '', cep.metadata?.namespace);
          if (!pod) return 'its pod is gone';
          const owner = cep.metadata?.ownerReferences?.find((o) => o.kind === 'Pod');
          if (owner && pod.metadata?.uid && owner.uid !== pod.metadata.uid)
            return 'its pod was replaced by another of the same name';
          return undefined;
        });
      case 'nodes':
        return this.#collect(resources.ciliumNodes, this.#i.ciliumNodes.list(), this.#o.orphanGraceMs, (cn) =>
          this.#i.nodes.get(cn.metadata?.name ?? '') ? undefined : 'its Node is gone',
        );
      case 'identities': {
        const used = () =>
          new Set(
            this.#i.endpoints
              .list()
              .flatMap((e) => (e.status?.identity?.id !== undefined ? [String(e.status.identity.id)] : [])),
          );
        const inUse = used();
        return this.#collect(
          resources.identities,
          this.#i.identities.list(),
          this.#o.identityGraceMs,
          (id) => (inUse.has(id.metadata?.name ?? '') ? undefined : 'no CiliumEndpoint uses it'),
          (id) => !used().has(id.metadata?.name ?? ''),
        );
      }
    }
  }

  async #collect(
    r: ResourceRef,
    objects: readonly KubernetesObject[],
    graceMs: number,
    orphaned: (o: KubernetesObject) => string | undefined,
    stillOrphaned: (o: KubernetesObject) => boolean = () => true,
  ): Promise<void> {
    const now = Date.now();
    const seen = new Set<string>();
    const failures: string[] = [];
    for (const obj of objects) {
      const ns = obj.metadata?.namespace;
      const name = obj.metadata?.name ?? '';
      const key = `${r.plural}/${ns ?? ''}/${name}`;
      const uid = obj.metadata?.uid ?? '';
      const why = orphaned(obj);
      if (!why) continue;
      seen.add(key);
      const first = this.#orphans.get(key);
      if (!first || first.uid !== uid) {
        this.#orphans.set(key, { since: now, uid });
        if (graceMs > 0) continue;
      } else if (now - first.since < graceMs) {
        continue;
      }
      if (!stillOrphaned(obj)) continue;
      try {
        await this.#delete(r, name, ns, uid, why);
        this.#orphans.delete(key);
      } catch (err) {
        failures.push(`${key}: ${errorText(err)}`);
      }
    }
    for (const key of [...this.#orphans.keys()])
      if (key.startsWith(`${r.plural}/`) && !seen.has(key)) this.#orphans.delete(key);
    if (failures.length)
      throw new Error(
        `garbage collection of ${failures.length} ${r.plural} failed: ${failures.slice(0, 3).join('; ')}`,
      );
  }

  async #delete(r: ResourceRef, name: string, namespace: string | undefined, uid: string, why: string): Promise<void> {
    this.ctx.assertLeader(`delete ${r.kind} ${namespace ? `${namespace}/` : ''}${name}`);
    const body = { preconditions: { uid } };
    try {
      if (namespace)
        await this.ctx.custom.deleteNamespacedCustomObject({
          group: r.group,
          version: r.version,
          plural: r.plural,
          namespace,
          name,
          body,
        });
      else
        await this.ctx.custom.deleteClusterCustomObject({
          group: r.group,
          version: r.version,
          plural: r.plural,
          name,
          body,
        });
    } catch (err) {
      // Gone already, or replaced by a new object of that name (UID precondition): nothing to collect.
      const code = statusOf(err);
      if (code === 404 || code === 409) return;
      throw err;
    }
    this.ctx.metrics.gcDeleted.inc({ kind: r.kind });
    this.ctx.log.info('garbage collected', { kind: r.kind, namespace, name, why });
  }
}
