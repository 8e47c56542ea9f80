// A stand-in for the agent's local API (src/agent/api.ts) for the CLI start-up bench: the same
// paths and JSON shapes (src/cli/agent-wire.ts) on a unix socket, so `status`, `endpoint list`
// and `policy get` run end to end without a lab.
import { createServer } from 'node:http';
import type { EndpointResponse, PolicyListResponse, StatusResponse } from '../src/cli/agent-wire.ts';

const endpoints: EndpointResponse[] = [
  { name: 'web', app: 'web', identity: 4711 },
  { name: 'db', app: 'db', identity: 4712 },
  { name: 'client', app: 'client', identity: 4713 },
].map((p, i) => ({
  id: 100 + i,
  namespace: 'demo',
  pod: p.name,
  identity: p.identity,
  state: 'ready',
  ip: `10.200.0.${10 + i}`,
  ingress: p.name === 'db',
  egress: false,
  labels: [`k8s:app=${p.app}`, 'k8s:io.kubernetes.pod.namespace=demo'],
}));

const status: StatusResponse = {
  node: 'bench-node',
  agent: 'ok',
  kubernetes: ['pods', 'namespaces', 'nodes', 'ciliumnode', 'cep', 'cnp', 'ccnp', 'netpol'].map((watch) => ({
    watch,
    synced: true,
    error: null,
  })),
  datapath: { mode: 'tc (bpf_lxc on each pod veth)', pinRoot: '/sys/fs/bpf/cilium-ts', podCidr: '10.200.0.0/24' },
  enforcementMode: 'default',
  endpoints: { total: 3, ready: 3, enforcingIngress: 1, enforcingEgress: 0 },
  identities: 12,
  policies: 1,
  maps: [
    { name: 'cilium_ipcache', entries: 14, maxEntries: 512000, pressure: 14 / 512000 },
    { name: 'cilium_policy', entries: 9, maxEntries: 65536, pressure: 9 / 65536 },
  ],
  flows: {
    capacity: 4095,
    size: 22,
    seen: 22,
    overwritten: 0,
    lostKernel: 0,
    lostFollowers: 0,
    followers: 0,
    address: '0.0.0.0:4245',
    rate: 1.3,
  },
};

const policy: PolicyListResponse = {
  policies: [{ kind: 'CiliumNetworkPolicy', namespace: 'demo', name: 'db-from-web', revision: '42', rules: 1 }],
  notes: [],
};

const routes: Record<string, unknown> = { '/v1/status': status, '/v1/endpoint': endpoints, '/v1/policy': policy };

export interface FakeAgent {
  close(): Promise<void>;
}

export async function startFakeAgent(socketPath: string): Promise<FakeAgent> {
  const server = createServer((req, res) => {
    const body = routes[new URL(req.url ?? '/', 'http://agent').pathname];
    res.writeHead(body === undefined ? 404 : 200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body ?? { error: `no such path ${req.url}` }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, resolve);
  });
  return {
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
