// Maglev tables as Cilium builds them: a fair share per backend, little movement when one leaves,
// and the same table whatever order the backends come in.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isMaglevTableSize, maglevTable, murmur3x64128, type MaglevBackend } from '../../../src/datapath/maglev.ts';

const backends = (n: number, from = 1): MaglevBackend[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, name: `10.0.${(from + i) >> 8}.${(from + i) & 255}:8080/TCP` }));

function counts(table: Uint32Array): Map<number, number> {
  const c = new Map<number, number>();
  for (const id of table) c.set(id, (c.get(id) ?? 0) + 1);
  return c;
}

describe('maglev', () => {
  it('hashes with MurmurHash3 x64 128 (reference vectors)', () => {
    assert.deepEqual(murmur3x64128(Buffer.alloc(0), 0), [0n, 0n]);
    // mmh3.hash64("foo") = (-2129773440516405919, 9128664383759220103)
    assert.deepEqual(murmur3x64128(Buffer.from('foo'), 0), [(1n << 64n) - 2129773440516405919n, 9128664383759220103n]);
  });

  it('accepts only the table sizes Cilium allows', () => {
    assert.equal(isMaglevTableSize(16381), true);
    assert.equal(isMaglevTableSize(16384), false);
    assert.throws(() => maglevTable(backends(2), 1000), RangeError);
  });

  it('gives every backend M/N slots, give or take one', () => {
    for (const [n, m] of [
      [1, 251],
      [3, 16381],
      [7, 1021],
      [100, 16381],
    ] as const) {
      const table = maglevTable(backends(n), m);
      assert.equal(table.length, m);
      const c = counts(table);
      assert.equal(c.size, n, `${n} backends in a table of ${m}`);
      for (const v of c.values()) assert.ok(Math.abs(v - m / n) <= 1, `${v} slots, expected ${m / n}`);
    }
  });

  it('is the same table whatever the order of the backends', () => {
    const b = backends(5);
    assert.deepEqual(maglevTable(b, 1021), maglevTable([...b].reverse(), 1021));
  });

  it('moves few slots of the remaining backends when one is removed', () => {
    const m = 16381;
    for (const n of [3, 10, 50]) {
      const all = backends(n);
      const before = maglevTable(all, m);
      const after = maglevTable(all.slice(1), m);
      let kept = 0,
        survivors = 0;
      for (let i = 0; i < m; i++) {
        if (before[i] === all[0]!.id) continue;
        survivors++;
        if (after[i] === before[i]) kept++;
      }
      // Only the removed backend's slots must move; Maglev moves a few more, far from a reshuffle.
      assert.ok(kept / survivors > 0.9, `${n} backends: only ${((kept / survivors) * 100).toFixed(1)}% of slots kept`);
    }
  });

  it('is empty without backends', () => {
    assert.equal(maglevTable([], 251).length, 0);
  });
});
