// Stable numeric ids for the kernel maps: a service (= rev-NAT) id per frontend and a backend id per
// backend address/port/protocol (global, shared by every frontend that lists the backend, as in
// Cilium's lb4_backends map). Pure: given the previous assignment (the agent's memory, or what it
// read back from the pinned maps after a restart) and the keys wanted now, it returns the new one:
// - a key kept from before keeps its id (so conntrack, affinity and Maglev state stay valid);
// - a previous id out of range, or claimed by two keys (a damaged restore), is kept by the key that
//   sorts first; the other key is treated as new;
// - new keys, in sorted order, get the lowest ids not held by a kept key;
// - keys no longer wanted are freed at once and may be handed out in the same call. (Holding a freed
//   id back until conntrack forgets it is not done here.)
// - keys beyond the range's capacity get no id and are listed in `exhausted`.
import type { Backend, Frontend, L4Proto, ServiceEntry } from './types.ts';

export interface IdRange {
  min: number;
  max: number;
}

/** Cilium's rev-NAT / service ids are u16 (lb4_reverse_nat key, services value); 0 means none. */
export const SERVICE_ID_RANGE: IdRange = { min: 1, max: 0xffff };
/** Backend ids are u32 in lb4_backends_v3's key; 0 means none. */
export const BACKEND_ID_RANGE: IdRange = { min: 1, max: 0xffffffff };

export interface IdAllocation {
  /** Every wanted key that got an id. */
  ids: Map<string, number>;
  /** Wanted keys that got a fresh id (not kept from `previous`), sorted. */
  added: string[];
  /** Keys of `previous` no longer wanted, sorted. Their ids are free. */
  removed: string[];
  /** Wanted keys left without an id because the range is full, sorted. */
  exhausted: string[];
}

export function frontendKey(fe: Pick<Frontend, 'address' | 'port' | 'protocol' | 'scope'>): string {
  return `${fe.address}|${fe.port}|${fe.protocol}|${fe.scope}`;
}

export function backendKey(be: { address: string; port: number; protocol: L4Proto }): string {
  return `${be.address}|${be.port}|${be.protocol}`;
}

function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function allocateIds(
  previous: ReadonlyMap<string, number>,
  desired: Iterable<string>,
  range: IdRange,
): IdAllocation {
  const wanted = [...new Set(desired)].sort(byCodeUnit);
  const wantedSet = new Set(wanted);
  const ids = new Map<string, number>();
  const used = new Set<number>();
  const fresh: string[] = [];
  for (const key of wanted) {
    const id = previous.get(key);
    if (id !== undefined && Number.isInteger(id) && id >= range.min && id <= range.max && !used.has(id)) {
      ids.set(key, id);
      used.add(id);
    } else fresh.push(key);
  }
  const added: string[] = [];
  const exhausted: string[] = [];
  let next = range.min;
  for (const key of fresh) {
    while (next <= range.max && used.has(next)) next++;
    if (next > range.max) {
      exhausted.push(key);
      continue;
    }
    ids.set(key, next);
    used.add(next);
    added.push(key);
  }
  const removed = [...previous.keys()].filter((k) => !wantedSet.has(k)).sort(byCodeUnit);
  return { ids, added, removed, exhausted };
}

/** Service (rev-NAT) ids for a table: one per entry's frontend. */
export function allocateServiceIds(
  entries: readonly ServiceEntry[],
  previous: ReadonlyMap<string, number>,
  range: IdRange = SERVICE_ID_RANGE,
): IdAllocation {
  return allocateIds(
    previous,
    entries.map((e) => frontendKey(e.frontend)),
    range,
  );
}

/** Backend ids for a table: one per distinct backend address/port/protocol across all entries. */
export function allocateBackendIds(
  entries: readonly ServiceEntry[],
  previous: ReadonlyMap<string, number>,
  range: IdRange = BACKEND_ID_RANGE,
): IdAllocation {
  const keys = entries.flatMap((e) => e.backends.map((b: Backend) => backendKey(b)));
  return allocateIds(previous, keys, range);
}
