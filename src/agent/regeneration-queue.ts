// Endpoint regeneration on the shared work queue (src/lib/workqueue.ts). Changes are gathered
// until the next turn of the event loop and handed over as one batch, so a burst of events (a
// policy touching every endpoint, the initial lists) regenerates each endpoint once; an endpoint
// already waiting is not queued twice, and one changed while it regenerates runs again after. A
// failed regeneration is retried with per-endpoint backoff; the others go on.
import { WorkQueue } from '../lib/workqueue.ts';

export interface RegenerationQueueOptions {
  /** Recompute and write one endpoint; throwing schedules a retry. */
  regenerate: (endpointId: number) => Promise<void>;
  /** Once per failure, with the delay before the retry. */
  onFailure?: (endpointId: number, err: unknown, retryInMs: number, attempts: number) => void;
  concurrency?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export class RegenerationQueue {
  readonly #queue: WorkQueue;
  /** ids gathered in this turn of the event loop */
  readonly #gathered = new Set<number>();
  #flushScheduled = false;
  /** ids handed to the work queue and not started yet */
  readonly #queued = new Set<string>();
  #running = 0;
  readonly #waiters: Array<() => void> = [];

  constructor(opts: RegenerationQueueOptions) {
    this.#queue = new WorkQueue(
      async (key) => {
        this.#queued.delete(key);
        this.#running++;
        await opts.regenerate(Number(key));
      },
      {
        concurrency: opts.concurrency ?? 4,
        baseDelayMs: opts.baseDelayMs ?? 200,
        maxDelayMs: opts.maxDelayMs ?? 30_000,
        onError: (key, err, retryInMs, attempts) => opts.onFailure?.(Number(key), err, retryInMs, attempts),
        // Called after the queue has booked the outcome (failure count, retry timer): only then idle.
        onDone: () => {
          this.#running--;
          this.#wake();
        },
      },
    );
  }

  add(endpointIds: Iterable<number>): void {
    if (this.#queue.stopped) return;
    for (const id of endpointIds) this.#gathered.add(id);
    if (this.#gathered.size === 0 || this.#flushScheduled) return;
    this.#flushScheduled = true;
    setImmediate(() => this.#flush());
  }

  /** Consecutive failures of this endpoint's regeneration (0 once one succeeded). */
  failures(endpointId: number): number {
    return this.#queue.failures(String(endpointId));
  }

  /** Resolves when nothing is gathered, queued or running; an endpoint waiting for its retry
   * does not count (a failure that persists would otherwise hold every caller). */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((r) => this.#waiters.push(r));
  }

  /** Stops taking work; resolves when the running regenerations have returned. */
  async stop(): Promise<void> {
    await this.#queue.stop();
    this.#gathered.clear();
    this.#queued.clear();
    this.#flushScheduled = false;
    this.#wake();
  }

  #flush(): void {
    this.#flushScheduled = false;
    const batch = [...this.#gathered];
    this.#gathered.clear();
    for (const id of batch) {
      if (this.#queue.stopped) break;
      const key = String(id);
      this.#queued.add(key);
      this.#queue.add(key);
    }
    this.#wake();
  }

  #isIdle(): boolean {
    return (this.#queue.stopped || (!this.#flushScheduled && this.#queued.size === 0)) && this.#running === 0;
  }

  #wake(): void {
    if (!this.#isIdle()) return;
    for (const w of this.#waiters.splice(0)) w();
  }
}
