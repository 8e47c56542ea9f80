// The one lifecycle every operator controller shares: its work queue exists only while this
// replica leads. start() (on becoming leader) forgets the last term and queues a full pass over
// the warm caches; events queue keys only while a queue exists, so a standby does nothing;
// stop() (on losing the lease or shutdown) drops the queue, letting in-flight handlers finish;
// idle() resolves when the queue has no pending work.
import type { WorkQueue } from '../lib/workqueue.ts';
import type { Controller, ControllerContext, ResourceName } from './context.ts';

export interface LifecycleOptions {
  /** keys reconciled at once; default 1 */
  concurrency?: number;
  /** while leading, queue a full pass this often as well (periodic work such as GC) */
  resyncMs?: number;
}

export abstract class QueueController implements Controller {
  abstract readonly name: string;
  abstract readonly uses: readonly ResourceName[];
  protected readonly ctx: ControllerContext;
  readonly #opts: LifecycleOptions;
  #queue: WorkQueue | undefined;
  #resync: NodeJS.Timeout | undefined;

  constructor(ctx: ControllerContext, opts: LifecycleOptions = {}) {
    this.ctx = ctx;
    this.#opts = opts;
  }

  /** Reconcile one key; a throw is retried with backoff by the queue. */
  protected abstract reconcile(key: string): Promise<void>;

  /** The keys of a full pass over the caches. */
  protected abstract fullPass(): Iterable<string>;

  /** Forget what an earlier leadership term remembered (written overlays, backoffs). */
  protected reset(): void {}

  /** Queue a key, after a delay if given (to fold a burst of events into one pass); a no-op unless leading. */
  protected enqueue(key: string, afterMs = 0): void {
    this.#queue?.addAfter(key, afterMs);
  }

  start(): void {
    if (this.#queue) return;
    this.reset();
    this.#queue = this.ctx.queue(this.name, (key) => this.reconcile(key), this.#opts.concurrency ?? 1);
    this.#queueFullPass();
    if (this.#opts.resyncMs !== undefined) {
      this.#resync = setInterval(() => this.#queueFullPass(), this.#opts.resyncMs);
      this.#resync.unref();
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.#resync);
    this.#resync = undefined;
    const q = this.#queue;
    this.#queue = undefined;
    await q?.stop();
  }

  idle(): Promise<void> {
    return this.#queue?.idle() ?? Promise.resolve();
  }

  #queueFullPass(): void {
    for (const key of this.fullPass()) this.enqueue(key);
  }
}
