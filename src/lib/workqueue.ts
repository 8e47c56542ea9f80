// A per-key work queue in the manner of client-go's workqueue: a key waits in the queue at most
// once however often it is added; one key is never processed by two workers at once (an add
// during processing marks it dirty and it runs again afterwards); a failing key is retried with
// exponential backoff per key, so one bad object delays only itself.

export interface WorkQueueOptions {
  /** parallel workers; default 4 */
  concurrency?: number;
  /** first retry delay; doubles per consecutive failure of the same key. Default 100 ms. */
  baseDelayMs?: number;
  /** cap of the retry delay; default 30 s */
  maxDelayMs?: number;
  /** called once per failure, with the delay before the retry */
  onError?: (key: string, err: unknown, retryInMs: number, attempts: number) => void;
  /** called after each processing, for metrics */
  onDone?: (key: string, ok: boolean, ms: number) => void;
}

export type Handler = (key: string) => Promise<void>;

export class WorkQueue {
  readonly #handler: Handler;
  readonly #concurrency: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #onError: WorkQueueOptions['onError'];
  readonly #onDone: WorkQueueOptions['onDone'];
  /** keys ready to run, in order */
  readonly #queue: string[] = [];
  /** keys in #queue, or added while processing (run again when done) */
  readonly #dirty = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  readonly #idleWaiters: (() => void)[] = [];
  #running = 0;
  #stopped = false;

  constructor(handler: Handler, opts: WorkQueueOptions = {}) {
    this.#handler = handler;
    this.#concurrency = opts.concurrency ?? 4;
    this.#baseDelayMs = opts.baseDelayMs ?? 100;
    this.#maxDelayMs = opts.maxDelayMs ?? 30_000;
    this.#onError = opts.onError;
    this.#onDone = opts.onDone;
  }

  /** Queue key now (a pending delayed add of the same key is superseded). */
  add(key: string): void {
    if (this.#stopped) return;
    this.#clearTimer(key);
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (!this.#processing.has(key)) {
      this.#queue.push(key);
      this.#pump();
    }
  }

  /** Queue key after delayMs, unless it is added sooner; repeated calls keep the earliest. */
  addAfter(key: string, delayMs: number): void {
    if (this.#stopped) return;
    if (delayMs <= 0) return this.add(key);
    if (this.#dirty.has(key)) return;
    const due = Date.now() + delayMs;
    const pending = this.#timers.get(key);
    if (pending && pending.due <= due) return;
    this.#clearTimer(key);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { timer, due });
  }

  /** Keys queued or waiting for a retry. */
  get depth(): number {
    return this.#queue.length + this.#timers.size;
  }

  /** Consecutive failures of key so far. */
  failures(key: string): number {
    return this.#failures.get(key) ?? 0;
  }

  /** Resolves when nothing is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    if (this.#isIdle()) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  /** Stop taking work at once; resolves when the running handlers have returned. */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t.timer);
    this.#timers.clear();
    this.#queue.length = 0;
    this.#dirty.clear();
    while (this.#running > 0) await new Promise((r) => setTimeout(r, 10));
    this.#notifyIdle();
  }

  get stopped(): boolean {
    return this.#stopped;
  }

  #clearTimer(key: string): void {
    const t = this.#timers.get(key);
    if (t) {
      clearTimeout(t.timer);
      this.#timers.delete(key);
    }
  }

  #isIdle(): boolean {
    return this.#running === 0 && this.#queue.length === 0 && this.#timers.size === 0;
  }

  #notifyIdle(): void {
    if (!this.#isIdle() && !this.#stopped) return;
    for (const w of this.#idleWaiters.splice(0)) w();
  }

  #pump(): void {
    while (!this.#stopped && this.#running < this.#concurrency && this.#queue.length > 0) {
      const key = this.#queue.shift()!;
      this.#dirty.delete(key);
      this.#processing.add(key);
      this.#running++;
      void this.#process(key);
    }
  }

  async #process(key: string): Promise<void> {
    const started = performance.now();
    let ok = true;
    try {
      await this.#handler(key);
      this.#failures.delete(key);
    } catch (err) {
      ok = false;
      const n = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, n);
      const delay = Math.min(this.#baseDelayMs * 2 ** (n - 1), this.#maxDelayMs);
      this.#onError?.(key, err, delay, n);
      // A fresh add while we ran (dirty) means new information: retry at once, not after backoff.
      if (!this.#dirty.has(key)) this.addAfter(key, delay);
    } finally {
      this.#onDone?.(key, ok, performance.now() - started);
      this.#processing.delete(key);
      this.#running--;
      if (this.#dirty.has(key) && !this.#stopped) this.#queue.push(key);
      this.#pump();
      this.#notifyIdle();
    }
  }
}
