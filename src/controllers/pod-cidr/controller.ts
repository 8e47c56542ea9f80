// The pod-CIDR shell (IPAM mode cluster-pool): any CiliumNode change queues one "allocate" key;
// its handler feeds every CiliumNode to the pure allocator and writes the differences —
// spec.ipam.podCIDRs by server-side apply under our field manager, and
// status.ipam.operator-status.error (exhaustion, bad configuration) through the status helper.
// Allocation and writes run under one key, so passes never race; a deleted CiliumNode's CIDRs are
// free for the next pass because the allocator rebuilds from the nodes that exist.
import { PatchStrategy, setHeaderOptions, type KubernetesObject } from '@kubernetes/client-node';
import { allocatePodCIDRs, type PodCIDRConfig } from './allocator.ts';
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

export const FIELD_MANAGER = 'cilium-operator-pod-cidr';

export interface PodCIDRControllerOptions extends PodCIDRConfig {
  debounceMs?: number;
  writeConcurrency?: number;
}

interface CiliumNodeObject extends KubernetesObject {
  spec?: { ipam?: { podCIDRs?: string[] } };
  status?: { ipam?: { 'operator-status'?: { error?: string } } };
}

interface Known {
  resourceVersion: string;
  podCIDRs?: string[];
  error?: string;
}

const ALLOCATE = 'allocate';

export class PodCIDRController extends QueueController {
  readonly name = 'pod-cidr';
  readonly uses = ['ciliumNodes'] as const;
  readonly #opts: PodCIDRControllerOptions;
  readonly #nodes: ResilientInformer<CiliumNodeObject>;
  readonly #written = new WrittenOverlay<Known>();
  readonly #backoff = new KeyBackoff();
  #reportedConfigErrors = '';

  constructor(ctx: ControllerContext, opts: PodCIDRControllerOptions) {
    super(ctx, { concurrency: 1 });
    this.#opts = opts;
    this.#nodes = ctx.informer<CiliumNodeObject>('ciliumNodes');
    this.#nodes.on((type, n) => {
      if (type === 'delete') this.#written.delete(n.metadata?.name ?? '');
      this.enqueue(ALLOCATE, opts.debounceMs ?? 50);
    });
  }

  protected override reset(): void {
    this.#written.clear();
    this.#backoff.clear();
  }

  protected fullPass(): string[] {
    return [ALLOCATE];
  }

  protected reconcile(): Promise<void> {
    return this.#allocate();
  }

  #known(n: CiliumNodeObject): Known {
    const name = n.metadata?.name ?? '';
    const cached: Known = {
      resourceVersion: n.metadata?.resourceVersion ?? '',
      podCIDRs: n.spec?.ipam?.podCIDRs,
      error: n.status?.ipam?.['operator-status']?.error,
    };
    const w = this.#written.get(name, cached.resourceVersion);
    return w ? { ...cached, ...w } : cached;
  }

  async #allocate(): Promise<void> {
    const log = this.ctx.log;
    const nodes = this.#nodes.list();
    const known = new Map(nodes.map((n) => [n.metadata?.name ?? '', this.#known(n)]));
    const result = allocatePodCIDRs(
      this.#opts,
      [...known].map(([name, k]) => ({ name, podCIDRs: k.podCIDRs ?? [] })),
    );
    const cfgErrors = result.configErrors.join('; ');
    if (cfgErrors !== this.#reportedConfigErrors) {
      this.#reportedConfigErrors = cfgErrors;
      if (cfgErrors)
        log.error('pod-CIDR configuration problems; those cluster CIDRs are skipped', { errors: result.configErrors });
    }
    for (const u of result.usage) {
      this.ctx.metrics.podCIDRsUsed.set({ family: `ipv${u.family}` }, Number(u.used));
      this.ctx.metrics.podCIDRsTotal.set({ family: `ipv${u.family}` }, Number(u.total));
    }

    const writes: PassWrite[] = [];
    for (const r of result.nodes) {
      const k = known.get(r.name)!;
      for (const d of r.dropped)
        log.warn('pod CIDR dropped', { kind: 'CiliumNode', name: r.name, cidr: d.cidr, reason: d.reason });
      const specChanged = r.changed;
      const errorChanged = (k.error ?? '') !== r.error;
      if (!specChanged && !errorChanged) continue;
      // One node's writes in order: the status write carries the resourceVersion the spec write returned.
      writes.push({
        what: `CiliumNode ${r.name}`,
        run: async () => {
          if (specChanged) await this.#applySpec(r.name, r.podCIDRs);
          if (errorChanged) await this.#writeError(r.name, r.error);
        },
      });
    }
    await runPassWrites(writes, this.#backoff, {
      concurrency: this.#opts.writeConcurrency ?? 16,
      log,
      schedule: (ms) => this.enqueue(ALLOCATE, ms),
    });
  }

  async #applySpec(name: string, podCIDRs: string[]): Promise<void> {
    this.ctx.assertLeader(`write spec.ipam.podCIDRs of CiliumNode ${name}`);
    const r = resources.ciliumNodes;
    const res = (await this.ctx.custom.patchClusterCustomObject(
      {
        group: r.group,
        version: r.version,
        plural: r.plural,
        name,
        body: { apiVersion: `${r.group}/${r.version}`, kind: r.kind, metadata: { name }, spec: { ipam: { podCIDRs } } },
        fieldManager: FIELD_MANAGER,
        force: true,
      },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as CiliumNodeObject;
    this.ctx.metrics.writes.inc({ controller: this.name, kind: r.kind });
    this.#remember(name, res);
    this.ctx.log.info('pod CIDRs allocated', { kind: r.kind, name, podCIDRs });
  }

  async #writeError(name: string, error: string): Promise<void> {
    this.ctx.assertLeader(`write the status of CiliumNode ${name}`);
    const r = resources.ciliumNodes;
    const node = this.#nodes.get(name);
    if (!node) return;
    const k = this.#known(node);
    const rv = await this.ctx.patchStatus(
      { group: r.group, version: r.version, plural: r.plural, kind: r.kind, name, resourceVersion: k.resourceVersion },
      { ipam: { 'operator-status': { error } } },
    );
    this.ctx.metrics.writes.inc({ controller: this.name, kind: r.kind });
    this.#written.set(name, rv, { ...k, resourceVersion: rv, error });
    if (error) this.ctx.log.warn('pod-CIDR allocation failed', { kind: r.kind, name, error });
  }

  #remember(name: string, obj: CiliumNodeObject): void {
    const rv = obj.metadata?.resourceVersion ?? '';
    this.#written.set(name, rv, {
      resourceVersion: rv,
      podCIDRs: obj.spec?.ipam?.podCIDRs,
      error: obj.status?.ipam?.['operator-status']?.error,
    });
  }
}
