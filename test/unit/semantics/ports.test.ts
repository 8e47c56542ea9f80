// Port numbers and names the way Cilium reads them. (Address parsing is tested in ../ip.test.ts.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isSvcName, parsePort } from '../../../src/webhooks/semantics/ports.ts';

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
