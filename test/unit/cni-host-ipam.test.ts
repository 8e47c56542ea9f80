// Host-scope IPAM and endpoint ids: pure allocators over the persisted state, plus the state
// file's round trip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  EndpointStateFile,
  emptyState,
  freeAddressCount,
  nextFreeEndpointId,
  nextFreeIp,
  podCidrInfo,
  type EndpointRecord,
  type EndpointState,
} from '../../src/agent/endpoint-state.ts';
import { hostIfnameFor, macsFor } from '../../src/agent/endpoint-net.ts';

function withEndpoints(cidr: string, ips: string[], lastIp?: string): EndpointState {
  const s = emptyState(cidr);
  if (lastIp) s.lastIp = lastIp;
  ips.forEach((ip, i) => {
    s.endpoints[`c${i}/eth0`] = { containerId: `c${i}`, ifname: 'eth0', ip, epId: i + 1 } as EndpointRecord;
  });
  return s;
}

test("the router address is the first usable one and never a pod's", () => {
  const info = podCidrInfo('10.1.2.0/24');
  assert.equal(info.routerIp, '10.1.2.1');
  assert.equal(nextFreeIp(emptyState(info.cidr), info), '10.1.2.2');
  assert.throws(() => podCidrInfo('10.1.2.0/31'), /too small/);
  assert.throws(() => podCidrInfo('fd00::/64'), /IPv4/);
  assert.throws(() => podCidrInfo('nope'), /not an IPv4 prefix/);
});

test('allocation goes round after the last address handed out, skipping used ones and broadcast', async (t) => {
  const info = podCidrInfo('10.0.0.0/29'); // pods: .2 - .6
  const cases: Array<[string, string[], string | undefined, string | undefined]> = [
    ['empty', [], undefined, '10.0.0.2'],
    ['after the last', ['10.0.0.2'], '10.0.0.2', '10.0.0.3'],
    ['a released address is not reused at once', ['10.0.0.3'], '10.0.0.3', '10.0.0.4'],
    ['skips used', ['10.0.0.4', '10.0.0.5'], '10.0.0.3', '10.0.0.6'],
    ['wraps, never broadcast', ['10.0.0.6'], '10.0.0.6', '10.0.0.2'],
    ['full', ['10.0.0.2', '10.0.0.3', '10.0.0.4', '10.0.0.5', '10.0.0.6'], '10.0.0.6', undefined],
    ['lastIp from an old CIDR is ignored', [], '192.168.0.9', '10.0.0.2'],
  ];
  for (const [name, used, last, want] of cases) {
    await t.test(name, () => assert.equal(nextFreeIp(withEndpoints(info.cidr, used, last), info), want));
  }
  assert.equal(freeAddressCount(withEndpoints(info.cidr, ['10.0.0.2', '192.168.0.9']), info), 4);
});

test('endpoint ids are the smallest free positive integers', () => {
  assert.equal(nextFreeEndpointId(emptyState('10.0.0.0/24')), 1);
  const s = withEndpoints('10.0.0.0/24', ['10.0.0.2', '10.0.0.3', '10.0.0.4']);
  delete s.endpoints['c1/eth0'];
  assert.equal(nextFreeEndpointId(s), 2);
});

test('the state file round-trips atomically; a missing file is an empty state', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cni-state-'));
  try {
    const f = new EndpointStateFile(join(dir, 'sub', 'endpoints.json'));
    assert.deepEqual(f.load('10.0.0.0/24'), emptyState('10.0.0.0/24'));
    const s = withEndpoints('10.0.0.0/24', ['10.0.0.2'], '10.0.0.2');
    f.save(s);
    assert.deepEqual(f.load('10.0.0.0/24'), s);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("host veth names and MACs are stable per attachment and fit the kernel's limits", () => {
  const name = hostIfnameFor('abc', 'eth0');
  assert.match(name, /^lxc[0-9a-f]{11}$/);
  assert.equal(hostIfnameFor('abc', 'eth0'), name);
  assert.notEqual(hostIfnameFor('abc', 'eth1'), name);
  const { podMac, hostMac } = macsFor('abc', 'eth0');
  assert.match(podMac, /^0a(:[0-9a-f]{2}){5}$/);
  assert.match(hostMac, /^0e(:[0-9a-f]{2}){5}$/);
  assert.deepEqual(macsFor('abc', 'eth0'), { podMac, hostMac });
});
