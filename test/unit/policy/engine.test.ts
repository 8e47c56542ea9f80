import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PolicyEngine } from '../../../src/policy/engine.ts';
import { podIdentityLabels, reservedIdentities } from '../../../src/policy/labels.ts';
import { formatRuleRef } from '../../../src/policy/rules.ts';
import { buildCluster, ccnp, cnp, engineFor, netpol, servePorts } from './fixtures.ts';
import { policyMapEntries } from '../../../src/datapath/policy-encoding.ts';

const sel = (pod: string): unknown => ({ matchLabels: { pod } });

test('engine: a policy change recomputes only the endpoints it selects, before and after', () => {
  const cl = buildCluster();
  const e = engineFor(cl, []);
  const n0 = e.recomputations;
  assert.deepEqual(
    e.upsertPolicy(cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [sel('b')] }] })),
    [cl.ep('x/a')],
  );
  assert.equal(e.recomputations - n0, 1);
  // Same content again: recomputed, but nothing changed.
  assert.deepEqual(
    e.upsertPolicy(cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [sel('b')] }] })),
    [],
  );
  // A policy in another namespace for pods that do not exist there selects nothing: no work.
  const n1 = e.recomputations;
  assert.deepEqual(e.upsertPolicy(cnp('y', 'q', { endpointSelector: sel('nobody'), ingress: [{}] })), []);
  assert.equal(e.recomputations, n1);
  // Moving the subject from a to b changes both.
  assert.deepEqual(
    e.upsertPolicy(cnp('x', 'p', { endpointSelector: sel('b'), ingress: [{ fromEndpoints: [sel('c')] }] })),
    [cl.ep('x/a'), cl.ep('x/b')],
  );
  assert.equal(e.policyOf(cl.ep('x/a'))?.enforceIngress, false);
  assert.equal(e.policyOf(cl.ep('x/b'))?.enforceIngress, true);
  // Deleting it frees x/b again.
  assert.deepEqual(e.deletePolicy({ kind: 'CiliumNetworkPolicy', namespace: 'x', name: 'p' }), [cl.ep('x/b')]);
  assert.equal(e.policyOf(cl.ep('x/b'))?.enforceIngress, false);
  // A clusterwide policy reaches every namespace.
  assert.deepEqual(e.upsertPolicy(ccnp('c', { endpointSelector: sel('c'), egress: [{}] })), [
    cl.ep('x/c'),
    cl.ep('y/c'),
    cl.ep('z/c'),
  ]);
});

test('engine: a new identity recomputes only the subjects of rules whose peers select it', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [
    cnp('x', 'from-x', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [{}] }] }),
    cnp('y', 'from-b', {
      endpointSelector: sel('a'),
      ingress: [{ fromEndpoints: [{ matchLabels: { pod: 'b', 'k8s:io.kubernetes.pod.namespace': 'z' } }] }],
    }),
  ]);
  const n0 = e.recomputations;
  const d = podIdentityLabels({ namespace: 'x', podLabels: { pod: 'd' }, namespaceLabels: cl.nsLabels.x });
  assert.deepEqual(e.upsertIdentity(1000, d), [cl.ep('x/a')]);
  assert.equal(e.recomputations - n0, 1);
  assert.ok(policyMapEntries(e.policyOf(cl.ep('x/a'))).some((x) => x.key.identity === 1000));
  // An identity in namespace y with pod=d: no rule's peers select it, nothing is recomputed.
  const n1 = e.recomputations;
  assert.deepEqual(
    e.upsertIdentity(
      1001,
      podIdentityLabels({ namespace: 'y', podLabels: { pod: 'd' }, namespaceLabels: cl.nsLabels.y }),
    ),
    [],
  );
  assert.equal(e.recomputations, n1);
  // Deleting the first one takes it out of x/a's map.
  assert.deepEqual(e.deleteIdentity(1000), [cl.ep('x/a')]);
  assert.ok(!policyMapEntries(e.policyOf(cl.ep('x/a'))).some((x) => x.key.identity === 1000));
});

test('engine: a pod label change (new identity) updates the pod and the rules that select it', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [
    netpol('x', 'to-a', { podSelector: sel('a'), ingress: [{ from: [{ podSelector: sel('b') }] }] }),
    netpol('x', 'isolate-d', { podSelector: sel('d'), policyTypes: ['Ingress'] }),
  ]);
  const xb = cl.endpoints.find((ep) => ep.id === cl.ep('x/b'));
  assert.ok(xb);
  // x/b relabelled pod=d: its new identity, then the endpoint, then the old identity goes away.
  const newId = 2000;
  e.upsertIdentity(
    newId,
    podIdentityLabels({ namespace: 'x', podLabels: { pod: 'd' }, namespaceLabels: cl.nsLabels.x }),
  );
  assert.deepEqual(e.upsertEndpoint({ ...xb, identity: newId }), [cl.ep('x/b')]);
  assert.equal(e.policyOf(cl.ep('x/b'))?.enforceIngress, true, 'now isolated by isolate-d');
  assert.deepEqual(e.deleteIdentity(cl.id('x/b')), [cl.ep('x/a')]);
  assert.equal(e.explain(newId, cl.ep('x/a'), 80, 'TCP').verdict, 'default-denied');
});

test('engine: endpoints with addresses in an ipBlock and named ports of egress peers', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [
    netpol('x', 'ipblock', { podSelector: sel('a'), ingress: [{ from: [{ ipBlock: { cidr: '10.9.0.0/16' } }] }] }),
    cnp('y', 'named', {
      endpointSelector: sel('a'),
      egress: [
        {
          toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'z' } }],
          toPorts: [{ ports: [{ port: 'metrics' }] }],
        },
      ],
    }),
  ]);
  const id = 3000;
  e.upsertIdentity(id, podIdentityLabels({ namespace: 'z', podLabels: { pod: 'm' }, namespaceLabels: cl.nsLabels.z }));
  // A remote pod in the block with a "metrics" port: both rule subjects change.
  assert.deepEqual(
    e.upsertEndpoint({
      id: 500,
      identity: id,
      ips: ['10.9.1.1'],
      namedPorts: [{ name: 'metrics', port: 9090 }],
      local: false,
    }),
    [cl.ep('x/a'), cl.ep('y/a')],
  );
  assert.ok(policyMapEntries(e.policyOf(cl.ep('x/a'))).some((x) => x.key.identity === id && x.key.protocol === 0));
  assert.ok(
    policyMapEntries(e.policyOf(cl.ep('y/a'))).some(
      (x) => x.key.identity === id && x.key.port === 9090 && x.key.protocol === 6,
    ),
  );
  assert.equal(e.policyOf(500), undefined, 'remote endpoints get no policy');
  assert.deepEqual(e.deleteEndpoint(500), [cl.ep('x/a'), cl.ep('y/a')]);
  // Deleting a local endpoint reports it, so the agent drops its map.
  assert.deepEqual(e.deleteEndpoint(cl.ep('z/c')), [cl.ep('z/c')]);
  assert.equal(e.policyOf(cl.ep('z/c')), undefined);
});

test('engine: services and enforcement mode changes', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [
    cnp('x', 'svc', { endpointSelector: sel('a'), egress: [{ toServices: [{ k8sService: { serviceName: 'db' } }] }] }),
  ]);
  assert.deepEqual(policyMapEntries(e.policyOf(cl.ep('x/a'))), []);
  assert.deepEqual(e.upsertService({ namespace: 'x', name: 'db', selector: { pod: 'c' } }), [cl.ep('x/a')]);
  assert.deepEqual(
    policyMapEntries(e.policyOf(cl.ep('x/a'))).map((x) => x.key.identity),
    [cl.id('x/c')],
  );
  assert.deepEqual(
    e.upsertService({ namespace: 'y', name: 'db', selector: { pod: 'c' } }),
    [],
    'omitted namespace = the policy’s',
  );
  assert.deepEqual(e.deleteService('x', 'db'), [cl.ep('x/a')]);
  // always: every endpoint changes (x/a gains ingress enforcement).
  const changed = e.setOptions({ enforcementMode: 'always' });
  assert.equal(changed.length, 9);
  assert.deepEqual(e.setOptions({ enforcementMode: 'always' }), []);
  assert.equal(e.setOptions({ enforcementMode: 'never' }).length, 9);
  assert.equal(e.explain(cl.id('x/b'), cl.ep('x/a'), 80, 'TCP').verdict, 'no-enforcement');
});

test('engine: explain names the deciding rules for both directions', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [
    cnp('x', 'web', {
      endpointSelector: sel('a'),
      ingress: [
        {
          fromEndpoints: [{ matchExpressions: [{ key: 'k8s:io.kubernetes.pod.namespace', operator: 'Exists' }] }],
          toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
        },
      ],
    }),
    ccnp('no-c', {
      endpointSelector: {},
      ingressDeny: [{ fromEndpoints: [sel('c')] }],
      enableDefaultDeny: { ingress: false },
    }),
    cnp('y', 'b-out', {
      endpointSelector: sel('b'),
      egress: [{ toEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'x', pod: 'a' } }] }],
    }),
  ]);
  const xa = cl.ep('x/a');
  const ok = e.explain(cl.id('y/b'), xa, 80, 'TCP');
  assert.equal(ok.verdict, 'allowed');
  assert.deepEqual(ok.egress.rules.map(formatRuleRef), ['CiliumNetworkPolicy y/b-out spec.egress[0]']);
  assert.equal(ok.egress.endpointId, cl.ep('y/b'));
  assert.deepEqual(ok.ingress.rules.map(formatRuleRef), ['CiliumNetworkPolicy x/web spec.ingress[0]']);
  const wrongPort = e.explain(cl.id('y/b'), xa, 81, 'TCP');
  assert.equal(wrongPort.verdict, 'default-denied');
  assert.equal(wrongPort.egress.verdict, 'allowed');
  assert.equal(wrongPort.ingress.verdict, 'default-denied');
  // no-c keeps no default deny (enableDefaultDeny.ingress false): only web explains the denial.
  assert.deepEqual(
    wrongPort.ingress.policies.map((p) => p.name),
    ['web'],
  );
  const denied = e.explain(cl.id('z/c'), xa, 80, 'TCP');
  assert.equal(denied.verdict, 'denied');
  assert.deepEqual(denied.ingress.rules.map(formatRuleRef), [
    'CiliumClusterwideNetworkPolicy no-c spec.ingressDeny[0]',
  ]);
  assert.equal(denied.egress.verdict, 'no-enforcement');
  // y/b's egress only allows x/a: to x/b it is default-denied at egress.
  const out = e.explain(cl.id('y/b'), cl.ep('x/b'), 80, 'TCP');
  assert.equal(out.egress.verdict, 'default-denied');
  // x/b is only under no-c (default deny off): its ingress has the wildcard allow.
  assert.equal(out.ingress.verdict, 'allowed');
  assert.deepEqual(out.ingress.rules.map(formatRuleRef), ['Implicit default-allow']);
  assert.throws(() => e.explain(1, 999, 80, 'TCP'), /not a local endpoint/);
});

test('engine: starts with the reserved identities and lists CIDR prefixes and notes', () => {
  const e = new PolicyEngine();
  assert.deepEqual([...e.identities().keys()], [...reservedIdentities().keys()]);
  e.upsertPolicy(
    cnp('x', 'p', {
      endpointSelector: {},
      egress: [
        { toCIDRSet: [{ cidr: '203.0.113.0/24', except: ['203.0.113.128/25'] }] },
        { toFQDNs: [{ matchName: 'a.example' }] },
      ],
    }),
  );
  assert.deepEqual(e.requiredCidrPrefixes(), ['203.0.113.0/24', '203.0.113.128/25']);
  assert.equal(e.notes().length, 1);
  assert.match(e.notes()[0] ?? '', /^CiliumNetworkPolicy x\/p: spec\.egress\[1\]\.toFQDNs/);
  assert.throws(() => e.upsertPolicy({ kind: 'Bogus', metadata: { name: 'b' } }), /not one the engine knows/);
  void servePorts;
});
