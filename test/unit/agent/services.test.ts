// The services part's glue: table entries + ids → the LbService list the writer takes (ids kept
// across a restart, as read back from the maps), the features status shows, and the part's
// behaviour around the writer: restore before any write, changes gathered into one sync, a failing
// sync retried with backoff and visible in status and metrics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import type { LbService, LbSyncResult } from '../../../src/datapath/lb.ts';
import { featuresInUse, idsFromRestored, nodeAddresses, planLbServices } from '../../../src/agent/lb-services.ts';
import { ServicesPart, type LbWriter } from '../../../src/agent/services.ts';
import type { WatchedKinds, WatchHandler, WatchName } from '../../../src/agent/watchers.ts';
import { logger } from '../../../src/lib/log.ts';
import type { ServiceEntry } from '../../../src/services/index.ts';

const entry = (address: string, port: number, backends: string[], extra: Partial<ServiceEntry> = {}): ServiceEntry => ({
  service: { namespace: 'demo', name: `svc-${port}` },
  portName: '',
  frontend: { address, port, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
  backends: backends.map((b) => ({
    address: b,
    port: 8080,
    protocol: 'TCP',
    state: 'active',
    pod: { namespace: 'demo', name: `pod-${b}` },
  })),
  sourceRanges: [],
  externalTrafficLocal: false,
  internalTrafficLocal: false,
  ...extra,
});

test('every frontend and backend gets an id; a backend shared by two frontends has one id', () => {
  const plan = planLbServices(
    [entry('10.96.0.10', 80, ['10.0.0.1', '10.0.0.2']), entry('10.96.0.11', 80, ['10.0.0.2'])],
    { services: new Map(), backends: new Map() },
  );
  assert.deepEqual(
    plan.services.map((s) => [s.id, s.frontend.address, s.backends.map((b) => b.id)]),
    [
      [1, '10.96.0.10', [1, 2]],
      [2, '10.96.0.11', [2]],
    ],
  );
  assert.deepEqual(plan.exhausted, []);
  assert.equal(plan.services[0]!.affinityTimeoutSec, undefined);
});

test('ids restored from the maps are kept: a restarted agent writes the same numbers', () => {
  const restored: LbService[] = [
    {
      id: 7,
      frontend: { address: '10.96.0.11', port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: [{ id: 42, address: '10.0.0.2', port: 8080, protocol: 'TCP', state: 'active' }],
      sourceRanges: [],
    },
  ];
  const ids = idsFromRestored(restored);
  const plan = planLbServices(
    [entry('10.96.0.10', 80, ['10.0.0.1', '10.0.0.2']), entry('10.96.0.11', 80, ['10.0.0.2'])],
    ids,
  );
  const byAddr = new Map(plan.services.map((s) => [s.frontend.address, s]));
  assert.equal(byAddr.get('10.96.0.11')?.id, 7);
  assert.equal(byAddr.get('10.96.0.10')?.id, 1);
  assert.deepEqual(
    byAddr.get('10.96.0.10')?.backends.map((b) => [b.address, b.id]),
    [
      ['10.0.0.1', 1],
      ['10.0.0.2', 42],
    ],
  );
});

test('affinity, source ranges and traffic policies are carried to the writer', () => {
  const [svc] = planLbServices(
    [
      entry('10.96.0.10', 80, ['10.0.0.1'], {
        sessionAffinityTimeoutSec: 30,
        sourceRanges: ['192.0.2.0/24'],
        externalTrafficLocal: true,
      }),
    ],
    { services: new Map(), backends: new Map() },
  ).services;
  assert.equal(svc?.affinityTimeoutSec, 30);
  assert.deepEqual(svc?.sourceRanges, ['192.0.2.0/24']);
  assert.equal(svc?.externalTrafficLocal, true);
  assert.equal(svc?.internalTrafficLocal, false);
});

test('features in use, in Cilium order; node addresses are the InternalIPs and ExternalIPs', () => {
  const plan = planLbServices(
    [
      entry('10.96.0.10', 80, ['10.0.0.1'], { sessionAffinityTimeoutSec: 10 }),
      {
        ...entry('192.168.1.1', 30080, ['10.0.0.1']),
        frontend: { address: '192.168.1.1', port: 30080, protocol: 'TCP', type: 'NodePort', scope: 'external' },
      },
    ],
    { services: new Map(), backends: new Map() },
  );
  assert.deepEqual(featuresInUse(plan.services, false), ['ClusterIP', 'NodePort', 'SessionAffinity']);
  assert.deepEqual(featuresInUse([], true), ['SocketLB']);
  assert.deepEqual(
    nodeAddresses({
      status: {
        addresses: [
          { type: 'Hostname', address: 'node-1' },
          { type: 'InternalIP', address: '192.168.1.1' },
          { type: 'ExternalIP', address: '203.0.113.1' },
        ],
      },
    }),
    ['192.168.1.1', '203.0.113.1'],
  );
  assert.deepEqual(nodeAddresses(undefined), []);
});

// --- the part, with a fake watch and a fake writer ---

class FakeWatch {
  readonly objs: { [K in WatchName]?: WatchedKinds[K][] } = {};
  readonly handlers = new Map<WatchName, Array<WatchHandler<never>>>();
  on<K extends WatchName>(name: K, handler: WatchHandler<WatchedKinds[K]>): void {
    this.handlers.set(name, [...(this.handlers.get(name) ?? []), handler]);
  }
  get<K extends WatchName>(name: K, objName: string): WatchedKinds[K] | undefined {
    return this.objs[name]?.find((o) => o.metadata?.name === objName);
  }
  list<K extends WatchName>(name: K): readonly WatchedKinds[K][] {
    return this.objs[name] ?? [];
  }
  emit<K extends WatchName>(name: K, obj: WatchedKinds[K]): void {
    for (const h of this.handlers.get(name) ?? []) (h as WatchHandler<WatchedKinds[K]>)('add', obj);
  }
}

class FakeWriter implements LbWriter {
  readonly calls: string[] = [];
  failNext = 0;
  held: LbService[] = [];
  sync(services: readonly LbService[]): LbSyncResult {
    this.calls.push(`sync ${services.length}`);
    if (this.failNext > 0) {
      this.failNext--;
      throw new Error('map full');
    }
    this.held = [...services];
    return { added: services.length, changed: 0, removed: 0, unchanged: 0, maglevReplaced: 0 };
  }
  restore(): LbService[] {
    this.calls.push('restore');
    return this.held;
  }
}

const service = {
  metadata: { namespace: 'demo', name: 'web' },
  spec: {
    type: 'ClusterIP',
    clusterIP: '10.96.0.20',
    clusterIPs: ['10.96.0.20'],
    ports: [{ port: 80, protocol: 'TCP', targetPort: 8080 }],
  },
};
const slice = {
  metadata: { namespace: 'demo', name: 'web-abc', labels: { 'kubernetes.io/service-name': 'web' } },
  addressType: 'IPv4',
  endpoints: [
    {
      addresses: ['10.0.0.5'],
      conditions: { ready: true },
      targetRef: { kind: 'Pod', namespace: 'demo', name: 'web-1' },
    },
  ],
  ports: [{ port: 8080, protocol: 'TCP' }],
};

test('the part restores before writing, gathers changes into one sync, names what it wrote', async () => {
  const watch = new FakeWatch();
  const writer = new FakeWriter();
  writer.held = [
    {
      id: 9,
      frontend: { address: '10.96.0.20', port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: [{ id: 3, address: '10.0.0.5', port: 8080, protocol: 'TCP', state: 'active' }],
      sourceRanges: [],
    },
  ];
  const registry = new Registry();
  const part = new ServicesPart({ nodeName: 'n1', log: logger('test'), watch, lb: () => writer, registry, delayMs: 5 });
  watch.objs.services = [service];
  watch.objs.endpointslices = [slice];
  await part.start();
  assert.deepEqual(writer.calls, ['restore', 'sync 1']);
  assert.equal(writer.held[0]?.id, 9, 'the restored rev-NAT id is kept');
  assert.equal(writer.held[0]?.backends[0]?.id, 3, 'the restored backend id is kept');
  watch.emit('services', service);
  watch.emit('endpointslices', slice);
  assert.equal(part.pending, true);
  await part.idle();
  assert.deepEqual(writer.calls, ['restore', 'sync 1', 'sync 1']);
  assert.deepEqual(
    [part.serviceByRevNat(9)?.namespace, part.serviceByRevNat(9)?.name, part.serviceByRevNat(9)?.backends[0]?.pod],
    ['demo', 'web', { namespace: 'demo', name: 'web-1' }],
  );
  assert.equal(part.serviceByFrontend('10.96.0.20', 80, 'TCP')?.id, 9);
  assert.deepEqual(
    part.serviceFrontends('demo', 'web').map((s) => s.id),
    [9],
  );
  const kpr = part.kubeProxyReplacement();
  assert.deepEqual(
    [kpr.enabled, kpr.features, kpr.services, kpr.backends, kpr.error],
    [true, ['ClusterIP'], 1, 1, null],
  );
  assert.match(await registry.metrics(), /cilium_services_events_total\{action="add"\} 1/);
  await part.stop();
});

test('a failing sync is retried with backoff, shows in status and counts in the error metric', async () => {
  const watch = new FakeWatch();
  const writer = new FakeWriter();
  writer.failNext = 2;
  const registry = new Registry();
  const part = new ServicesPart({ nodeName: 'n1', log: logger('test'), watch, lb: () => writer, registry, delayMs: 5 });
  watch.objs.services = [service];
  watch.objs.endpointslices = [slice];
  await part.start();
  assert.equal(part.kubeProxyReplacement().error, 'map full');
  assert.equal(part.kubeProxyReplacement().lastSync, null);
  const deadline = Date.now() + 2000;
  while (writer.calls.filter((c) => c.startsWith('sync')).length < 3) {
    assert.ok(Date.now() < deadline, `no retry: ${writer.calls.join(', ')}`);
    await new Promise((r) => setTimeout(r, 5));
  }
  assert.equal(part.kubeProxyReplacement().error, null);
  assert.notEqual(part.kubeProxyReplacement().lastSync, null);
  assert.match(await registry.metrics(), /cilium_ts_service_sync_errors_total 2/);
  await part.stop();
});

test('the frontend lookup (asked once per flow) follows a Service whose address changes', async () => {
  const watch = new FakeWatch();
  const writer = new FakeWriter();
  const part = new ServicesPart({ nodeName: 'n1', log: logger('test'), watch, lb: () => writer, delayMs: 5 });
  watch.objs.services = [service];
  watch.objs.endpointslices = [slice];
  await part.start();
  const before = part.serviceByFrontend('10.96.0.20', 80, 'TCP');
  assert.equal(before?.name, 'web');
  assert.equal(part.serviceByFrontend('10.96.0.20', 81, 'TCP'), undefined, 'another port is not this Service');
  const moved = { ...service, spec: { ...service.spec, clusterIP: '10.96.0.21', clusterIPs: ['10.96.0.21'] } };
  watch.objs.services = [moved];
  watch.emit('services', moved);
  await part.idle();
  assert.equal(part.serviceByFrontend('10.96.0.20', 80, 'TCP'), undefined, 'the old address names no Service');
  assert.equal(part.serviceByFrontend('10.96.0.21', 80, 'TCP')?.name, 'web');
  await part.stop();
});
