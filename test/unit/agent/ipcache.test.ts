// The ipcache's pure core: cluster state in, prefix → identity out. A table of cases, each a
// situation a user would recognise (a pod on another node, a node address, a CIDR rule, …).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredIpcache, type IpcacheInput } from '../../../src/agent/ipcache.ts';
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
