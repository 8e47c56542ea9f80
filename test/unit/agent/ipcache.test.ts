// The ipcache's pure core: cluster state in, prefix → identity out. A table of cases, each a
// situation a user would recognise (a pod on another node, a node address, a CIDR rule, …).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredIpcache, desiredIpcacheEntries, type IpcacheInput } from '../../../src/agent/ipcache.ts';
import { LOCAL_IDENTITY_FLAG, ReservedIdentity } from '../../../src/policy/index.ts';

const HOST = ReservedIdentity.HOST;
const REMOTE_NODE = ReservedIdentity.REMOTE_NODE;
const CIDR_1 = LOCAL_IDENTITY_FLAG | 1;

const base: IpcacheInput = {
  nodeName: 'node-1',
  nodes: [],
  ciliumEndpoints: [],
  localEndpoints: [],
  cidrIdentities: new Map(),
};
const node = (name: string, ...addresses: Array<[string, string]>) => ({
  metadata: { name },
  status: { addresses: addresses.map(([type, address]) => ({ type, address })) },
});
const cep = (id: number | undefined, ...ips: string[]) => ({
  status: {
    ...(id ? { identity: { id } } : {}),
    networking: { addressing: ips.map((ip) => (ip.includes(':') ? { ipv6: ip } : { ipv4: ip })) },
  },
});

const cases: Array<{ name: string; input: Partial<IpcacheInput>; want: Array<[string, number]> }> = [
  { name: 'an empty cluster has an empty ipcache', input: {}, want: [] },
  {
    name: "this node's addresses are the host, other nodes' are remote-node; Hostname is not an address",
    input: {
      nodes: [
        node('node-1', ['InternalIP', '192.168.1.1'], ['Hostname', 'node-1']),
        node('node-2', ['InternalIP', '192.168.1.2'], ['ExternalIP', '203.0.113.2']),
      ],
    },
    want: [
      ['192.168.1.1/32', HOST],
      ['192.168.1.2/32', REMOTE_NODE],
      ['203.0.113.2/32', REMOTE_NODE],
    ],
  },
  {
    name: 'CiliumEndpoints of every node map their IPv4 and IPv6 addresses to their identity',
    input: { ciliumEndpoints: [cep(1234, '10.0.2.5', 'fd00::5'), cep(4321, '10.0.3.7')] },
    want: [
      ['10.0.2.5/32', 1234],
      ['fd00::5/128', 1234],
      ['10.0.3.7/32', 4321],
    ],
  },
  {
    name: 'a CiliumEndpoint without an identity yet is left out',
    input: { ciliumEndpoints: [cep(undefined, '10.0.2.9')] },
    want: [],
  },
  {
    name: "a local endpoint is known first-hand, and wins over its CiliumEndpoint's older identity",
    input: { ciliumEndpoints: [cep(1000, '10.0.1.5')], localEndpoints: [{ ip: '10.0.1.5', identity: 2000 }] },
    want: [['10.0.1.5/32', 2000]],
  },
  {
    name: "the pod CIDR's router address (cilium_host) is the host",
    input: { podCidr: '10.0.1.0/24' },
    want: [['10.0.1.1/32', HOST]],
  },
  {
    name: 'CIDR identities keep their prefix; a bare address becomes a host prefix',
    input: {
      cidrIdentities: new Map([
        ['192.0.2.0/24', CIDR_1],
        ['198.51.100.7', CIDR_1 + 1],
        ['2001:db8::1', CIDR_1 + 2],
      ]),
    },
    want: [
      ['192.0.2.0/24', CIDR_1],
      ['198.51.100.7/32', CIDR_1 + 1],
      ['2001:db8::1/128', CIDR_1 + 2],
    ],
  },
  {
    name: 'a /32 CIDR rule naming a node address yields to the node (nodes come after CIDRs)',
    input: {
      cidrIdentities: new Map([['192.168.1.2/32', CIDR_1]]),
      nodes: [node('node-2', ['InternalIP', '192.168.1.2'])],
    },
    want: [['192.168.1.2/32', REMOTE_NODE]],
  },
];

for (const c of cases) {
  test(`ipcache: ${c.name}`, () => {
    const got = desiredIpcache({ ...base, ...c.input });
    assert.deepEqual([...got].sort(), [...c.want].sort());
  });
}

test('ipcache: an IPv6 pod CIDR is refused (not supported yet), not silently mapped', () => {
  assert.throws(() => desiredIpcache({ ...base, podCidr: 'fd00::/64' }), /IPv6 pod CIDRs are not supported/);
});

// Across nodes: each entry also names the node it lives behind (the tunnel endpoint).
const ciliumNode = (name: string, internalIP: string, podCIDRs: string[], routerIp?: string) => ({
  metadata: { name },
  spec: {
    addresses: [
      { type: 'InternalIP', ip: internalIP },
      ...(routerIp ? [{ type: 'CiliumInternalIP', ip: routerIp }] : []),
    ],
    ipam: { podCIDRs },
  },
});
const cepOn = (nodeField: string, id: number, ip: string) => ({
  status: { identity: { id }, networking: { addressing: [{ ipv4: ip }], node: nodeField } },
});
const twoNodes: Partial<IpcacheInput> = {
  nodes: [node('node-1', ['InternalIP', '172.31.240.11']), node('node-2', ['InternalIP', '172.31.240.12'])],
  ciliumNodes: [
    ciliumNode('node-1', '172.31.240.11', ['10.1.1.0/24'], '10.1.1.1'),
    ciliumNode('node-2', '172.31.240.12', ['10.1.2.0/24'], '10.1.2.1'),
  ],
  podCidr: '10.1.1.0/24',
};
const REMOTE_POD = 4242;
const LOCAL_POD = 4343;

const crossNodeCases: Array<{
  name: string;
  input: Partial<IpcacheInput>;
  want: Array<[string, number, string | null]>;
}> = [
  {
    name: "another node's pod CIDR is world behind that node; its router address is that node, through the tunnel",
    input: twoNodes,
    want: [
      ['10.1.2.0/24', ReservedIdentity.WORLD, '172.31.240.12'],
      ['10.1.2.1/32', REMOTE_NODE, '172.31.240.12'],
      ['172.31.240.12/32', REMOTE_NODE, null],
      ['172.31.240.11/32', HOST, null],
      ['10.1.1.1/32', HOST, null],
    ],
  },
  {
    name: "a remote pod is its identity behind its node (CiliumEndpoint's node by name or by address); a local one is not",
    input: {
      ...twoNodes,
      ciliumEndpoints: [
        cepOn('node-2', REMOTE_POD, '10.1.2.5'),
        cepOn('172.31.240.12', REMOTE_POD, '10.1.2.6'),
        cepOn('node-1', LOCAL_POD, '10.1.1.5'),
      ],
    },
    want: [
      ['10.1.2.0/24', ReservedIdentity.WORLD, '172.31.240.12'],
      ['10.1.2.1/32', REMOTE_NODE, '172.31.240.12'],
      ['172.31.240.12/32', REMOTE_NODE, null],
      ['172.31.240.11/32', HOST, null],
      ['10.1.1.1/32', HOST, null],
      ['10.1.2.5/32', REMOTE_POD, '172.31.240.12'],
      ['10.1.2.6/32', REMOTE_POD, '172.31.240.12'],
      ['10.1.1.5/32', LOCAL_POD, null],
    ],
  },
  {
    name: 'a node known only by its CiliumNode still gives its pods a tunnel endpoint; one unknown gives none',
    input: {
      ciliumNodes: [ciliumNode('node-3', '172.31.240.13', ['10.1.3.0/24'])],
      ciliumEndpoints: [cepOn('node-3', REMOTE_POD, '10.1.3.5'), cepOn('node-9', REMOTE_POD, '10.1.9.5')],
    },
    want: [
      ['10.1.3.0/24', ReservedIdentity.WORLD, '172.31.240.13'],
      ['172.31.240.13/32', REMOTE_NODE, null],
      ['10.1.3.5/32', REMOTE_POD, '172.31.240.13'],
      ['10.1.9.5/32', REMOTE_POD, null],
    ],
  },
  {
    name: "per-node identities replace remote-node for that node's addresses",
    input: { ...twoNodes, nodeIdentities: new Map([['node-2', 0x02000001]]) },
    want: [
      ['10.1.2.0/24', ReservedIdentity.WORLD, '172.31.240.12'],
      ['10.1.2.1/32', 0x02000001, '172.31.240.12'],
      ['172.31.240.12/32', 0x02000001, null],
      ['172.31.240.11/32', HOST, null],
      ['10.1.1.1/32', HOST, null],
    ],
  },
  {
    name: "a CIDR rule naming another node's pod CIDR takes the identity and keeps the tunnel endpoint",
    input: { ...twoNodes, cidrIdentities: new Map([['10.1.2.0/24', CIDR_1]]) },
    want: [
      ['10.1.2.0/24', CIDR_1, '172.31.240.12'],
      ['10.1.2.1/32', REMOTE_NODE, '172.31.240.12'],
      ['172.31.240.12/32', REMOTE_NODE, null],
      ['172.31.240.11/32', HOST, null],
      ['10.1.1.1/32', HOST, null],
    ],
  },
];

for (const c of crossNodeCases) {
  test(`ipcache across nodes: ${c.name}`, () => {
    const got = desiredIpcacheEntries({ ...base, ...c.input });
    const rows = [...got].map(([prefix, e]) => [prefix, e.identity, e.tunnelEndpoint]);
    assert.deepEqual(rows.sort(), [...c.want].sort());
  });
}
