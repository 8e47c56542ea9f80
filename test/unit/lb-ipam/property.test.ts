// Property-style check: many random-ish (seeded) services over two pools, across several rounds of
// change; after every round the invariants a user relies on must hold.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allocate,
  type LBIPAMResult,
  type LBPoolInput,
  type LBServiceInput,
} from '../../../src/controllers/lb-ipam/allocator.ts';
import { parseAddr, parsePrefix, prefixRange, rangeContains, type IPRange } from '../../../src/lib/ip.ts';
import { selectorMatches } from '../../../src/controllers/lb-ipam/selector.ts';
import * as C from '../../../src/controllers/lb-ipam/constants.ts';
import { applyResult, pool, svc } from './fixtures.ts';

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function makeServices(rnd: () => number, n: number, withStatus = true): LBServiceInput[] {
  const out: LBServiceInput[] = [];
  for (let i = 0; i < n; i++) {
    const annotations: Record<string, string> = {};
    if (rnd() < 0.4) annotations[C.ANNOTATION_SHARING_KEY] = pick(rnd, ['k1', 'k2', 'k3']);
    if (rnd() < 0.15) annotations[C.ANNOTATION_SHARING_CROSS_NAMESPACE] = pick(rnd, ['*', 'ns0', 'ns1,ns2']);
    if (rnd() < 0.05) annotations[C.ANNOTATION_IPS] = `10.1.0.${Math.floor(rnd() * 140)}`;
    const ingress: string[] = [];
    // Stale or foreign status entries, as after a restart or an adopted service.
    if (rnd() < 0.2 && withStatus) ingress.push(`10.1.0.${Math.floor(rnd() * 160)}`);
    if (rnd() < 0.1 && withStatus) ingress.push(`fd00::${Math.floor(rnd() * 64).toString(16)}`);
    const ports = Array.from({ length: 1 + Math.floor(rnd() * 2) }, () => ({
      port: pick(rnd, [53, 80, 443, 8080]),
      protocol: pick(rnd, ['TCP', 'UDP']),
    }));
    out.push(
      svc(`ns${Math.floor(rnd() * 3)}`, `svc${i}`, {
        labels: rnd() < 0.5 ? { tier: 'b' } : {},
        annotations,
        policy: pick(rnd, ['SingleStack', 'SingleStack', 'PreferDualStack', 'RequireDualStack']),
        families: pick(rnd, [['IPv4'], ['IPv6'], ['IPv4', 'IPv6']]),
        ports,
        ingress,
        etp: rnd() < 0.1 ? 'Local' : 'Cluster',
        selector: { app: pick(rnd, ['a', 'b']) },
        created: new Date(Date.UTC(2026, 0, 1) + Math.floor(rnd() * 1e9)).toISOString(),
      }),
    );
  }
  return out;
}

function ranges(p: LBPoolInput): IPRange[] {
  return (p.spec.blocks ?? []).map((b) => {
    if (b.cidr) return prefixRange(parsePrefix(b.cidr)!);
    const s = parseAddr(b.start!)!;
    return { family: s.family, first: s.value, last: parseAddr(b.stop ?? b.start!)!.value };
  });
}

function checkInvariants(pools: LBPoolInput[], services: LBServiceInput[], r: LBIPAMResult): void {
  const byKey = new Map(services.map((s) => [`${s.metadata!.namespace}/${s.metadata!.name}`, s]));
  const holders = new Map<string, string[]>();
  for (const res of r.services) {
    const s = byKey.get(res.key)!;
    const requested = (s.metadata!.annotations?.[C.ANNOTATION_IPS] ?? '').split(',').filter(Boolean);
    if (requested.length === 0) {
      const fams = res.ingressIPs.map((ip) => parseAddr(ip)!.family);
      assert.equal(new Set(fams).size, fams.length, `${res.key} has two addresses of one family: ${res.ingressIPs}`);
    } else {
      for (const ip of res.ingressIPs) assert.ok(requested.includes(ip), `${res.key} got unrequested ${ip}`);
    }
    assert.equal(res.condition.status === 'True', res.satisfied);
    for (const a of res.allocations) {
      const p = pools.find((x) => x.metadata.name === a.pool)!;
      const ip = parseAddr(a.ip)!;
      assert.ok(
        ranges(p).some((rg) => rangeContains(rg, ip)),
        `${a.ip} outside pool ${a.pool}`,
      );
      const labels = {
        ...(s.metadata!.labels ?? {}),
        [C.LABEL_SERVICE_NAMESPACE]: res.namespace,
        [C.LABEL_SERVICE_NAME]: res.name,
      };
      assert.ok(
        selectorMatches(p.spec.serviceSelector, labels),
        `${res.key} got ${a.ip} from ${a.pool} which does not select it`,
      );
      holders.set(a.ip, [...(holders.get(a.ip) ?? []), res.key]);
    }
  }
  for (const [ip, keys] of holders) {
    if (keys.length === 1) continue;
    const svcs = keys.map((k) => byKey.get(k)!);
    for (let i = 0; i < svcs.length; i++) {
      for (let j = i + 1; j < svcs.length; j++) {
        const a = svcs[i]!;
        const b = svcs[j]!;
        const ka = a.metadata!.annotations?.[C.ANNOTATION_SHARING_KEY];
        assert.ok(ka, `${ip} given twice without a sharing key: ${keys}`);
        assert.equal(ka, b.metadata!.annotations?.[C.ANNOTATION_SHARING_KEY], `${ip} shared across keys`);
        if (a.metadata!.namespace !== b.metadata!.namespace) {
          const ok = (x: LBServiceInput, ns: string): boolean => {
            const v = (x.metadata!.annotations?.[C.ANNOTATION_SHARING_CROSS_NAMESPACE] ?? '').split(',');
            return v.includes('*') || v.includes(ns);
          };
          assert.ok(
            ok(a, b.metadata!.namespace!) && ok(b, a.metadata!.namespace!),
            `${ip} shared across namespaces without consent`,
          );
        }
        for (const p of a.spec!.ports!) {
          for (const q of b.spec!.ports!) {
            assert.ok(
              p.port !== q.port || p.protocol !== q.protocol,
              `${ip} shared by ${keys} with clashing port ${p.port}/${p.protocol}`,
            );
          }
        }
        assert.equal(a.spec!.externalTrafficPolicy, b.spec!.externalTrafficPolicy);
      }
    }
  }
  for (const p of r.pools) {
    assert.equal(p.ipsUsed + p.ipsAvailable, p.ipsTotal, `pool ${p.name} counters`);
    const total = ranges(pools.find((x) => x.metadata.name === p.name)!).reduce(
      (n, rg) => n + rg.last - rg.first + 1n,
      0n,
    );
    assert.equal(p.ipsTotal, total);
    const distinct = [...holders.keys()].filter((ip) =>
      r.services.some((s) => s.allocations.some((a) => a.ip === ip && a.pool === p.name)),
    );
    assert.equal(p.ipsUsed, BigInt(distinct.length), `pool ${p.name} used`);
  }
}

for (const seed of [1, 7, 42, 1234]) {
  test(`200 services over 2 pools keep the invariants through changes (seed ${seed})`, () => {
    const rnd = mulberry32(seed);
    const poolA = pool('a', ['10.1.0.0/25', 'fd00::/122'], { created: '2025-01-01T00:00:00Z' });
    const poolB = pool('b', [{ start: '10.1.0.128', stop: '10.1.0.150' }, 'fd00::100/124'], {
      created: '2025-02-01T00:00:00Z',
      selector: { matchLabels: { tier: 'b' } },
    });
    let pools = [poolA, poolB];
    let services = makeServices(rnd, 200);
    let r = allocate(pools, services);
    checkInvariants(pools, services, r);
    assert.ok(r.services.filter((s) => s.ingressIPs.length > 0).length > 100, 'most services get an address');

    for (let round = 0; round < 4; round++) {
      services = applyResult(services, r);
      const again = allocate(pools, services);
      const strip = (x: LBIPAMResult): unknown => x.services.map(({ warnings: _w, ...rest }) => rest);
      assert.deepEqual(strip(again), strip(r), 'writing the result back is a fixed point');
      assert.deepEqual(again.pools, r.pools);
      // Change the world: delete some services, relabel some, add new ones, drop or restore pool b.
      services = services
        .filter(() => rnd() > 0.15)
        .map((s) =>
          rnd() < 0.1
            ? { ...s, metadata: { ...s.metadata!, labels: s.metadata!.labels?.['tier'] ? {} : { tier: 'b' } } }
            : s,
        );
      services.push(
        ...makeServices(rnd, 30, false).map((s) => ({
          ...s,
          metadata: { ...s.metadata!, name: `${s.metadata!.name}-r${round}` },
        })),
      );
      pools = round % 2 === 0 ? [poolA] : [poolA, poolB];
      const before = new Map(r.services.map((s) => [s.key, s]));
      r = allocate(pools, services);
      checkInvariants(pools, services, r);
      // Nothing reshuffles: an address still valid for its service stays with it.
      for (const s of r.services) {
        const prev = before.get(s.key);
        if (!prev) continue;
        for (const a of prev.allocations) {
          const stillValid = pools.some((p) => p.metadata.name === a.pool) && a.pool === 'a';
          if (stillValid && a.sharedWith.length === 0) assert.ok(s.ingressIPs.includes(a.ip), `${s.key} lost ${a.ip}`);
        }
      }
    }
  });
}
