// The thin adapter around @dot-i/k8s-operator (which pins @kubernetes/client-node 0.20).
//
// What we take from the framework: its Operator lifecycle (start() → our init(), stop()), its CRD
// registration (create-if-absent, for `--register-crds` outside kustomize) and its status
// subresource helper (a JSON merge patch of /status that carries the resourceVersion we read, so a
// stale write is refused instead of overwriting a newer status).
// What we do not take: its watch (one global queue for every event of every kind, a full relist
// replayed as ADDED on reconnect, process.exit on a watch error, no leader election) — the
// reconcilers are fed by src/lib/informer.ts into per-key src/lib/workqueue.ts queues instead —
// and its finalizer helper: our allocators are stateless (every run rebuilds from the objects'
// status), so nothing needs to hold a deletion until the operator has seen it.
//
// Nothing of client-node 0.20 crosses this file: callers pass and get plain data.
import k8sOperator, { type ResourceMeta } from '@dot-i/k8s-operator';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../lib/log.ts';

const Operator = k8sOperator.default;

/** Where a status write goes; plain data, no client objects. */
export interface StatusTarget {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespace?: string;
  name: string;
  /** the version the status was computed from; the write fails (409) if the object moved on */
  resourceVersion: string;
}

export class StatusConflictError extends Error {
  constructor(target: StatusTarget) {
    super(`status write of ${target.kind} ${target.namespace ? `${target.namespace}/` : ''}${target.name} failed (conflict or error, see the k8s-operator log line before this): will retry`);
    this.name = 'StatusConflictError';
  }
}

export interface FrameworkOptions {
  /** kubeconfig file; in-cluster or ~/.kube/config when unset */
  kubeconfigPath?: string;
  log: Logger;
  /** the framework's init hook: start our informers, queues and leader election here */
  init: () => Promise<void>;
}

class FrameworkOperator extends Operator {
  readonly #init: () => Promise<void>;

  constructor(opts: FrameworkOptions) {
    const log = opts.log.child({ component: 'k8s-operator' });
    // The framework logs a failed status write at error level; we retry it, so it is a warning.
    super({
      debug: (m: string) => log.debug(m),
      info: (m: string) => log.info(m),
      warn: (m: string) => log.warn(m),
      error: (m: string) => log.warn(m),
    });
    this.#init = opts.init;
    // The constructor loaded the default kubeconfig; point it at ours (same file as our 2.x client).
    if (opts.kubeconfigPath) {
      this.kubeConfig.loadFromFile(opts.kubeconfigPath);
      this.k8sApi = this.kubeConfig.makeApiClient(this.k8sApi.constructor as never);
    }
  }

  protected override async init(): Promise<void> {
    await this.#init();
  }

  registerPath(id: string, build: (meta: { namespace?: string }) => string): void {
    // resourcePathBuilders is private in the typings and filled only by watchResource, which we do
    // not use; the status helper needs the builder for the resource's id.
    (this as unknown as { resourcePathBuilders: Record<string, (meta: { namespace?: string }) => string> }).resourcePathBuilders[id] = build;
  }

  apiUri(group: string, version: string, plural: string, namespace?: string): string {
    return this.getCustomResourceApiUri(group, version, plural, namespace);
  }

  patchStatus(meta: ResourceMeta, status: unknown) {
    return this.patchResourceStatus(meta, status);
  }

  registerCrd(file: string) {
    return this.registerCustomResourceDefinition(file);
  }
}

export class OperatorFramework {
  readonly #op: FrameworkOperator;
  readonly #log: Logger;

  constructor(opts: FrameworkOptions) {
    this.#op = new FrameworkOperator(opts);
    this.#log = opts.log;
  }

  /** The framework's lifecycle: runs init(). */
  start(): Promise<void> {
    return this.#op.start();
  }

  stop(): void {
    this.#op.stop();
  }

  /** Create every CRD in a folder of *.yaml that is not there yet (existing ones are left alone). */
  async registerCrds(dir: string): Promise<void> {
    if (!existsSync(dir)) throw new Error(`CRD folder ${dir} does not exist`);
    for (const f of readdirSync(dir).filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml').sort()) {
      const r = await this.#op.registerCrd(join(dir, f));
      this.#log.debug('CRD registered', { plural: r.plural, group: r.group });
    }
  }

  /** JSON merge patch of the status subresource; resolves to the new resourceVersion, throws on failure. */
  async patchStatus(target: StatusTarget, status: unknown): Promise<string> {
    const { group, version, plural } = target;
    const apiVersion = group ? `${group}/${version}` : version;
    const id = `${plural}.${apiVersion}`;
    this.#op.registerPath(id, (meta) => this.#op.apiUri(group, version, plural, meta.namespace));
    const meta = {
      id,
      name: target.name,
      ...(target.namespace ? { namespace: target.namespace } : {}),
      resourceVersion: target.resourceVersion,
      apiVersion,
      kind: target.kind,
    };
    const res = await this.#op.patchStatus(meta, status);
    if (!res) throw new StatusConflictError(target);
    return res.resourceVersion;
  }
}
