import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalIP,
  formatRange,
  parseIP,
  parsePrefix,
  prefixRange,
  rangeAsPrefix,
  rangeSize,
  rangesOverlap,
  type IPRange,
} from '../../../src/controllers/lb-ipam/ip.ts';

test('parse and format round-trip the way Go net/netip prints', async (t) => {
  const cases: [string, string | undefined][] = [
    ['10.0.0.1', '10.0.0.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['010.0.0.1', undefined],
    ['256.0.0.1', undefined],
    ['1.2.3', undefined],
    ['2001:db8::1', '2001:db8::1'],
    ['2001:0DB8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // a single zero group is not compressed
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // the longest run wins
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // first run on ties
    ['::ffff:10.1.2.3', '::ffff:10.1.2.3'],
    ['::ffff:a01:203', '::ffff:10.1.2.3'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['fe80::1%eth0', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['1::2::3', undefined],
    ['12345::', undefined],
    ['', undefined],
  ];
  for (const [input, want] of cases) {
    await t.test(input || '(empty)', () => assert.equal(canonicalIP(input), want));
  }
});

test('prefixes become masked ranges', async (t) => {
  const cases: [string, string, string, bigint][] = [
    ['10.0.10.0/24', '10.0.10.0', '10.0.10.255', 256n],
    ['10.0.10.77/24', '10.0.10.0', '10.0.10.255', 256n],
    ['192.0.2.1/32', '192.0.2.1', '192.0.2.1', 1n],
    ['2004::/64', '2004::', '2004::ffff:ffff:ffff:ffff', 1n << 64n],
    ['::/0', '::', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', 1n << 128n],
  ];
  for (const [cidr, first, last, size] of cases) {
    await t.test(cidr, () => {
      const p = parsePrefix(cidr);
      assert.ok(p);
      const r = prefixRange(p);
      assert.equal(canonicalIP(first), formatRange({ ...r, last: r.first }).replace(/\/\d+$/, ''));
      assert.equal(parseIP(last)?.value, r.last);
      assert.equal(rangeSize(r), size);
    });
  }
  for (const bad of ['10.0.0.0/33', '10.0.0.0/', '10.0.0.0/08', '2001::/129', '10.0.0.0']) {
    await t.test(`rejects ${bad}`, () => assert.equal(parsePrefix(bad), undefined));
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
  const a = parseIP('20.0.20.100')!.value;
  const b = parseIP('20.0.20.200')!.value;
  assert.equal(formatRange({ family: 4, first: a, last: b }), '20.0.20.100 - 20.0.20.200');
  assert.equal(formatRange(prefixRange(parsePrefix('10.0.0.0/30')!)), '10.0.0.0/30');
  assert.equal(rangeAsPrefix({ family: 4, first: 1n, last: 2n }), undefined);
});
