// A kernel map seen through a key codec and a value codec.
import type { Addon, BpfError } from './addon.ts';
import type { Codec } from './codecs.ts';

export interface ValueCodec<V> {
  encode(v: V): Buffer;
  decode(b: Buffer): V;
}

/** Batch calls are refused by some map types (LPM trie): remember and fall back. */
function batchUnsupported(e: unknown): boolean {
  const code = (e as BpfError).code;
  return code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || (e as BpfError).errno === 524;
}

export class BpfMap<K, V> {
  readonly addon: Addon;
  readonly fd: number;
  readonly name: string;
  readonly keyCodec: Codec<K>;
  readonly valueCodec: ValueCodec<V>;
  private batchOk = true;

  constructor(addon: Addon, fd: number, name: string, keyCodec: Codec<K>, valueCodec: ValueCodec<V>) {
    this.addon = addon;
    this.fd = fd;
    this.name = name;
    this.keyCodec = keyCodec;
    this.valueCodec = valueCodec;
  }

  lookup(key: K): V | undefined {
    const raw = this.addon.mapLookup(this.fd, this.keyCodec.encode(key));
    return raw ? this.valueCodec.decode(raw) : undefined;
  }

  update(key: K, value: V, flags = 0): void {
    this.addon.mapUpdate(this.fd, this.keyCodec.encode(key), this.valueCodec.encode(value), flags);
  }

  delete(key: K): boolean {
    return this.addon.mapDelete(this.fd, this.keyCodec.encode(key));
  }

  /** Raw key/value pairs, through batch lookup when the map type supports it. */
  rawEntries(): Array<[Buffer, Buffer]> {
    if (this.batchOk) {
      try {
        return this.rawEntriesBatch();
      } catch (e) {
        if (!batchUnsupported(e)) throw e;
        this.batchOk = false;
      }
    }
    const out: Array<[Buffer, Buffer]> = [];
    let key: Buffer | null = null;
    for (;;) {
      const next: Buffer | null = this.addon.mapGetNextKey(this.fd, key);
      if (!next) break;
      const value = this.addon.mapLookup(this.fd, next);
      if (value) out.push([next, value]); // deleted between the two calls otherwise
      key = next;
    }
    return out;
  }

  private rawEntriesBatch(): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    const info = this.addon.mapInfo(this.fd);
    let token: Buffer | null = null;
    for (;;) {
      const r = this.addon.mapLookupBatch(this.fd, 256, token);
      const ks = info.keySize,
        vs = r.count ? r.values.length / r.count : 0;
      for (let i = 0; i < r.count; i++) {
        out.push([r.keys.subarray(i * ks, (i + 1) * ks), r.values.subarray(i * vs, (i + 1) * vs)]);
      }
      if (!r.nextBatch) return out;
      token = r.nextBatch;
    }
  }

  entries(): Array<[K, V]> {
    return this.rawEntries().map(([k, v]) => [this.keyCodec.decode(k), this.valueCodec.decode(v)]);
  }

  /** Writes many raw pairs: one batch syscall where supported, else one call each. */
  updateRaw(pairs: Array<[Buffer, Buffer]>, flags = 0): void {
    if (pairs.length === 0) return;
    if (this.batchOk && pairs.length > 1) {
      try {
        this.addon.mapUpdateBatch(
          this.fd,
          Buffer.concat(pairs.map((p) => p[0])),
          Buffer.concat(pairs.map((p) => p[1])),
          flags,
        );
        return;
      } catch (e) {
        if (!batchUnsupported(e)) throw e;
        this.batchOk = false;
      }
    }
    for (const [k, v] of pairs) this.addon.mapUpdate(this.fd, k, v, flags);
  }

  deleteRaw(keys: Buffer[]): void {
    if (keys.length === 0) return;
    if (this.batchOk && keys.length > 1) {
      try {
        this.addon.mapDeleteBatch(this.fd, Buffer.concat(keys));
        return;
      } catch (e) {
        // ENOENT: a key vanished meanwhile (LRU eviction); the batch stopped there, so finish
        // one by one, where a missing key is not an error.
        if ((e as BpfError).code !== 'ENOENT') {
          if (!batchUnsupported(e)) throw e;
          this.batchOk = false;
        }
      }
    }
    for (const k of keys) this.addon.mapDelete(this.fd, k);
  }
}
