// --bpf-lb-map-max: the LB maps are created at the size asked for, a later load without the option
// takes them at their pinned size, and a load asking another size than the pinned one is refused.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { LbMaps } from '../../src/datapath/lb.ts';
import { requireDatapath } from './env.ts';

describe('--bpf-lb-map-max', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-lbmax-${process.pid}`;
  before(() => requireDatapath());
  after(() => rmSync(pinRoot, { recursive: true, force: true }));

  const sizes = (dp: LxcDatapath) =>
    [dp.lb.v4.services, dp.lb.v6.backends, dp.lb.v4.reverseNat, dp.lb.v6.affinity, dp.maps.ipcache].map(
      (m) => dp.addon.mapInfo(m.fd).maxEntries,
    );

  it('sizes the LB maps at load, keeps them pinned at that size, refuses another size', () => {
    const dp = LxcDatapath.load({ pinRoot, maglevTableSize: 251, lbMapMax: 131072 });
    const other = sizes(dp)[4];
    assert.deepEqual(sizes(dp).slice(0, 4), [131072, 131072, 131072, 131072]);
    new LbMaps(dp).sync([
      {
        id: 1,
        frontend: { address: '10.96.9.1', port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
        backends: [{ id: 1, address: '10.244.9.1', port: 8080, protocol: 'TCP', state: 'active' }],
        sourceRanges: [],
      },
    ]);
    dp.close();
    const again = LxcDatapath.load({ pinRoot, maglevTableSize: 251 });
    assert.deepEqual(sizes(again), [131072, 131072, 131072, 131072, other], 'taken at the pinned size');
    assert.equal(new LbMaps(again).restore().length, 1, 'the pinned state is kept');
    again.close();
    assert.throws(() => LxcDatapath.load({ pinRoot, maglevTableSize: 251, lbMapMax: 65536 }), /bpf-lb-map-max 131072/);
    const same = LxcDatapath.load({ pinRoot, maglevTableSize: 251, lbMapMax: 131072 });
    assert.equal(sizes(same)[0], 131072);
    same.close();
  });
});
