// Flows from several agents, followed live, leave the relay in time order: each waits in a short
// buffer sorted by time until it has been held `drainMs` (Hubble Relay's sort-buffer-drain-timeout,
// 1 s) or the buffer holds more than `maxLen` (its sort-buffer-len-max, 100). A flow that arrives
// later than that behind an older one is sent when it arrives: order is best effort, as in Hubble.
export interface SortBufferOptions<T> {
  timeOf: (item: T) => number;
  emit: (item: T) => void;
  drainMs?: number;
  maxLen?: number;
  now?: () => number;
}

interface Held<T> {
  item: T;
  time: number;
  arrived: number;
}

export class SortBuffer<T> {
  readonly #o: Required<SortBufferOptions<T>>;
  readonly #held: Held<T>[] = [];
  #timer: NodeJS.Timeout | undefined;

  constructor(opts: SortBufferOptions<T>) {
    this.#o = { drainMs: 1000, maxLen: 100, now: Date.now, ...opts };
  }

  get size(): number {
    return this.#held.length;
  }

  push(item: T): void {
    const time = this.#o.timeOf(item);
    // after the last one not newer: equal times keep their arrival order
    let lo = 0;
    let hi = this.#held.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.#held[mid]!.time <= time) lo = mid + 1;
      else hi = mid;
    }
    this.#held.splice(lo, 0, { item, time, arrived: this.#o.now() });
    this.#drain();
  }

  /** Send everything held, in order. */
  flush(): void {
    while (this.#held.length) this.#o.emit(this.#held.shift()!.item);
    this.#schedule();
  }

  /** Drop what is held and stop the timer. */
  close(): void {
    this.#held.length = 0;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #drain(): void {
    const now = this.#o.now();
    while (this.#held.length > this.#o.maxLen) this.#o.emit(this.#held.shift()!.item);
    while (this.#held.length && this.#held[0]!.arrived + this.#o.drainMs <= now) this.#o.emit(this.#held.shift()!.item);
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const first = this.#held[0];
    if (!first) return;
    this.#timer = setTimeout(() => this.#drain(), Math.max(0, first.arrived + this.#o.drainMs - this.#o.now()));
  }
}
