// Per-node identities (Cilium's node-selector labels): a rule selecting one node by its labels opens
// that node only, while the remote-node entity still matches every remote node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeIdentities } from '../../../src/agent/node-identities.ts';
import { desiredIpcache } from '../../../src/agent/ipcache.ts';
import { policyMapEntries } from '../../../src/datapath/policy-encoding.ts';
import { REMOTE_NODE_IDENTITY_SCOPE, ReservedIdentity } from '../../../src/policy/index.ts';
import { buildCluster, cnp, engineFor } from '../policy/fixtures.ts';

const hostname = (n: string) => ({ 'kubernetes.io/hostname': n });
const sel = (pod: string) => ({ matchLabels: { pod } });

function setup() {
  const cl = buildCluster();
  const e = engineFor(cl, []);
  const ids = new NodeIdentities('node-1');
  for (const n of ['node-1', 'node-2', 'node-3']) ids.upsert(e, n, { ...hostname(n), zone: 'a' });
  return { cl, e, ids };
}

/** The peer identities x/a's policy allows in a direction. */
function peers(e: ReturnType<typeof setup>['e'], ep: number, dir: 'ingress' | 'egress'): number[] {
  const pol = e.policyOf(ep);
  assert.ok(pol);
  return [...new Set(pol.specs.filter((s) => s.direction === dir && !s.deny).map((s) => s.identity))].sort(
    (a, b) => a - b,
  );
}

test('node identities: this node is host, every other node its own identity in the remote-node scope', () => {
  const { ids } = setup();
  assert.equal(ids.identityOf('node-1'), ReservedIdentity.HOST);
  const n2 = ids.identityOf('node-2');
  const n3 = ids.identityOf('node-3');
  assert.notEqual(n2, n3);
  for (const id of [n2, n3]) assert.equal(id & 0xff000000, REMOTE_NODE_IDENTITY_SCOPE);
  assert.equal(ids.identityOf('unknown'), ReservedIdentity.REMOTE_NODE);
});

test('node identities: the identity carries reserved:remote-node and the node labels with source node', () => {
  const { e, ids } = setup();
  const labels = e.identities().get(ids.identityOf('node-2'));
  assert.deepEqual(labels, {
    'reserved:remote-node': '',
    'node:kubernetes.io/hostname': 'node-2',
    'node:zone': 'a',
  });
});

test('node identities: toNodes with a hostname selector opens node-2 only; remote-node opens all', () => {
  const { cl, e, ids } = setup();
  const n2 = ids.identityOf('node-2');
  const n3 = ids.identityOf('node-3');
  e.upsertPolicy(
    cnp('x', 'to-node-2', { endpointSelector: sel('a'), egress: [{ toNodes: [{ matchLabels: hostname('node-2') }] }] }),
  );
  assert.deepEqual(peers(e, cl.ep('x/a'), 'egress'), [n2]);
  assert.ok(policyMapEntries(e.policyOf(cl.ep('x/a'))).some((x) => x.key.identity === n2));
  e.upsertPolicy(cnp('x', 'from-nodes', { endpointSelector: sel('b'), ingress: [{ fromEntities: ['remote-node'] }] }));
  // (host: allow-localhost, the kubelet's probes)
  assert.deepEqual(peers(e, cl.ep('x/b'), 'ingress'), [ReservedIdentity.HOST, ReservedIdentity.REMOTE_NODE, n2, n3]);
  // A selector naming this node selects the host.
  e.upsertPolicy(
    cnp('x', 'to-self', { endpointSelector: sel('c'), egress: [{ toNodes: [{ matchLabels: hostname('node-1') }] }] }),
  );
  assert.deepEqual(peers(e, cl.ep('x/c'), 'egress'), [ReservedIdentity.HOST]);
});

test('node identities: relabelling a node moves it to a new identity; deleting it releases the identity', () => {
  const { cl, e, ids } = setup();
  e.upsertPolicy(
    cnp('x', 'zone-b', { endpointSelector: sel('a'), egress: [{ toNodes: [{ matchLabels: { zone: 'b' } }] }] }),
  );
  assert.deepEqual(peers(e, cl.ep('x/a'), 'egress'), []);
  const before = ids.identityOf('node-3');
  const changed = ids.upsert(e, 'node-3', { ...hostname('node-3'), zone: 'b' });
  assert.ok(changed.includes(cl.ep('x/a')), 'the rule selecting zone b now selects node-3: x/a is recomputed');
  const after = ids.identityOf('node-3');
  assert.notEqual(after, before);
  assert.equal(e.identities().has(before), false, 'the old identity is released');
  assert.deepEqual(peers(e, cl.ep('x/a'), 'egress'), [after]);
  ids.delete(e, 'node-3');
  assert.equal(e.identities().has(after), false);
  assert.deepEqual(peers(e, cl.ep('x/a'), 'egress'), []);
  assert.equal(ids.entries().has('node-3'), false);
});

test('node identities: the ipcache maps each remote node address to its node identity', () => {
  const { ids } = setup();
  const node = (name: string, ip: string) => ({
    metadata: { name },
    status: { addresses: [{ type: 'InternalIP', address: ip }] },
  });
  const got = desiredIpcache({
    nodeName: 'node-1',
    nodes: [node('node-1', '172.31.240.11'), node('node-2', '172.31.240.12'), node('node-3', '172.31.240.13')],
    nodeIdentities: ids.entries(),
    ciliumEndpoints: [],
    localEndpoints: [],
    cidrIdentities: new Map(),
  });
  assert.deepEqual(
    [...got].sort(),
    [
      ['172.31.240.11/32', ReservedIdentity.HOST],
      ['172.31.240.12/32', ids.identityOf('node-2')],
      ['172.31.240.13/32', ids.identityOf('node-3')],
    ].sort(),
  );
});
