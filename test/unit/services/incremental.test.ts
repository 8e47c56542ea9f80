// The incremental table against the full one: after every step of random change sequences (Services,
// slices, hostPort pods, node addresses; small address pools so objects fight over frontends), the
// incremental entries and conflicts equal buildServiceTable's on the same objects; a change to one
// Service of many reports only that Service's frontends.
import assert from 'node:assert/strict';
import test from 'node:test';
import { buildServiceTable, frontendKey } from '../../../src/services/index.ts';
import { IncrementalServiceTable, objectKey } from '../../../src/services/incremental.ts';
import type { EndpointSliceInput, NodeInput, PodInput, ServiceInput } from '../../../src/services/types.ts';
import { ep, NODE, pod, slice, svc } from './fixtures.ts';

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

const CLUSTER_IPS = ['10.96.0.10', '10.96.0.11', '10.96.0.12'];
const EXTERNAL = ['198.51.100.7', '192.168.1.10'];
const NODES: NodeInput[] = [
  NODE,
  { name: 'n1', addresses: ['192.168.1.10'] },
  { name: 'n1', addresses: ['192.168.1.11'] },
];
const NAMES = ['a', 'b', 'c', 'd'];

function randomService(r: (n: number) => number, name: string): ServiceInput {
  const types = ['ClusterIP', 'NodePort', 'LoadBalancer'];
  const type = types[r(3)]!;
  return svc('demo', name, {
    type,
    clusterIP: CLUSTER_IPS[r(3)]!,
    ports: r(2) ? [80] : [80, { name: 'h', port: 443, protocol: 'TCP', nodePort: 30443 }],
    ...(r(2) ? { externalIPs: [EXTERNAL[r(2)]!] } : {}),
    ...(type === 'LoadBalancer' ? { ingress: [{ ip: EXTERNAL[r(2)]! }] } : {}),
    ...(r(3) === 0 ? { etp: 'Local' } : {}),
    ...(r(4) === 0 ? { affinity: 'ClientIP' } : {}),
    created: `2026-01-0${1 + r(3)}T00:00:00Z`,
  });
}

function randomSlice(r: (n: number) => number, service: string, name: string): EndpointSliceInput {
  const eps = Array.from({ length: r(4) }, (_, i) =>
    ep(`10.244.${r(2)}.${1 + i + r(3)}`, { node: r(2) ? 'n1' : 'n2', ready: r(3) !== 0, terminating: r(4) === 0 }),
  );
  return slice('demo', service, eps, {
    name,
    ports: [
      { port: 8080, protocol: 'TCP' },
      { name: 'h', port: 8443, protocol: 'TCP' },
    ],
  });
}

function randomPod(r: (n: number) => number, name: string): PodInput {
  return pod('demo', name, {
    ips: [`10.244.1.${20 + r(5)}`],
    ports: [
      { containerPort: 80, hostPort: [80, 443][r(2)]!, protocol: 'TCP', ...(r(2) ? { hostIP: EXTERNAL[r(2)]! } : {}) },
    ],
    created: `2026-01-0${1 + r(3)}T00:00:00Z`,
  });
}

test('incremental == full after every step of random change sequences', () => {
  let contested = 0;
  for (let seed = 1; seed <= 40; seed++) {
    const r = rng(seed);
    const services = new Map<string, ServiceInput>();
    const slices = new Map<string, EndpointSliceInput>();
    const pods = new Map<string, PodInput>();
    let node = NODES[0]!;
    const inc = new IncrementalServiceTable(node);
    for (let step = 0; step < 60; step++) {
      const what = r(8);
      const name = NAMES[r(NAMES.length)]!;
      if (what <= 2) {
        const s = r(4) === 0 ? undefined : randomService(r, name);
        if (s) services.set(`demo/${name}`, s);
        else services.delete(`demo/${name}`);
        inc.setService(`demo/${name}`, s);
      } else if (what <= 5) {
        const sliceName = `${name}-${r(2)}`;
        // a slice may move to another Service (its label changes) or go
        const owner = r(5) === 0 ? NAMES[r(NAMES.length)]! : name;
        const sl = r(4) === 0 ? undefined : randomSlice(r, owner, sliceName);
        if (sl) slices.set(`demo/${sliceName}`, sl);
        else slices.delete(`demo/${sliceName}`);
        inc.setSlice(`demo/${sliceName}`, sl);
      } else if (what === 6) {
        const p = r(3) === 0 ? undefined : randomPod(r, `p${name}`);
        if (p) pods.set(`demo/p${name}`, p);
        else pods.delete(`demo/p${name}`);
        inc.setPod(`demo/p${name}`, p);
      } else {
        node = NODES[r(NODES.length)]!;
        inc.setNode(node);
      }
      if (r(3) === 0 && step < 59) continue; // several changes gathered into one flush
      const before = new Map(inc.entries().map((e) => [frontendKey(e.frontend), JSON.stringify(e)]));
      const changes = inc.flush();
      const full = buildServiceTable({
        services: [...services.values()],
        endpointSlices: [...slices.values()],
        pods: [...pods.values()],
        node,
      });
      const ctx = `seed ${seed} step ${step}`;
      assert.deepEqual(inc.entries(), full.entries, ctx);
      assert.deepEqual(inc.conflicts(), full.conflicts, ctx);
      if (full.conflicts.length) contested++;
      // what flush reported is exactly what differs from before
      const after = new Map(full.entries.map((e) => [frontendKey(e.frontend), JSON.stringify(e)]));
      const differ = new Set([...before.keys(), ...after.keys()].filter((k) => before.get(k) !== after.get(k)));
      assert.deepEqual(new Set(changes.keys()), differ, ctx);
    }
  }
  assert.ok(contested > 100, `the sequences exercise conflicts (${contested} steps had some)`);
});

test('a change to one Service of many recomputes and reports only its frontends', () => {
  const inc = new IncrementalServiceTable(NODE);
  for (let i = 0; i < 200; i++) {
    const s = svc('demo', `s${i}`, { clusterIP: `10.96.1.${i}` });
    inc.setService(objectKey(s), s);
    const sl = slice('demo', `s${i}`, [ep(`10.244.2.${i}`)], { name: `s${i}-a` });
    inc.setSlice(objectKey(sl), sl);
  }
  assert.equal(inc.flush().size, 200);
  const sl = slice('demo', 's7', [ep('10.244.2.7'), ep('10.244.3.7')], { name: 's7-a' });
  inc.setSlice(objectKey(sl), sl);
  assert.equal(inc.dirty, 1);
  const changes = inc.flush();
  assert.deepEqual([...changes.keys()], ['10.96.1.7|80|TCP|external']);
  assert.equal(changes.get('10.96.1.7|80|TCP|external')?.backends.length, 2);
  // the same object again changes nothing
  inc.setSlice(objectKey(sl), sl);
  assert.equal(inc.flush().size, 0);
});
