// Maglev consistent hashing (Eisenbud et al., NSDI 2016), as Cilium's pkg/maglev builds its
// per-service lookup tables: every backend gets a permutation of the M table slots from two
// hashes of its name (offset = h1 mod M, skip = h2 mod (M - 1) + 1), and the backends take turns
// claiming their next free preferred slot until the table is full. Each backend ends up with
// M/N slots (±1), and removing one backend moves few of the other backends' slots.
import { DEFAULT_MAGLEV_TABLE_SIZE, MAGLEV_TABLE_SIZES } from './constants.ts';

const MASK64 = (1n << 64n) - 1n;
const C1 = 0x87c37b91114253d5n;
const C2 = 0x4cf5ad432745937fn;

const rotl64 = (x: bigint, r: bigint): bigint => ((x << r) | (x >> (64n - r))) & MASK64;
const mul64 = (a: bigint, b: bigint): bigint => (a * b) & MASK64;

function fmix64(k: bigint): bigint {
  k ^= k >> 33n;
  k = mul64(k, 0xff51afd7ed558ccdn);
  k ^= k >> 33n;
  k = mul64(k, 0xc4ceb9fe1a85ec53n);
  k ^= k >> 33n;
  return k;
}

/** MurmurHash3 x64 128-bit of data with a 32-bit seed (as Go's murmur3.Sum128WithSeed). */
export function murmur3x64128(data: Uint8Array, seed = 0): [bigint, bigint] {
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const nblocks = Math.floor(buf.length / 16);
  let h1 = BigInt(seed >>> 0);
  let h2 = h1;
  for (let i = 0; i < nblocks; i++) {
    let k1 = buf.readBigUInt64LE(i * 16);
    let k2 = buf.readBigUInt64LE(i * 16 + 8);
    k1 = mul64(rotl64(mul64(k1, C1), 31n), C2);
    h1 ^= k1;
    h1 = (mul64(rotl64(h1, 27n) + h2, 5n) + 0x52dce729n) & MASK64;
    k2 = mul64(rotl64(mul64(k2, C2), 33n), C1);
    h2 ^= k2;
    h2 = (mul64(rotl64(h2, 31n) + h1, 5n) + 0x38495ab5n) & MASK64;
  }
  const tail = buf.subarray(nblocks * 16);
  let k1 = 0n;
  let k2 = 0n;
  for (let i = tail.length - 1; i >= 8; i--) k2 |= BigInt(tail[i]!) << BigInt((i - 8) * 8);
  for (let i = Math.min(tail.length, 8) - 1; i >= 0; i--) k1 |= BigInt(tail[i]!) << BigInt(i * 8);
  if (tail.length > 8) h2 ^= mul64(rotl64(mul64(k2, C2), 33n), C1);
  if (tail.length > 0) h1 ^= mul64(rotl64(mul64(k1, C1), 31n), C2);
  const len = BigInt(buf.length);
  h1 ^= len;
  h2 ^= len;
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;
  h1 = fmix64(h1);
  h2 = fmix64(h2);
  h1 = (h1 + h2) & MASK64;
  h2 = (h2 + h1) & MASK64;
  return [h1, h2];
}

export function isMaglevTableSize(m: number): boolean {
  return (MAGLEV_TABLE_SIZES as readonly number[]).includes(m);
}

export interface MaglevBackend {
  /** the value stored in the table (the backend id) */
  id: number;
  /** what is hashed: stable for the backend (Cilium hashes the backend's address and port) */
  name: string;
}

/**
 * The lookup table: M backend ids. Deterministic for a set of backends, whatever their order
 * (they are sorted by name first). Empty when there is no backend.
 */
export function maglevTable(backends: readonly MaglevBackend[], m = DEFAULT_MAGLEV_TABLE_SIZE, seed = 0): Uint32Array {
  if (!isMaglevTableSize(m))
    throw new RangeError(`Maglev table size ${m} is not one of ${MAGLEV_TABLE_SIZES.join(', ')}`);
  const table = new Uint32Array(m);
  if (backends.length === 0) return new Uint32Array(0);
  const sorted = [...backends].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const M = BigInt(m);
  const perms = sorted.map((b) => {
    const [h1, h2] = murmur3x64128(Buffer.from(b.name), seed);
    return { id: b.id, offset: Number(h1 % M), skip: Number((h2 % (M - 1n)) + 1n), next: 0 };
  });
  const taken = new Uint8Array(m);
  let filled = 0;
  for (;;) {
    for (const p of perms) {
      let c = (p.offset + p.next * p.skip) % m;
      while (taken[c]) {
        p.next++;
        c = (p.offset + p.next * p.skip) % m;
      }
      taken[c] = 1;
      table[c] = p.id;
      p.next++;
      if (++filled === m) return table;
    }
  }
}
