// The thin adapter around @dot-i/k8s-operator (which pins @kubernetes/client-node 0.20), used
// through its public (and subclass) API only.
//
// What we take from the framework: its Operator lifecycle (start() → our init(), stop()) and its
// CRD registration (create-if-absent, for `--register-crds` outside kustomize).
// What we do not take: its watch (one global queue for every event of every kind, a full relist
// replayed as ADDED on reconnect, process.exit on a watch error, no leader election) — the
// reconcilers are fed by src/lib/informer.ts into per-key src/lib/workqueue.ts queues instead —
// and its finalizer helper: our allocators are stateless (every run rebuilds from the objects'
// status), so nothing needs to hold a deletion until the operator has seen it.
// Not its status helper: patchResourceStatus only finds resources that watchResource registered, and we do not watch.
// (Status writes: src/controllers/status.ts, the same resourceVersion-carrying merge patch on client-node 2.x.)
//
// Nothing of client-node 0.20 crosses this file: callers pass and get plain data.
import k8sOperator from '@dot-i/k8s-operator';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../lib/log.ts';

const Operator = k8sOperator.default;

export interface FrameworkOptions {
  /** kubeconfig file; $KUBECONFIG, in-cluster or ~/.kube/config when unset */
  kubeconfigPath?: string;
  log: Logger;
  /** the framework's init hook: start our informers, queues and leader election here */
  init: () => Promise<void>;
}

class FrameworkOperator extends Operator {
  readonly #init: () => Promise<void>;

  constructor(opts: FrameworkOptions) {
    const log = opts.log.child({ component: 'k8s-operator' });
    super({
      debug: (m: string) => log.debug(m),
      info: (m: string) => log.info(m),
      warn: (m: string) => log.warn(m),
      error: (m: string) => log.error(m),
    });
    this.#init = opts.init;
    // The constructor loaded the default kubeconfig; point it at ours (same file as our 2.x client).
    if (opts.kubeconfigPath) this.kubeConfig.loadFromFile(opts.kubeconfigPath);
  }

  protected override async init(): Promise<void> {
    await this.#init();
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
    for (const f of readdirSync(dir)
      .filter((n) => n.endsWith('.yaml') && n !== 'kustomization.yaml')
      .sort()) {
      const r = await this.#op.registerCrd(join(dir, f));
      this.#log.debug('CRD registered', { plural: r.plural, group: r.group });
    }
  }
}
