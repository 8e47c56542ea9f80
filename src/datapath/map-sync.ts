// Converge a kernel map on a desired set of entries, writing only the difference.
import type { BpfMap } from './bpf-map.ts';

export interface SyncResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
}

/**
 * Reads the map once, then writes new and changed entries (batched where the map type
 * allows) and deletes entries that are not desired. Entries are compared by their encoded
 * bytes, so a value that decodes the same but differs in padding is rewritten.
 */
export function syncMap<K, V>(map: BpfMap<K, V>, desired: Iterable<readonly [K, V]>): SyncResult {
  // latin1 strings are the cheapest lossless Map keys for raw bytes.
  const want = new Map<string, [Buffer, Buffer]>();
  for (const [k, v] of desired) {
    const kb = map.keyCodec.encode(k);
    want.set(kb.toString('latin1'), [kb, map.valueCodec.encode(v)]);
  }
  const have = new Map<string, [Buffer, Buffer]>();
  for (const [k, v] of map.rawEntries()) have.set(k.toString('latin1'), [k, v]);

  const writes: Array<[Buffer, Buffer]> = [];
  const deletes: Buffer[] = [];
  let added = 0,
    changed = 0,
    unchanged = 0;
  for (const [id, pair] of want) {
    const cur = have.get(id);
    if (!cur) {
      added++;
      writes.push(pair);
    } else if (!cur[1].equals(pair[1])) {
      changed++;
      writes.push(pair);
    } else unchanged++;
  }
  for (const [id, [kb]] of have) if (!want.has(id)) deletes.push(kb);
  // Writes before deletes: a key being replaced by a narrower one never leaves a gap.
  map.updateRaw(writes);
  map.deleteRaw(deletes);
  return { added, changed, removed: deletes.length, unchanged };
}
