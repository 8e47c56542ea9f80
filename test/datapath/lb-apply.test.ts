// LbMaps.apply (a changed subset, against the writer's mirror, no map read back) leaves the kernel
// exactly where a full sync of the same services would: after every step of random change sequences
// a second writer's full sync finds nothing to write, and the maps' raw contents are unchanged by it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { LbMaps, type LbService } from '../../src/datapath/lb.ts';
import type { BackendState, FrontendScope, FrontendType } from '../../src/services/types.ts';
import { requireDatapath } from './env.ts';

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

const STATES: BackendState[] = ['active', 'active', 'terminating', 'maintenance'];

/** Frontend slot i: a fixed address/port/type/scope and rev-NAT id, so ids stay consistent. */
function frontendOf(i: number) {
  const v6 = i % 5 === 4;
  const type: FrontendType = i % 3 === 0 ? 'NodePort' : 'ClusterIP';
  // slots 2k and 2k+1 of NodePorts share an address: external and internal twins
  const scope: FrontendScope = type === 'NodePort' && i % 2 === 1 ? 'internal' : 'external';
  const host = type === 'NodePort' ? Math.floor(i / 2) : i;
  return {
    address: v6 ? `fd00:96::${host + 1}` : `10.96.7.${host + 1}`,
    port: type === 'NodePort' ? 30080 : 80,
    protocol: 'TCP' as const,
    type,
    scope,
  };
}

function randomServices(r: (n: number) => number): LbService[] {
  const out: LbService[] = [];
  for (let i = 0; i < 24; i++) {
    if (r(3) === 0) continue;
    const fe = frontendOf(i);
    const v6 = fe.address.includes(':');
    const backends = [...new Set(Array.from({ length: r(4) }, () => r(8)))].map((b) => ({
      id: (v6 ? 100 : 1) + b,
      address: v6 ? `fd00:244::${b + 1}` : `10.244.7.${b + 1}`,
      port: 8080,
      protocol: 'TCP' as const,
      state: STATES[r(STATES.length)]!,
    }));
    out.push({
      id: i + 1,
      frontend: fe,
      backends,
      ...(r(4) === 0 ? { affinityTimeoutSec: 60 + r(3) } : {}),
      sourceRanges: r(4) === 0 ? [v6 ? 'fd00:1::/64' : `198.51.100.${r(2) * 64}/26`] : [],
      externalTrafficLocal: r(3) === 0,
      internalTrafficLocal: false,
    });
  }
  // a twin only exists with its external scope, as the table makes them
  const have = new Set(out.map((s) => `${s.frontend.address}|${s.frontend.scope}`));
  return out.filter((s) => s.frontend.scope === 'external' || have.has(`${s.frontend.address}|external`));
}

describe('LbMaps.apply', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-lbapply-${process.pid}`;
  let dp: LxcDatapath;

  before(() => {
    requireDatapath();
    dp = LxcDatapath.load({ pinRoot, maglevTableSize: 251 });
  });
  after(() => {
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  const dump = () => {
    const maps = [dp.lb.v4, dp.lb.v6].flatMap((f) => [f.services, f.backends, f.reverseNat, f.sourceRange]);
    const raw = [...maps, dp.lb.affinityMatch].map((m) =>
      m
        .rawEntries()
        .map(([k, v]) => `${k.toString('hex')}=${v.toString('hex')}`)
        .sort(),
    );
    const maglev = [4, 6].map((f) =>
      [...(f === 4 ? dp.lb.v4 : dp.lb.v6).maglev.entries()]
        .map(
          ([revNat]) =>
            `${revNat}:${Buffer.from(new LbMaps(dp).maglevTableOf(f as 4 | 6, revNat).buffer)
              .toString('hex')
              .slice(0, 64)}`,
        )
        .sort(),
    );
    return [...raw, ...maglev];
  };

  it('converges like a full sync after every step of random change sequences', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const r = rng(seed);
      const lb = new LbMaps(dp);
      let current = new Map<number, LbService>();
      lb.sync([]);
      for (let step = 0; step < 25; step++) {
        const next = new Map(randomServices(r).map((s) => [s.id, s]));
        // keep some services as they were, so a step changes a subset
        for (const [id, s] of current) if (r(2) === 0 && next.has(id)) next.set(id, s);
        const upsert = [...next.values()].filter((s) => JSON.stringify(current.get(s.id)) !== JSON.stringify(s));
        const remove = [...current.values()].filter((s) => !next.has(s.id));
        const res = lb.apply({ upsert, remove });
        const ctx = `seed ${seed} step ${step}`;
        assert.equal(res.removed, remove.length, ctx);
        const before = dump();
        const full = new LbMaps(dp).sync([...next.values()]);
        assert.deepEqual(
          [full.added, full.changed, full.removed, full.maglevReplaced],
          [0, 0, 0, 0],
          `${ctx}: a full sync after apply found work`,
        );
        assert.deepEqual(dump(), before, ctx);
        current = next;
      }
    }
  });
});
