// The id allocator: stable across recomputation, fresh ids for new keys, freed ids for removed keys,
// restored from a previous assignment (as read back from the pinned maps), deterministic.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BACKEND_ID_RANGE,
  SERVICE_ID_RANGE,
  allocateBackendIds,
  allocateIds,
  allocateServiceIds,
  backendKey,
  frontendKey,
  type IdRange,
} from '../../../src/services/ids.ts';
import { serviceTable } from '../../../src/services/table.ts';
import { NODE, ep, slice, svc } from './fixtures.ts';

interface Case {
  name: string;
  previous: Record<string, number>;
  desired: string[];
  range?: IdRange;
  want: Record<string, number>;
  added?: string[];
  removed?: string[];
  exhausted?: string[];
}

const cases: Case[] = [
  {
    name: 'from nothing: sorted keys get 1, 2, 3',
    previous: {},
    desired: ['c', 'a', 'b'],
    want: { a: 1, b: 2, c: 3 },
    added: ['a', 'b', 'c'],
    removed: [],
  },
  {
    name: 'unchanged keys keep their ids (recomputation is stable)',
    previous: { a: 7, b: 3 },
    desired: ['b', 'a'],
    want: { a: 7, b: 3 },
    added: [],
    removed: [],
  },
  {
    name: 'a new key gets the lowest id no kept key holds',
    previous: { a: 1, b: 3 },
    desired: ['a', 'b', 'c', 'd'],
    want: { a: 1, b: 3, c: 2, d: 4 },
    added: ['c', 'd'],
    removed: [],
  },
  {
    name: 'a removed key frees its id, which the next new key may take',
    previous: { a: 1, b: 2, c: 3 },
    desired: ['a', 'c', 'z'],
    want: { a: 1, c: 3, z: 2 },
    added: ['z'],
    removed: ['b'],
  },
  {
    name: 'everything removed',
    previous: { a: 1, b: 2 },
    desired: [],
    want: {},
    added: [],
    removed: ['a', 'b'],
  },
  {
    name: 'restored ids out of range or not integers are replaced',
    previous: { a: 0, b: 70000, c: 2.5, d: 5 },
    desired: ['a', 'b', 'c', 'd'],
    want: { a: 1, b: 2, c: 3, d: 5 },
    added: ['a', 'b', 'c'],
    removed: [],
  },
  {
    name: 'an id claimed by two keys (a damaged restore) stays with the key sorting first',
    previous: { b: 4, a: 4 },
    desired: ['a', 'b'],
    want: { a: 4, b: 1 },
    added: ['b'],
    removed: [],
  },
  {
    name: 'duplicate desired keys count once',
    previous: {},
    desired: ['a', 'a', 'b'],
    want: { a: 1, b: 2 },
    added: ['a', 'b'],
  },
  {
    name: 'a full range leaves the rest without ids, reported as exhausted',
    previous: { a: 2 },
    desired: ['a', 'b', 'c', 'd'],
    range: { min: 1, max: 3 },
    want: { a: 2, b: 1, c: 3 },
    added: ['b', 'c'],
    exhausted: ['d'],
  },
  {
    name: 'ids start at the range minimum',
    previous: {},
    desired: ['x', 'y'],
    range: { min: 100, max: 200 },
    want: { x: 100, y: 101 },
  },
];

for (const c of cases) {
  test(`ids: ${c.name}`, () => {
    const got = allocateIds(new Map(Object.entries(c.previous)), c.desired, c.range ?? SERVICE_ID_RANGE);
    assert.deepEqual(Object.fromEntries([...got.ids].sort(([a], [b]) => (a < b ? -1 : 1))), c.want);
    if (c.added) assert.deepEqual(got.added, c.added);
    if (c.removed) assert.deepEqual(got.removed, c.removed);
    assert.deepEqual(got.exhausted, c.exhausted ?? []);
  });
}

test('ids: the result does not depend on the order of the desired keys', () => {
  const prev = new Map([
    ['k3', 9],
    ['k7', 2],
  ]);
  const keys = Array.from({ length: 20 }, (_, i) => `k${i}`);
  const a = allocateIds(prev, keys, SERVICE_ID_RANGE);
  const b = allocateIds(prev, [...keys].reverse(), SERVICE_ID_RANGE);
  assert.deepEqual([...a.ids].sort(), [...b.ids].sort());
  assert.equal(new Set(a.ids.values()).size, 20, 'ids are unique');
});

test('ids: over a table — stable across recomputation, fresh for a new backend, restored after restart', () => {
  const input = (eps: string[]) => ({
    services: [
      svc('d', 'a', { clusterIP: '10.96.0.1' }),
      svc('d', 'b', {
        type: 'NodePort',
        clusterIP: '10.96.0.2',
        families: ['IPv4'],
        etp: 'Local',
        ports: [{ port: 80, nodePort: 30080 }],
      }),
    ],
    endpointSlices: [
      slice(
        'd',
        'a',
        eps.map((e) => ep(e, { node: 'n1' })),
      ),
      slice(
        'd',
        'b',
        eps.map((e) => ep(e, { node: 'n1' })),
      ),
    ],
    node: NODE,
  });
  const t1 = serviceTable(input(['10.244.1.1', '10.244.1.2']));
  const s1 = allocateServiceIds(t1, new Map());
  const b1 = allocateBackendIds(t1, new Map());
  // 4 frontends: two ClusterIPs, the NodePort's external scope and its internal twin.
  assert.deepEqual([...s1.ids.values()].sort(), [1, 2, 3, 4]);
  // Backends are global: the same address/port in two Services has one id.
  assert.deepEqual(Object.fromEntries(b1.ids), { '10.244.1.1|8080|TCP': 1, '10.244.1.2|8080|TCP': 2 });

  const t2 = serviceTable(input(['10.244.1.2', '10.244.1.3']));
  const s2 = allocateServiceIds(t2, s1.ids);
  const b2 = allocateBackendIds(t2, b1.ids);
  assert.deepEqual(s2.ids, s1.ids, 'frontends unchanged → same ids');
  assert.deepEqual(s2.added, []);
  assert.deepEqual(Object.fromEntries(b2.ids), { '10.244.1.2|8080|TCP': 2, '10.244.1.3|8080|TCP': 1 });
  assert.deepEqual(b2.removed, ['10.244.1.1|8080|TCP']);

  // Restart: the agent reads the ids back from the pinned maps and recomputes; nothing moves.
  const restoredSvc = new Map([...s2.ids].map(([k, v]) => [k, v] as const));
  const restoredBe = new Map([...b2.ids].map(([k, v]) => [k, v] as const));
  assert.deepEqual(allocateServiceIds(t2, restoredSvc).ids, s2.ids);
  assert.deepEqual(allocateBackendIds(t2, restoredBe).ids, b2.ids);
});

test('ids: keys and ranges', () => {
  assert.equal(
    frontendKey({ address: '10.96.0.1', port: 80, protocol: 'TCP', scope: 'internal' }),
    '10.96.0.1|80|TCP|internal',
  );
  assert.equal(backendKey({ address: 'fd00::1', port: 53, protocol: 'UDP' }), 'fd00::1|53|UDP');
  assert.deepEqual(SERVICE_ID_RANGE, { min: 1, max: 65535 });
  assert.deepEqual(BACKEND_ID_RANGE, { min: 1, max: 4294967295 });
});
