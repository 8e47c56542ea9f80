// Native routing's pure core: which routes to the other nodes' pod CIDRs a node wants, and what to
// change from the routes it has; and how `cilium-ts status` prints routing and node reachability.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredNodeRoutes, diffNodeRoutes } from '../../../src/agent/routing.ts';
import { probeTargets } from '../../../src/agent/cluster-health.ts';
import { clusterHealthLine, renderStatus, routingLine } from '../../../src/cli/status.ts';
import type { StatusResponse } from '../../../src/cli/agent-wire.ts';
import type { RoutingStatus } from '../../../src/agent/types.ts';

const cn = (name: string, ip: string | undefined, podCIDRs: string[]) => ({
  metadata: { name },
  spec: { ...(ip ? { addresses: [{ type: 'InternalIP', ip }] } : {}), ipam: { podCIDRs } },
});
const node = (name: string, ip: string) => ({
  metadata: { name },
  status: { addresses: [{ type: 'InternalIP', address: ip }] },
});

test('routes: every other node with a pod CIDR and an InternalIP, never this node, IPv4 only', () => {
  const got = desiredNodeRoutes({
    nodeName: 'node-1',
    nodes: [node('node-2', '172.31.240.12')],
    ciliumNodes: [
      cn('node-1', '172.31.240.11', ['10.1.1.0/24']),
      cn('node-2', undefined, ['10.1.2.0/24', 'fd00:2::/64']),
      cn('node-3', '172.31.240.13', ['10.1.3.0/24']),
      cn('node-4', '172.31.240.14', []),
      cn('node-5', undefined, ['10.1.5.0/24']),
    ],
  });
  assert.deepEqual(got, [
    { cidr: '10.1.2.0/24', via: '172.31.240.12' },
    { cidr: '10.1.3.0/24', via: '172.31.240.13' },
  ]);
});

test('routes: a changed next hop is replaced, a gone node is removed, the rest untouched', () => {
  const have = [
    { cidr: '10.1.2.0/24', via: '172.31.240.12' },
    { cidr: '10.1.3.0/24', via: '172.31.240.99' },
    { cidr: '10.1.4.0/24', via: '172.31.240.14' },
  ];
  const want = [
    { cidr: '10.1.2.0/24', via: '172.31.240.12' },
    { cidr: '10.1.3.0/24', via: '172.31.240.13' },
    { cidr: '10.1.5.0/24', via: '172.31.240.15' },
  ];
  assert.deepEqual(diffNodeRoutes(have, want), {
    replace: [
      { cidr: '10.1.3.0/24', via: '172.31.240.13' },
      { cidr: '10.1.5.0/24', via: '172.31.240.15' },
    ],
    remove: [{ cidr: '10.1.4.0/24', via: '172.31.240.14' }],
  });
  assert.deepEqual(diffNodeRoutes(want, want), { replace: [], remove: [] });
});

test('cluster health: every node is probed, this one included, at its InternalIP', () => {
  assert.deepEqual(
    probeTargets([node('node-2', '172.31.240.12')], [cn('node-1', '172.31.240.11', []), cn('node-3', undefined, [])]),
    [
      { name: 'node-1', address: '172.31.240.11' },
      { name: 'node-2', address: '172.31.240.12' },
      { name: 'node-3', address: null },
    ],
  );
});

const tunnel: RoutingStatus = {
  mode: 'tunnel',
  tunnelProtocol: 'vxlan',
  tunnelDevice: 'cilium_vxlan',
  autoDirectNodeRoutes: false,
  mtu: 1500,
  podMtu: 1450,
  nodeRoutes: [],
  error: null,
};

test('status: routing as Cilium prints it', () => {
  assert.equal(routingLine(tunnel), 'Network: Tunnel [vxlan]   Host: BPF');
  assert.equal(
    routingLine({ ...tunnel, mode: 'native', tunnelProtocol: null, tunnelDevice: null, podMtu: 1500 }),
    'Network: Native   Host: Legacy',
  );
});

test('status: cluster health N/M reachable with the time of the round; unreachable nodes listed', () => {
  const health = {
    reachable: 1,
    total: 2,
    lastProbe: '2025-01-10T09:24:40.000Z',
    nodes: [
      { name: 'node-1', address: '172.31.240.11', local: true, reachable: true, latencyMs: 0.4, error: null },
      { name: 'node-2', address: '172.31.240.12', local: false, reachable: false, latencyMs: null, error: 'timeout' },
    ],
  };
  assert.equal(clusterHealthLine(health), '1/2 reachable   (2025-01-10T09:24:40.000Z)');
  const status: StatusResponse = {
    node: 'node-1',
    agent: 'ok',
    kubernetes: [],
    datapath: { mode: 'tc', pinRoot: '/sys/fs/bpf/x', podCidr: '10.1.1.0/24' },
    enforcementMode: 'default',
    endpoints: { total: 0, ready: 0, enforcingIngress: 0, enforcingEgress: 0 },
    identities: 0,
    policies: 0,
    maps: [],
    routing: tunnel,
    clusterHealth: health,
  };
  const text = renderStatus(status, false);
  assert.match(text, /^Routing: +Network: Tunnel \[vxlan\] {3}Host: BPF$/m);
  assert.match(text, /^Cluster health: +1\/2 reachable {3}\(2025-01-10T09:24:40\.000Z\)$/m);
  assert.match(text, /^ {2}node-2 +172\.31\.240\.12 +unreachable +timeout$/m);
  assert.doesNotMatch(text, /^ {2}node-1/m, 'reachable nodes only with --verbose');
  assert.match(renderStatus(status, true), /^ {2}node-1 \(localhost\) +172\.31\.240\.11 +reachable +0\.400 ms$/m);
});
