// The services part's memory between syncs, so a change costs what it changes: the incremental
// service table, the numbered LbService of every frontend, and the id pools. Pure (no I/O).
// Ids follow allocateIds' rules step by step: a kept key keeps its id, keys gone free theirs at once,
// new keys (sorted) take the lowest free ids — so a sequence of updates numbers the same way as
// planLbServices would on each step's full table.
import type { LbService } from '../datapath/lb.ts';
import {
  BACKEND_ID_RANGE,
  backendKey,
  frontendKey,
  SERVICE_ID_RANGE,
  type IdRange,
  type ServiceEntry,
} from '../services/index.ts';
import type { TableChanges } from '../services/incremental.ts';
import { lbServiceOf, type LbIds } from './lb-services.ts';

/** Free ids of a range, lowest first: a min-heap of freed ids under a high-water mark. */
export class IdPool {
  readonly #range: IdRange;
  readonly #used = new Set<number>();
  readonly #heap: number[] = [];
  #next: number;

  constructor(range: IdRange, used: Iterable<number>) {
    this.#range = range;
    for (const id of used) this.#used.add(id);
    this.#next = range.min;
    let max = range.min - 1;
    for (const id of this.#used) if (id > max) max = id;
    for (let id = range.min; id <= max; id++) if (!this.#used.has(id)) this.#push(id);
    this.#next = max + 1;
  }

  /** The lowest free id, or undefined when the range is full. */
  take(): number | undefined {
    let id: number | undefined;
    while (this.#heap.length) {
      const top = this.#pop();
      if (!this.#used.has(top)) {
        id = top;
        break;
      }
    }
    if (id === undefined) {
      if (this.#next > this.#range.max) return undefined;
      id = this.#next++;
    }
    this.#used.add(id);
    return id;
  }

  free(id: number): void {
    if (this.#used.delete(id)) this.#push(id);
  }

  #push(v: number): void {
    const h = this.#heap;
    h.push(v);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (h[p]! <= v) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = v;
  }

  #pop(): number {
    const h = this.#heap;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= h.length) break;
        const r = l + 1;
        const c = r < h.length && h[r]! < h[l]! ? r : l;
        if (h[c]! >= last) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}

export interface LbChanges {
  upsert: LbService[];
  /** frontends no longer written (the services they were) */
  remove: LbService[];
  /** frontend or backend keys left without an id (a range is full) */
  exhausted: string[];
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class LbServiceCache {
  readonly #services = new Map<string, LbService>();
  readonly #entries = new Map<string, ServiceEntry>();
  readonly #svcIds: Map<string, number>;
  readonly #beIds: Map<string, number>;
  readonly #beRefs = new Map<string, number>();
  readonly #svcPool: IdPool;
  readonly #bePool: IdPool;
  /** backends whose last lister went in this update */
  readonly #unlisted = new Set<string>();
  /** frontends in the table still waiting for an id */
  readonly #waiting = new Set<string>();

  /** Starts from a full table numbered by planLbServices (ids: what it returned). */
  constructor(entries: readonly ServiceEntry[], services: readonly LbService[], ids: LbIds) {
    this.#svcIds = new Map(ids.services);
    this.#beIds = new Map(ids.backends);
    this.#svcPool = new IdPool(SERVICE_ID_RANGE, this.#svcIds.values());
    this.#bePool = new IdPool(BACKEND_ID_RANGE, this.#beIds.values());
    for (const e of entries) {
      const fk = frontendKey(e.frontend);
      this.#entries.set(fk, e);
      for (const b of e.backends) this.#ref(backendKey(b), 1);
      if (!this.#svcIds.has(fk)) this.#waiting.add(fk);
    }
    for (const s of services) this.#services.set(frontendKey(s.frontend), s);
  }

  /** Every numbered frontend. */
  services(): LbService[] {
    return [...this.#services.values()];
  }

  get size(): number {
    return this.#services.size;
  }

  entry(fk: string): ServiceEntry | undefined {
    return this.#entries.get(fk);
  }

  ids(): LbIds {
    return { services: new Map(this.#svcIds), backends: new Map(this.#beIds) };
  }

  /** Applies the table's changes: frees, then numbers, then lists what to write and what to remove. */
  update(changes: TableChanges): LbChanges {
    const remove: LbService[] = [];
    const dirty = new Set<string>(this.#waiting);
    for (const [fk, entry] of changes) {
      const old = this.#entries.get(fk);
      for (const b of old?.backends ?? []) this.#ref(backendKey(b), -1);
      for (const b of entry?.backends ?? []) this.#ref(backendKey(b), 1);
      if (entry) {
        this.#entries.set(fk, entry);
        dirty.add(fk);
      } else {
        this.#entries.delete(fk);
        this.#waiting.delete(fk);
        dirty.delete(fk);
        const id = this.#svcIds.get(fk);
        if (id !== undefined) {
          this.#svcIds.delete(fk);
          this.#svcPool.free(id);
        }
        const s = this.#services.get(fk);
        if (s) {
          this.#services.delete(fk);
          remove.push(s);
        }
      }
    }
    // Backends nobody lists any more free their ids before new ones are numbered (allocateIds' rule).
    const newBackends: string[] = [];
    for (const fk of dirty) {
      for (const b of this.#entries.get(fk)?.backends ?? []) {
        const bk = backendKey(b);
        if (!this.#beIds.has(bk)) newBackends.push(bk);
      }
    }
    for (const bk of this.#unlisted) {
      const id = this.#beIds.get(bk);
      if (id === undefined || this.#beRefs.has(bk)) continue;
      this.#beIds.delete(bk);
      this.#bePool.free(id);
    }
    this.#unlisted.clear();
    const exhausted: string[] = [];
    for (const bk of [...new Set(newBackends)].sort(byCodeUnit)) {
      const id = this.#bePool.take();
      if (id === undefined) exhausted.push(bk);
      else this.#beIds.set(bk, id);
    }
    for (const fk of [...dirty].filter((k) => !this.#svcIds.has(k)).sort(byCodeUnit)) {
      const id = this.#svcPool.take();
      if (id === undefined) {
        exhausted.push(fk);
        this.#waiting.add(fk);
      } else {
        this.#svcIds.set(fk, id);
        this.#waiting.delete(fk);
      }
    }
    const upsert: LbService[] = [];
    for (const fk of dirty) {
      const e = this.#entries.get(fk);
      const id = this.#svcIds.get(fk);
      if (!e || id === undefined) continue;
      const s = lbServiceOf(e, id, this.#beIds);
      this.#services.set(fk, s);
      upsert.push(s);
    }
    return { upsert, remove, exhausted };
  }

  #ref(bk: string, d: number): void {
    const n = (this.#beRefs.get(bk) ?? 0) + d;
    if (n > 0) this.#beRefs.set(bk, n);
    else {
      this.#beRefs.delete(bk);
      this.#unlisted.add(bk);
    }
  }
}
