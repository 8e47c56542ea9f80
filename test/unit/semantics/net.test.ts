// Address parsing with Go net/netip rules, which Cilium uses for policy CIDRs and LB-IPAM blocks.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { canonical, containsPrefix, formatAddr, parseAddr, parsePrefix } from '../../../src/webhooks/semantics/net.ts';
import { isSvcName, parsePort } from '../../../src/webhooks/semantics/ports.ts';

describe('netip-compatible parsing', () => {
  const good = ['0.0.0.0', '255.255.255.255', '::', '::1', '2001:db8::', '2001:db8:0:0:0:0:0:1', '::ffff:192.0.2.1', 'fe80::1:2'];
  const bad = ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '256.1.1.1', '1.2.3.-1', ':::', '2001:db8::1::2', '12345::', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', 'g::1', '1.2.3.4/8'];
  for (const s of good) it(`parses ${s}`, () => assert.ok(parseAddr(s)));
  for (const s of bad) it(`rejects ${JSON.stringify(s)}`, () => assert.equal(parseAddr(s), undefined));
  it('IPv4-mapped IPv6 counts as IPv6', () => assert.equal(parseAddr('::ffff:1.2.3.4')?.family, 6));
  it('prefix lengths: decimal, no leading zeros, within the family', () => {
    assert.ok(parsePrefix('10.0.0.0/8'));
    assert.ok(parsePrefix('::/0'));
    assert.equal(parsePrefix('10.0.0.0/08'), undefined);
    assert.equal(parsePrefix('10.0.0.0/33'), undefined);
    assert.equal(parsePrefix('::/129'), undefined);
    assert.equal(parsePrefix('10.0.0.0/'), undefined);
    assert.equal(parsePrefix('10.0.0.0'), undefined);
  });
  it('canonical form and containment', () => {
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
});

describe('ports', () => {
  it('IANA service names', () => {
    for (const n of ['http', 'dns-tcp', 'h2c', 'a1', 'x']) assert.ok(isSvcName(n), n);
    for (const n of ['', '-http', 'http-', 'a--b', '123', 'my_port', 'averyverylongname']) assert.ok(!isSvcName(n), n);
    assert.ok(!isSvcName('HTTP', true));
  });
  it('numbers as Go ParseUint(s, 0, 16) reads them', () => {
    assert.deepEqual(parsePort('80'), { kind: 'number', value: 80, octal: false });
    assert.deepEqual(parsePort('010'), { kind: 'number', value: 8, octal: true });
    assert.deepEqual(parsePort('0'), { kind: 'number', value: 0, octal: false });
    assert.equal(parsePort('65536').kind, 'invalid');
    assert.equal(parsePort('09').kind, 'invalid');
    assert.equal(parsePort('0x50').kind, 'name');
  });
});
