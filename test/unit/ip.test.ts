// Address and prefix arithmetic with Go net/netip rules, which Cilium uses for policy CIDRs and
// LB-IPAM blocks. Expected strings were checked against Go's netip.ParseAddr / ParsePrefix /
// Prefix.Masked().String().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonical,
  canonicalAddr,
  containsAddr,
  containsPrefix,
  formatAddr,
  formatRange,
  isCanonical,
  parseAddr,
  parsePrefix,
  prefixRange,
  rangeAsPrefix,
  rangeSize,
  rangesOverlap,
  type IPRange,
} from '../../src/lib/ip.ts';

test('parse and format round-trip the way Go net/netip prints', async (t) => {
  const cases: [string, string | undefined][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['010.0.0.1', undefined],
    ['01.2.3.4', undefined],
    ['256.0.0.1', undefined],
    ['256.1.1.1', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['1.2.3.-1', undefined],
    ['1.2.3.4/8', undefined],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8::', '2001:db8::'],
    ['fe80::1:2', 'fe80::1:2'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['1:2:3:4:5:6:7::', '1:2:3:4:5:6:7:0'], // :: may stand for a single zero group
    ['::1:2:3:4:5:6:7', '0:1:2:3:4:5:6:7'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first run on ties
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['::ffff:192.0.2.1', '::ffff:192.0.2.1'],
    ['::ffff:a01:203', '::ffff:10.1.2.3'],
    ['0:0:0:0:0:ffff:1.2.3.4', '::ffff:1.2.3.4'],
    ['::ffff:0:0', '::ffff:0.0.0.0'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['::1.2.3.4', '::102:304'], // IPv4-compatible, not mapped: printed in hex
    ['::fffe:1.2.3.4', '::fffe:102:304'],
    ['::ffff:01.2.3.4', undefined],
    ['1:2:3:4:5:6:7:1.2.3.4', undefined],
    ['fe80::1%eth0', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1:2:3:4:5:6:7:8::', undefined],
    ['1::2::3', undefined],
    ['2001:db8::1::2', undefined],
    [':::', undefined],
    [':1::', undefined],
    ['1:::2', undefined],
    ['12345::', undefined],
    ['g::1', undefined],
    ['', undefined],
  ];
  for (const [input, want] of cases) {
    await t.test(input || '(empty)', () => {
      if (want === undefined) assert.equal(parseAddr(input), undefined);
      else assert.ok(parseAddr(input));
      assert.equal(canonicalAddr(input), want);
    });
  }
});

test('IPv4-mapped IPv6 counts as IPv6', () => assert.equal(parseAddr('::ffff:1.2.3.4')?.family, 6));

test('prefixes become masked ranges', async (t) => {
  const cases: [string, string, string, bigint][] = [
    ['10.0.10.0/24', '10.0.10.0', '10.0.10.255', 256n],
    ['10.0.10.77/24', '10.0.10.0', '10.0.10.255', 256n],
    ['10.0.0.0/8', '10.0.0.0', '10.255.255.255', 1n << 24n],
    ['192.0.2.1/32', '192.0.2.1', '192.0.2.1', 1n],
    ['2004::/64', '2004::', '2004::ffff:ffff:ffff:ffff', 1n << 64n],
    ['::/0', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1n << 128n],
  ];
  for (const [cidr, first, last, size] of cases) {
    await t.test(cidr, () => {
      const p = parsePrefix(cidr);
      assert.ok(p);
      const r = prefixRange(p);
      assert.equal(canonicalAddr(first), formatRange({ ...r, last: r.first }).replace(/\/\d+$/, ''));
      assert.equal(parseAddr(last)?.value, r.last);
      assert.equal(rangeSize(r), size);
    });
  }
  // Prefix lengths: decimal, no leading zeros, within the family; no zones (netip.ParsePrefix).
  for (const bad of [
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/08',
    '2001::/129',
    '::/129',
    '10.0.0.0',
    'fe80::1%eth0/64',
  ]) {
    await t.test(`rejects ${bad}`, () => assert.equal(parsePrefix(bad), undefined));
  }
});

test('canonical form and containment', () => {
  const p = parsePrefix('10.1.2.3/8');
  assert.ok(p);
  assert.equal(canonical(p), '10.0.0.0/8');
  const q = parsePrefix('2001:db8:0:1::5/64');
  assert.ok(q);
  assert.equal(canonical(q), '2001:db8:0:1::/64');
  const outer = parsePrefix('10.0.0.0/8');
  const inner = parsePrefix('10.200.0.0/16');
  assert.ok(outer && inner && containsPrefix(outer, inner) && !containsPrefix(inner, outer));
  assert.equal(formatAddr(6, 0n), '::');
  assert.equal(formatAddr(6, 1n), '::1');
});

test('canonical prefixes print as netip.Prefix.Masked().String() does', async (t) => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.0.0.0/8', true],
    ['::ffff:10.1.2.3/104', '::ffff:10.0.0.0/104', false],
    ['::ffff:1.2.3.4/120', '::ffff:1.2.3.0/120', false],
    ['::ffff:1.2.3.4/96', '::ffff:0.0.0.0/96', false],
    ['::ffff:0.0.0.0/128', '::ffff:0.0.0.0/128', true],
    ['::1.2.3.4/128', '::102:304/128', true],
    ['::fffe:1.2.3.4/128', '::fffe:102:304/128', true],
  ];
  for (const [cidr, want, canon] of cases) {
    await t.test(cidr, () => {
      const p = parsePrefix(cidr);
      assert.ok(p);
      assert.equal(canonical(p), want);
      assert.equal(isCanonical(p), canon);
    });
  }
  await t.test('formatAddr of an IPv4-mapped address', () =>
    assert.equal(formatAddr(6, 0xffff0a010203n), '::ffff:10.1.2.3'),
  );
});

test('containment stays within one family', async (t) => {
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/8', '10.255.255.255', true],
    ['10.0.0.0/8', '11.0.0.0', false],
    ['::/96', '0.0.0.1', false],
    ['0.0.0.0/0', '::ffff:1.2.3.4', false],
    ['::ffff:0.0.0.0/96', '::ffff:1.2.3.4', true],
  ];
  for (const [cidr, addr, want] of cases) {
    await t.test(`${cidr} ∋ ${addr}`, () => {
      const p = parsePrefix(cidr)!;
      const a = parseAddr(addr)!;
      assert.equal(containsAddr(p, a), want);
      assert.equal(containsPrefix(p, { addr: a, bits: a.family === 4 ? 32 : 128 }), want);
    });
  }
});

test('ranges overlap only within one family', async (t) => {
  const r = (s: string): IPRange => prefixRange(parsePrefix(s)!);
  const cases: [string, string, boolean][] = [
    ['10.0.0.0/24', '10.0.0.128/25', true],
    ['10.0.0.0/25', '10.0.0.128/25', false],
    ['10.0.0.0/8', '10.255.255.255/32', true],
    ['::/96', '0.0.0.0/0', false],
    ['2001:db8::/32', '2001:db8:1::/48', true],
  ];
  for (const [a, b, want] of cases) {
    await t.test(`${a} ~ ${b}`, () => {
      assert.equal(rangesOverlap(r(a), r(b)), want);
      assert.equal(rangesOverlap(r(b), r(a)), want);
    });
  }
});

test('ranges print as a CIDR when they are one, else as start - stop', () => {
  const a = parseAddr('20.0.20.100')!.value;
  const b = parseAddr('20.0.20.200')!.value;
  assert.equal(formatRange({ family: 4, first: a, last: b }), '20.0.20.100 - 20.0.20.200');
  assert.equal(formatRange(prefixRange(parsePrefix('10.0.0.0/30')!)), '10.0.0.0/30');
  assert.equal(rangeAsPrefix({ family: 4, first: 1n, last: 2n }), undefined);
});
