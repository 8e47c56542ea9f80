import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ERR_NO_REMAINING_CIDRS,
  allocatePodCIDRs,
  type PodCIDRConfig,
  type PodCIDRNodeInput,
  type PodCIDRResult,
} from '../../../src/controllers/pod-cidr/allocator.ts';
import { parsePrefix, prefixRange, rangesOverlap } from '../../../src/lib/ip.ts';

const v4: PodCIDRConfig = { ipv4: { cidrs: ['10.0.0.0/16'], maskSize: 24 } };
const dual: PodCIDRConfig = {
  ipv4: { cidrs: ['10.0.0.0/16'], maskSize: 24 },
  ipv6: { cidrs: ['fd00::/104'], maskSize: 120 },
};

const names = (n: number, prefix = 'node'): PodCIDRNodeInput[] =>
  Array.from({ length: n }, (_, i) => ({ name: `${prefix}-${String(i).padStart(3, '0')}` }));

function byName(r: PodCIDRResult): Map<string, PodCIDRResult['nodes'][number]> {
  return new Map(r.nodes.map((n) => [n.name, n]));
}

/** What the controller would store after writing the result back. */
function writeBack(r: PodCIDRResult): PodCIDRNodeInput[] {
  return r.nodes.map((n) => ({ name: n.name, podCIDRs: n.podCIDRs }));
}

function assertDisjoint(r: PodCIDRResult): void {
  const all = r.nodes.flatMap((n) => n.podCIDRs.map((c) => ({ node: n.name, c, r: prefixRange(parsePrefix(c)!) })));
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      assert.ok(
        !rangesOverlap(all[i]!.r, all[j]!.r),
        `${all[i]!.node} ${all[i]!.c} overlaps ${all[j]!.node} ${all[j]!.c}`,
      );
    }
  }
}

interface Case {
  name: string;
  config: PodCIDRConfig;
  nodes: PodCIDRNodeInput[];
  want: Record<string, { podCIDRs: string[]; error?: string | RegExp; changed?: boolean; dropped?: RegExp[] }>;
  configErrors?: RegExp[];
}

const cases: Case[] = [
  {
    name: 'nodes get the lowest free subnets in name order',
    config: v4,
    nodes: [{ name: 'b' }, { name: 'a' }],
    want: { a: { podCIDRs: ['10.0.0.0/24'], changed: true }, b: { podCIDRs: ['10.0.1.0/24'] } },
  },
  {
    name: 'existing valid assignments are kept even out of order',
    config: v4,
    nodes: [{ name: 'a', podCIDRs: ['10.0.7.0/24'] }, { name: 'b' }],
    want: { a: { podCIDRs: ['10.0.7.0/24'], changed: false }, b: { podCIDRs: ['10.0.0.0/24'] } },
  },
  {
    name: 'dual stack: one subnet of each family, IPv4 first',
    config: dual,
    nodes: [{ name: 'a' }, { name: 'b' }],
    want: { a: { podCIDRs: ['10.0.0.0/24', 'fd00::/120'] }, b: { podCIDRs: ['10.0.1.0/24', 'fd00::100/120'] } },
  },
  {
    name: 'IPv6 only',
    config: { ipv6: { cidrs: ['2001:db8::/112'], maskSize: 120 } },
    nodes: [{ name: 'a' }, { name: 'b' }],
    want: { a: { podCIDRs: ['2001:db8::/120'] }, b: { podCIDRs: ['2001:db8::100/120'] } },
  },
  {
    name: 'a node with only IPv4 gets the missing IPv6 subnet',
    config: dual,
    nodes: [{ name: 'a', podCIDRs: ['10.0.3.0/24'] }],
    want: { a: { podCIDRs: ['10.0.3.0/24', 'fd00::/120'], changed: true } },
  },
  {
    name: 'the next cluster CIDR of the list is used when the first is full',
    config: { ipv4: { cidrs: ['10.0.0.0/25', '10.1.0.0/24'], maskSize: 25 } },
    nodes: names(3),
    want: {
      'node-000': { podCIDRs: ['10.0.0.0/25'] },
      'node-001': { podCIDRs: ['10.1.0.0/25'] },
      'node-002': { podCIDRs: ['10.1.0.128/25'] },
    },
  },
  {
    name: 'exhaustion is reported on the nodes left without a subnet',
    config: { ipv4: { cidrs: ['10.0.0.0/23'], maskSize: 24 } },
    nodes: names(3),
    want: {
      'node-000': { podCIDRs: ['10.0.0.0/24'], error: '' },
      'node-001': { podCIDRs: ['10.0.1.0/24'], error: '' },
      'node-002': { podCIDRs: [], error: `IPv4: ${ERR_NO_REMAINING_CIDRS}` },
    },
  },
  {
    name: 'an IPv6 shortage leaves a new node with nothing: no half allocation',
    config: { ipv4: { cidrs: ['10.0.0.0/16'], maskSize: 24 }, ipv6: { cidrs: ['fd00::/120'], maskSize: 120 } },
    nodes: names(2),
    want: {
      'node-000': { podCIDRs: ['10.0.0.0/24', 'fd00::/120'] },
      'node-001': { podCIDRs: [], error: /^IPv6: CIDR allocation failed/ },
    },
  },
  {
    name: 'a CIDR claimed by two nodes stays with the first by name; the other gets a new one',
    config: v4,
    nodes: [
      { name: 'b', podCIDRs: ['10.0.0.0/24'] },
      { name: 'a', podCIDRs: ['10.0.0.0/24'] },
    ],
    want: {
      a: { podCIDRs: ['10.0.0.0/24'], changed: false },
      b: { podCIDRs: ['10.0.1.0/24'], changed: true, dropped: [/already allocated to node a/] },
    },
  },
  {
    name: 'CIDRs outside the pool, of the wrong size, or of an unconfigured family are replaced',
    config: v4,
    nodes: [
      { name: 'a', podCIDRs: ['192.168.0.0/24'] },
      { name: 'b', podCIDRs: ['10.0.5.0/25'] },
      { name: 'c', podCIDRs: ['fd00::/120', '10.0.9.0/24'] },
      { name: 'd', podCIDRs: ['garbage', '10.0.9.128/24'] },
    ],
    want: {
      a: { podCIDRs: ['10.0.0.0/24'], dropped: [/outside every cluster CIDR/] },
      b: { podCIDRs: ['10.0.1.0/24'], dropped: [/differs from the configured mask size/] },
      c: { podCIDRs: ['10.0.9.0/24'], dropped: [/no IPv6 cluster pool/] },
      d: { podCIDRs: ['10.0.2.0/24'], dropped: [/not a CIDR/, /not a network address/] },
    },
  },
  {
    name: 'a bad configuration is reported, the good part still serves',
    config: { ipv4: { cidrs: ['10.0.0.0/33', 'fd00::/64', '10.0.0.0/24'], maskSize: 24 } },
    nodes: [{ name: 'a' }],
    want: { a: { podCIDRs: ['10.0.0.0/24'] } },
    configErrors: [/invalid IPv4 cluster CIDR '10.0.0.0\/33'/, /invalid IPv4 cluster CIDR 'fd00::\/64'/],
  },
  {
    name: 'a mask size shorter than the cluster CIDR is a configuration error',
    config: { ipv4: { cidrs: ['10.0.0.0/24'], maskSize: 16 } },
    nodes: [{ name: 'a' }],
    want: { a: { podCIDRs: [], error: new RegExp(ERR_NO_REMAINING_CIDRS) } },
    configErrors: [/mask size 16 does not fit/],
  },
];

for (const c of cases) {
  test(c.name, () => {
    const r = allocatePodCIDRs(c.config, c.nodes);
    const got = byName(r);
    for (const [name, w] of Object.entries(c.want)) {
      const n = got.get(name);
      assert.ok(n, `${name} missing`);
      assert.deepEqual(n.podCIDRs, w.podCIDRs, `${name} podCIDRs`);
      if (typeof w.error === 'string') assert.equal(n.error, w.error);
      else if (w.error) assert.match(n.error, w.error);
      else assert.equal(n.error, '', `${name} error`);
      if (w.changed !== undefined) assert.equal(n.changed, w.changed, `${name} changed`);
      assert.equal(n.dropped.length, (w.dropped ?? []).length, `${name} dropped: ${JSON.stringify(n.dropped)}`);
      for (const [i, re] of (w.dropped ?? []).entries()) assert.match(n.dropped[i]!.reason, re);
    }
    assert.equal(r.configErrors.length, (c.configErrors ?? []).length, JSON.stringify(r.configErrors));
    for (const [i, re] of (c.configErrors ?? []).entries()) assert.match(r.configErrors[i]!, re);
    assertDisjoint(r);
    // Restart: feeding the result back keeps every assignment.
    const again = allocatePodCIDRs(c.config, writeBack(r));
    assert.deepEqual(
      again.nodes.map((n) => [n.name, n.podCIDRs, n.error]),
      r.nodes.map((n) => [n.name, n.podCIDRs, n.error]),
    );
    assert.ok(again.nodes.every((n) => !n.changed));
  });
}

test('50 nodes get disjoint CIDRs, dual stack', () => {
  const r = allocatePodCIDRs(dual, names(50));
  assert.equal(r.nodes.length, 50);
  for (const n of r.nodes) {
    assert.equal(n.error, '');
    assert.equal(n.podCIDRs.length, 2);
  }
  assertDisjoint(r);
  assert.deepEqual(r.usage, [
    { family: 4, total: 256n, used: 50n },
    { family: 6, total: 1n << 16n, used: 50n },
  ]);
});

test('deleted nodes free their CIDRs; new nodes reuse them; survivors keep theirs', () => {
  const first = allocatePodCIDRs(v4, names(50));
  const before = byName(first);
  const survivors = writeBack(first).filter((_, i) => i % 5 !== 0); // delete 10 nodes
  const freed = first.nodes.filter((_, i) => i % 5 === 0).flatMap((n) => n.podCIDRs);
  const second = allocatePodCIDRs(v4, [...survivors, ...names(10, 'new')]);
  assertDisjoint(second);
  const after = byName(second);
  for (const s of survivors) assert.deepEqual(after.get(s.name)!.podCIDRs, before.get(s.name)!.podCIDRs);
  const reused = second.nodes.filter((n) => n.name.startsWith('new')).flatMap((n) => n.podCIDRs);
  assert.deepEqual([...reused].sort(), [...freed].sort());
  assert.equal(second.usage[0]!.used, 50n);
});

test('a full pool reports exhaustion on new nodes until a node goes away', () => {
  const cfg: PodCIDRConfig = { ipv4: { cidrs: ['10.0.0.0/22'], maskSize: 24 } };
  const full = allocatePodCIDRs(cfg, names(5));
  assert.equal(full.nodes.filter((n) => n.error !== '').length, 1);
  assert.equal(byName(full).get('node-004')!.error, `IPv4: ${ERR_NO_REMAINING_CIDRS}`);
  const stored = writeBack(full).filter((n) => n.name !== 'node-001');
  const later = byName(allocatePodCIDRs(cfg, stored));
  assert.deepEqual(later.get('node-004')!.podCIDRs, ['10.0.1.0/24']);
  assert.equal(later.get('node-004')!.error, '');
});

test('input order does not matter', () => {
  const nodes = names(20).map((n, i) => (i % 3 === 0 ? { ...n, podCIDRs: [`10.0.${200 - i}.0/24`] } : n));
  assert.deepEqual(allocatePodCIDRs(v4, nodes), allocatePodCIDRs(v4, [...nodes].reverse()));
});

test('large IPv6 pools work without enumerating them', () => {
  const r = allocatePodCIDRs({ ipv6: { cidrs: ['fd00::/48'], maskSize: 112 } }, [
    { name: 'a' },
    { name: 'b', podCIDRs: ['fd00:0:0:ffff:ffff:ffff:ffff:0/112'] },
  ]);
  assert.deepEqual(byName(r).get('a')!.podCIDRs, ['fd00::/112']);
  assert.deepEqual(byName(r).get('b')!.podCIDRs, ['fd00::ffff:ffff:ffff:ffff:0/112']);
  assert.equal(r.usage[0]!.total, 1n << 64n);
});
