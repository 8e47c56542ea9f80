import { test } from 'node:test';
import assert from 'node:assert/strict';
import { icmpType, portSpecs, protocolNumber, protocolsOf, Proto } from '../../../src/policy/l4.ts';
import { portKeys } from '../../../src/datapath/policy-encoding.ts';

test('protocols: ANY is TCP, UDP and SCTP; unknown is nothing', () => {
  const table: Array<[string | undefined, number[]]> = [
    [undefined, [6, 17, 132]],
    ['ANY', [6, 17, 132]],
    ['TCP', [6]],
    ['udp', [17]],
    ['SCTP', [132]],
    ['VRRP', [112]],
    ['IGMP', [2]],
    ['GRE', []],
  ];
  for (const [name, want] of table) assert.deepEqual(protocolsOf(name), want, String(name));
  assert.equal(protocolNumber('ANY'), 0);
  assert.equal(protocolNumber('TCP'), Proto.TCP);
  assert.equal(protocolNumber(58), 58);
  assert.equal(protocolNumber('132'), 132);
});

test('ICMP type names per family', () => {
  const table: Array<[number | string, 'IPv4' | 'IPv6', number | undefined]> = [
    ['EchoRequest', 'IPv4', 8],
    ['EchoReply', 'IPv4', 0],
    ['DestinationUnreachable', 'IPv4', 3],
    ['EchoRequest', 'IPv6', 128],
    ['PacketTooBig', 'IPv6', 2],
    ['PacketTooBig', 'IPv4', undefined],
    [13, 'IPv4', 13],
    ['13', 'IPv4', 13],
    [256, 'IPv4', undefined],
    ['Nope', 'IPv6', undefined],
  ];
  for (const [t, f, want] of table) assert.equal(icmpType(t, f), want, `${t}/${f}`);
});

test('port specs: numbers, names, ranges, portless protocols, bad ports', () => {
  assert.deepEqual(portSpecs('TCP', '80'), [{ protocol: 6, port: 80 }]);
  assert.deepEqual(portSpecs(undefined, 'http'), [
    { protocol: 6, name: 'http' },
    { protocol: 17, name: 'http' },
    { protocol: 132, name: 'http' },
  ]);
  assert.deepEqual(portSpecs('UDP', 1000, 2000), [{ protocol: 17, port: 1000, endPort: 2000 }]);
  assert.deepEqual(portSpecs('TCP', 80, 80), [{ protocol: 6, port: 80 }], 'endPort equal to port is one port');
  assert.deepEqual(portSpecs('VRRP', '0'), [{ protocol: 112, port: 0 }]);
  assert.deepEqual(portSpecs('TCP', undefined), [{ protocol: 6, port: 0 }]);
  assert.deepEqual(portSpecs('TCP', '010'), [{ protocol: 6, port: 8 }], 'octal, as Cilium reads it');
  assert.deepEqual(portSpecs('TCP', '70000'), []);
  assert.deepEqual(portSpecs('TCP', 'not a port!'), []);
});

test('port keys', () => {
  assert.deepEqual(portKeys(6, 80), [{ protocol: 6, port: 80, portPrefixLen: 16 }]);
  assert.deepEqual(portKeys(6, 0), [{ protocol: 6, port: 0, portPrefixLen: 0 }]);
  assert.deepEqual(portKeys(1, 0, undefined, true), [{ protocol: 1, port: 0, portPrefixLen: 16 }]);
  assert.deepEqual(portKeys(0, 80), [{ protocol: 0, port: 0, portPrefixLen: 0 }]);
  assert.deepEqual(portKeys(17, 1024, 2047), [{ protocol: 17, port: 1024, portPrefixLen: 6 }]);
  assert.deepEqual(portKeys(6, 1, 65535).length, 16);
});
