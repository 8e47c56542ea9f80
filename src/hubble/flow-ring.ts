// The node's flow ring: the last `capacity` flows, a count of every flow ever seen, and followers
// that read behind the writer without ever slowing it. A follower that falls more than `capacity`
// flows behind is told how many it lost (HUBBLE_RING_BUFFER), as Hubble's ring readers are; events
// the kernel's ring dropped before they reached us are reported with recordLost (PERF_EVENT_RING_BUFFER).
import type { Flow, LostEvent, LostEventSourceName } from './flow.ts';
import { timestampFromMs } from './flow.ts';

export type FollowEvent = { seq: number; flow: Flow } | { lost: LostEvent };

export interface RingStats {
  capacity: number;
  /** flows held now */
  size: number;
  /** flows pushed since start */
  seen: number;
  /** flows pushed out of the ring by newer ones */
  overwritten: number;
  /** events the producer reported lost before they reached the ring (kernel ring overflow) */
  lostKernel: number;
  /** flows followers missed because they fell behind by more than the capacity */
  lostFollowers: number;
  /** followers reading now */
  followers: number;
}

interface Follower {
  pendingKernelLost: number;
  pendingCpu: number | undefined;
  wake: (() => void) | undefined;
}

export class FlowRing {
  readonly capacity: number;
  readonly #slots: (Flow | undefined)[];
  #seen = 0;
  #lostKernel = 0;
  #lostFollowers = 0;
  readonly #followers = new Set<Follower>();

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new Error(`flow ring: capacity must be a positive integer, not ${capacity}`);
    }
    this.capacity = capacity;
    this.#slots = new Array<Flow | undefined>(capacity);
  }

  /** Add a flow; O(1), never waits for readers. */
  push(flow: Flow): void {
    this.#slots[this.#seen % this.capacity] = flow;
    this.#seen++;
    if (this.#followers.size) this.#wakeAll();
  }

  /** The producer lost `n` events before they became flows (e.g. the kernel ring buffer overflowed). */
  recordLost(n: number, cpu?: number): void {
    if (!(n > 0)) return;
    this.#lostKernel += n;
    for (const f of this.#followers) {
      f.pendingKernelLost += n;
      f.pendingCpu = cpu;
    }
    this.#wakeAll();
  }

  get seen(): number {
    return this.#seen;
  }
  get size(): number {
    return Math.min(this.#seen, this.capacity);
  }
  /** Sequence number of the oldest flow still held (flows are numbered 0, 1, … as pushed). */
  get oldestSeq(): number {
    return this.#seen - this.size;
  }

  at(seq: number): Flow | undefined {
    if (seq < this.oldestSeq || seq >= this.#seen) return undefined;
    return this.#slots[seq % this.capacity];
  }

  /** Flows held now, oldest first (a snapshot of positions: safe while pushing continues). */
  *oldestFirst(): Generator<{ seq: number; flow: Flow }> {
    const end = this.#seen;
    for (let seq = this.oldestSeq; seq < end; seq++) {
      const flow = this.at(seq);
      if (flow) yield { seq, flow };
    }
  }

  /** Flows held now, newest first. */
  *newestFirst(): Generator<{ seq: number; flow: Flow }> {
    for (let seq = this.#seen - 1; seq >= this.oldestSeq; seq--) {
      const flow = this.at(seq);
      if (flow) yield { seq, flow };
    }
  }

  stats(): RingStats {
    return {
      capacity: this.capacity,
      size: this.size,
      seen: this.#seen,
      overwritten: this.oldestSeq,
      lostKernel: this.#lostKernel,
      lostFollowers: this.#lostFollowers,
      followers: this.#followers.size,
    };
  }

  /**
   * Read flows from `fromSeq` (default: the next one pushed) on, waiting for new ones, until
   * `signal` aborts or the consumer stops iterating. The consumer sets the pace; if it lags more
   * than the capacity it gets a lost event and continues at the oldest flow still held.
   */
  async *follow(opts: { fromSeq?: number; signal?: AbortSignal } = {}): AsyncGenerator<FollowEvent, void, undefined> {
    const follower: Follower = { pendingKernelLost: 0, pendingCpu: undefined, wake: undefined };
    const { signal } = opts;
    const onAbort = () => follower.wake?.();
    signal?.addEventListener('abort', onAbort);
    this.#followers.add(follower);
    let cursor = Math.max(opts.fromSeq ?? this.#seen, this.oldestSeq);
    try {
      while (!signal?.aborted) {
        if (follower.pendingKernelLost) {
          const n = follower.pendingKernelLost;
          follower.pendingKernelLost = 0;
          yield { lost: lostEvent('PERF_EVENT_RING_BUFFER', n, follower.pendingCpu) };
          continue;
        }
        if (cursor < this.oldestSeq) {
          const n = this.oldestSeq - cursor;
          this.#lostFollowers += n;
          cursor = this.oldestSeq;
          yield { lost: lostEvent('HUBBLE_RING_BUFFER', n) };
          continue;
        }
        if (cursor < this.#seen) {
          const seq = cursor++;
          yield { seq, flow: this.at(seq)! };
          continue;
        }
        await new Promise<void>((resolve) => {
          follower.wake = resolve;
        });
        follower.wake = undefined;
      }
    } finally {
      this.#followers.delete(follower);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  #wakeAll(): void {
    for (const f of this.#followers) {
      const wake = f.wake;
      if (wake) {
        f.wake = undefined;
        wake();
      }
    }
  }
}

function lostEvent(source: LostEventSourceName, n: number, cpu?: number): LostEvent {
  const now = timestampFromMs(Date.now());
  return { source, num_events_lost: n, ...(cpu !== undefined ? { cpu: { value: cpu } } : {}), first: now, last: now };
}
