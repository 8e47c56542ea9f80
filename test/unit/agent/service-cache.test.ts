// The services part's incremental numbering: after every step, the cache's LbServices equal what
// planLbServices gives on that step's full table with the previous step's ids (so incremental and
// full syncs number alike), and a change to one Service upserts only its frontend.
import assert from 'node:assert/strict';
import test from 'node:test';
import { IdPool, LbServiceCache } from '../../../src/agent/service-cache.ts';
import { planLbServices, type LbIds } from '../../../src/agent/lb-services.ts';
import { IncrementalServiceTable, objectKey } from '../../../src/services/incremental.ts';
import { SERVICE_ID_RANGE } from '../../../src/services/index.ts';
import type { LbService } from '../../../src/datapath/lb.ts';
import { ep, NODE, slice, svc } from '../services/fixtures.ts';

function rng(seed: number): (n: number) => number {
  let a = seed >>> 0;
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) % n;
  };
}

const byId = (xs: readonly LbService[]) => [...xs].sort((a, b) => a.id - b.id);

test('IdPool hands out the lowest free id, freed ids first', () => {
  const p = new IdPool({ min: 1, max: 6 }, [2, 4]);
  assert.deepEqual([p.take(), p.take(), p.take()], [1, 3, 5]);
  p.free(3);
  p.free(1);
  assert.deepEqual([p.take(), p.take(), p.take(), p.take()], [1, 3, 6, undefined]);
  assert.equal(new IdPool(SERVICE_ID_RANGE, []).take(), 1);
});

test('incremental numbering == planLbServices step by step, over random changes', () => {
  for (let seed = 1; seed <= 25; seed++) {
    const r = rng(seed);
    const table = new IncrementalServiceTable(NODE);
    table.flush();
    let ids: LbIds = { services: new Map(), backends: new Map() };
    let cache = new LbServiceCache([], [], ids);
    for (let step = 0; step < 80; step++) {
      const n = r(12);
      if (r(4) === 0) table.setService(`demo/s${n}`, undefined);
      else {
        const s = svc('demo', `s${n}`, {
          type: r(3) === 0 ? 'NodePort' : 'ClusterIP',
          clusterIP: `10.96.0.${r(8)}`,
          ...(r(3) === 0 ? { etp: 'Local' } : {}),
        });
        table.setService(objectKey(s), s);
      }
      const eps = Array.from({ length: r(4) }, () =>
        ep(`10.244.0.${r(10)}`, { ready: r(4) !== 0, terminating: r(3) === 0, node: 'n1' }),
      );
      const unique = [...new Map(eps.map((e) => [e.addresses[0], e])).values()];
      const sl = slice('demo', `s${r(12)}`, unique, { name: `sl${r(12)}` });
      table.setSlice(objectKey(sl), r(5) === 0 ? undefined : sl);
      const changes = table.flush();
      const got = cache.update(changes);
      const want = planLbServices(table.entries(), ids);
      const ctx = `seed ${seed} step ${step}`;
      assert.deepEqual(byId(cache.services()), byId(want.services), ctx);
      assert.deepEqual(cache.ids(), want.ids, ctx);
      assert.equal(got.upsert.length + got.remove.length <= changes.size, true, ctx);
      ids = want.ids;
      if (step === 40) cache = new LbServiceCache(table.entries(), want.services, want.ids); // a full resync
    }
  }
});

test('a change to one Service of many upserts only its frontend and numbers only new keys', () => {
  const table = new IncrementalServiceTable(NODE);
  for (let i = 0; i < 100; i++) {
    const s = svc('demo', `s${i}`, { clusterIP: `10.96.1.${i}` });
    table.setService(objectKey(s), s);
    table.setSlice(`demo/s${i}-a`, slice('demo', `s${i}`, [ep(`10.244.2.${i}`)], { name: `s${i}-a` }));
  }
  table.flush();
  const plan = planLbServices(table.entries(), { services: new Map(), backends: new Map() });
  const cache = new LbServiceCache(table.entries(), plan.services, plan.ids);
  table.setSlice('demo/s5-a', slice('demo', 's5', [ep('10.244.2.5'), ep('10.244.9.9')], { name: 's5-a' }));
  const c = cache.update(table.flush());
  assert.equal(c.upsert.length, 1);
  assert.equal(c.remove.length, 0);
  assert.equal(c.upsert[0]?.id, plan.ids.services.get('10.96.1.5|80|TCP|external'));
  assert.deepEqual(
    c.upsert[0]?.backends.map((b) => b.id),
    [plan.ids.backends.get('10.244.2.5|8080|TCP'), 101],
  );
  table.setService('demo/s5', undefined);
  const gone = cache.update(table.flush());
  assert.deepEqual([gone.upsert.length, gone.remove.map((s) => s.frontend.address)], [0, ['10.96.1.5']]);
});
