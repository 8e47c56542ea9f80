// The CiliumNode's addresses and the counters fed from kernel totals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { ciliumNodeAddresses } from '../../../src/agent/node.ts';
import { DeltaCounter } from '../../../src/agent/metrics.ts';

test("CiliumNode addresses: the Node's InternalIP, then the pod CIDR's router address as CiliumInternalIP", () => {
  const node = {
    status: {
      addresses: [
        { type: 'Hostname', address: 'n1' },
        { type: 'InternalIP', address: '192.168.1.1' },
      ],
    },
  };
  assert.deepEqual(ciliumNodeAddresses(node, '10.0.1.0/24'), [
    { type: 'InternalIP', ip: '192.168.1.1' },
    { type: 'CiliumInternalIP', ip: '10.0.1.1' },
  ]);
  assert.deepEqual(ciliumNodeAddresses(undefined, '10.0.1.0/24'), [{ type: 'CiliumInternalIP', ip: '10.0.1.1' }]);
  assert.deepEqual(ciliumNodeAddresses(node, undefined), [{ type: 'InternalIP', ip: '192.168.1.1' }]);
});

test('a kernel-fed counter adds what the source gained; a source that went backwards was recreated', async () => {
  const registry = new Registry();
  let total = 10;
  new DeltaCounter(registry, 'test_drops_total', 'drops', ['direction'], () => [[{ direction: 'INGRESS' }, total]]);
  const value = async () => (await registry.getSingleMetric('test_drops_total')!.get()).values[0]!.value;
  assert.equal(await value(), 10);
  total = 15;
  assert.equal(await value(), 15);
  total = 3; // map recreated: counting starts again from 0
  assert.equal(await value(), 18);
  total = 3;
  assert.equal(await value(), 18);
});
