// A resilient list+watch cache over @kubernetes/client-node 2.x informers. The library's informer
// relists on 410 Gone and resumes from the last resourceVersion after a timeout, but on any other
// error (apiserver restart, network cut, CRD not installed yet) it stops for good. We restart it
// with capped exponential backoff, resuming from its resourceVersion, and report synced/healthy
// for /readyz and /healthz.
import {
  makeInformer,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from './log.ts';
import { errorText } from './kube.ts';

export type EventType = 'add' | 'update' | 'delete';

export interface ResilientInformerOptions<T extends KubernetesObject> {
  kc: KubeConfig;
  /** watch path, e.g. /api/v1/services or /apis/cilium.io/v2/ciliumnodes */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  log: Logger;
  /** first restart delay after an error; doubles up to maxBackoffMs. Default 500 ms. */
  baseBackoffMs?: number;
  maxBackoffMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  readonly path: string;
  readonly #informer: Informer<T> & ObjectCache<T>;
  readonly #o: ResilientInformerOptions<T>;
  readonly #handlers: ((type: EventType, obj: T) => void)[] = [];
  #synced = false;
  #stopped = true;
  #failures = 0;
  #lastError: string | undefined;
  #restartTimer: NodeJS.Timeout | undefined;

  constructor(opts: ResilientInformerOptions<T>) {
    this.#o = opts;
    this.path = opts.path;
    this.#informer = makeInformer(opts.kc, opts.path, opts.list, opts.labelSelector);
    for (const type of ['add', 'update', 'delete'] as const) {
      this.#informer.on(type, (obj: T) => {
        this.#failures = 0;
        for (const h of this.#handlers) h(type, obj);
      });
    }
    this.#informer.on('connect', () => {
      this.#lastError = undefined;
    });
    this.#informer.on('error', (err: unknown) => this.#onError(err));
  }

  /** Called for every add, update and delete, including those of the initial list. */
  on(handler: (type: EventType, obj: T) => void): void {
    this.#handlers.push(handler);
  }

  /** Start; resolves when the first list has been delivered (or the informer is stopped). */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#startOnce();
    while (!this.#synced && !this.#stopped) await new Promise((r) => setTimeout(r, 50));
  }

  async #startOnce(): Promise<void> {
    try {
      await this.#informer.start();
      // start() resolves after the list was delivered and the watch request was sent.
      if (!this.#stopped && this.#lastError === undefined) {
        this.#synced = true;
        this.#failures = 0;
      }
    } catch (err) {
      this.#onError(err);
    }
  }

  #onError(err: unknown): void {
    if (this.#stopped) return;
    this.#failures++;
    this.#lastError = errorText(err);
    const base = this.#o.baseBackoffMs ?? 500;
    const delay = Math.min(base * 2 ** (this.#failures - 1), this.#o.maxBackoffMs ?? 30_000);
    // One failure is routine (apiserver restart, CRD storage still initializing); repeated ones are not.
    this.#o.log.log(this.#failures === 1 ? 'info' : 'warn', 'watch failed, restarting', {
      path: this.path,
      error: this.#lastError,
      retryInMs: delay,
    });
    clearTimeout(this.#restartTimer);
    this.#restartTimer = setTimeout(() => {
      this.#lastError = undefined;
      void this.#startOnce();
    }, delay);
    this.#restartTimer.unref();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#informer.stop();
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** The last watch error while it is not recovered; undefined when healthy. */
  get error(): string | undefined {
    return this.#lastError;
  }

  list(namespace?: string): readonly T[] {
    return this.#informer.list(namespace);
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#informer.get(name, namespace);
  }
}
