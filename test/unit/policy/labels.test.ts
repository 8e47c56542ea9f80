import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cidrIdentityLabels,
  cidrLabelKey,
  cidrOfLabels,
  formatLabel,
  formatLabelSet,
  isIdentityRelevant,
  labelSet,
  labelSetKey,
  makeLabelFilter,
  parseLabel,
  podIdentityLabels,
  reservedIdentities,
  ReservedIdentity,
  CLUSTER_IDENTITY_MIN,
  LOCAL_IDENTITY_FLAG,
} from '../../../src/policy/labels.ts';
import { ReservedIdentity as DatapathReserved } from '../../../src/datapath/constants.ts';
import { formatPrefix } from '../../../src/lib/ip.ts';

test('parseLabel and formatLabel', () => {
  const cases: Array<[string, { source: string; key: string; value: string }, string]> = [
    ['k8s:app=web', { source: 'k8s', key: 'app', value: 'web' }, 'k8s:app=web'],
    ['reserved:host', { source: 'reserved', key: 'host', value: '' }, 'reserved:host'],
    ['$world', { source: 'reserved', key: 'world', value: '' }, 'reserved:world'],
    ['app=web', { source: 'unspec', key: 'app', value: 'web' }, 'unspec:app=web'],
    [
      'k8s:io.kubernetes.pod.namespace=x',
      { source: 'k8s', key: 'io.kubernetes.pod.namespace', value: 'x' },
      'k8s:io.kubernetes.pod.namespace=x',
    ],
    ['k8s:url=http://a', { source: 'k8s', key: 'url', value: 'http://a' }, 'k8s:url=http://a'],
    ['cidr:2001-db8--/32', { source: 'cidr', key: '2001-db8--/32', value: '' }, 'cidr:2001-db8--/32'],
  ];
  for (const [text, want, printed] of cases) {
    assert.deepEqual(parseLabel(text), want, text);
    assert.equal(formatLabel(parseLabel(text)), printed, text);
  }
});

test('labelSetKey is canonical: order of insertion does not matter, values do', () => {
  const a = labelSet(['k8s:b=2', 'k8s:a=1', 'reserved:host']);
  const b = labelSet(['reserved:host', 'k8s:a=1', 'k8s:b=2']);
  assert.equal(labelSetKey(a), labelSetKey(b));
  assert.equal(labelSetKey(a), 'k8s:a=1;k8s:b=2;reserved:host=;');
  assert.notEqual(labelSetKey(a), labelSetKey(labelSet(['k8s:b=3', 'k8s:a=1', 'reserved:host'])));
  assert.deepEqual(formatLabelSet(a), ['k8s:a=1', 'k8s:b=2', 'reserved:host']);
});

test('reserved identities carry Cilium numbers and labels', () => {
  const want: Record<number, string> = {
    1: 'reserved:host',
    2: 'reserved:world',
    3: 'reserved:unmanaged',
    4: 'reserved:health',
    5: 'reserved:init',
    6: 'reserved:remote-node',
    7: 'reserved:kube-apiserver',
    8: 'reserved:ingress',
    9: 'reserved:world-ipv4',
    10: 'reserved:world-ipv6',
  };
  const r = reservedIdentities();
  assert.equal(r.size, 10);
  for (const [id, label] of Object.entries(want))
    assert.deepEqual(formatLabelSet(r.get(Number(id)) ?? {}), [label], `identity ${id}`);
  assert.equal(ReservedIdentity.HOST, DatapathReserved.HOST);
  assert.equal(ReservedIdentity.WORLD, DatapathReserved.WORLD);
  assert.equal(ReservedIdentity.KUBE_APISERVER, 7);
  assert.equal(CLUSTER_IDENTITY_MIN, 256);
  assert.equal(LOCAL_IDENTITY_FLAG, 1 << 24);
});

test('identity-relevant labels: Cilium default exclusions', () => {
  const cases: Array<[string, boolean]> = [
    ['app', true],
    ['app.kubernetes.io/name', true],
    ['io.kubernetes.pod.namespace', true],
    ['io.cilium.k8s.namespace.labels.team', true],
    ['io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name', true],
    ['io.cilium.k8s.policy.serviceaccount', true],
    ['io.cilium.k8s.policy.cluster', true],
    ['pod-template-hash', false],
    ['controller-revision-hash', false],
    ['pod-template-generation', false],
    ['controller-uid', false],
    ['batch.kubernetes.io/controller-uid', false],
    ['batch.kubernetes.io/job-completion-index', false],
    ['statefulset.kubernetes.io/pod-name', false],
    ['apps.kubernetes.io/pod-index', false],
    ['kubernetes.io/hostname', false],
    ['io.kubernetes.container.name', false],
    ['beta.kubernetes.io/arch', false],
    ['failure-domain.beta.kubernetes.io/zone', false],
    ['k8s.io/foo', false],
    ['topology.kubernetes.io/zone', false],
    ['annotation.foo', false],
    ['etcd_node', false],
  ];
  for (const [key, want] of cases) assert.equal(isIdentityRelevant({ source: 'k8s', key, value: 'v' }), want, key);
  assert.equal(isIdentityRelevant({ source: 'reserved', key: 'host', value: '' }), true);
});

test('custom label prefixes make an allow list', () => {
  const f = makeLabelFilter(['k8s:app', '!k8s:app-secret']);
  assert.equal(isIdentityRelevant({ source: 'k8s', key: 'app', value: 'x' }, f), true);
  assert.equal(isIdentityRelevant({ source: 'k8s', key: 'tier', value: 'x' }, f), false, 'not included any more');
  assert.equal(
    isIdentityRelevant({ source: 'k8s', key: 'io.kubernetes.pod.namespace', value: 'x' }, f),
    true,
    'defaults stay included',
  );
  assert.equal(isIdentityRelevant({ source: 'container', key: 'app', value: 'x' }, f), false, 'source-limited include');
});

test('pod identity labels: pod, namespace, service account and cluster labels', () => {
  const got = podIdentityLabels({
    namespace: 'shop',
    podLabels: {
      app: 'web',
      'pod-template-hash': 'abc123',
      'app.kubernetes.io/part-of': 'shop',
      'statefulset.kubernetes.io/pod-name': 'web-0',
    },
    namespaceLabels: { team: 'red', 'kubernetes.io/metadata.name': 'shop' },
    serviceAccount: 'web-sa',
  });
  assert.deepEqual(formatLabelSet(got), [
    'k8s:app.kubernetes.io/part-of=shop',
    'k8s:app=web',
    'k8s:io.cilium.k8s.namespace.labels.kubernetes.io/metadata.name=shop',
    'k8s:io.cilium.k8s.namespace.labels.team=red',
    'k8s:io.cilium.k8s.policy.cluster=default',
    'k8s:io.cilium.k8s.policy.serviceaccount=web-sa',
    'k8s:io.kubernetes.pod.namespace=shop',
  ]);
  const noSa = podIdentityLabels({ namespace: 'n', clusterName: 'c1' });
  assert.equal(noSa['k8s:io.cilium.k8s.policy.serviceaccount'], 'default');
  assert.equal(noSa['k8s:io.cilium.k8s.policy.cluster'], 'c1');
  // Two pods of one deployment that differ only in excluded labels share an identity.
  const a = podIdentityLabels({ namespace: 'n', podLabels: { app: 'x', 'pod-template-hash': '1' } });
  const b = podIdentityLabels({ namespace: 'n', podLabels: { app: 'x', 'pod-template-hash': '2' } });
  assert.equal(labelSetKey(a), labelSetKey(b));
});

test('CIDR identity labels', () => {
  assert.equal(cidrLabelKey('10.1.2.3/8'), '10.0.0.0/8');
  assert.equal(cidrLabelKey('2001:db8::/32'), '2001-db8--/32');
  assert.equal(cidrLabelKey('192.0.2.1'), '192.0.2.1/32');
  assert.deepEqual(formatLabelSet(cidrIdentityLabels('10.0.0.0/8')), ['cidr:10.0.0.0/8', 'reserved:world-ipv4']);
  assert.deepEqual(formatLabelSet(cidrIdentityLabels('2001:db8::/32')), ['cidr:2001-db8--/32', 'reserved:world-ipv6']);
  const back = cidrOfLabels(cidrIdentityLabels('2001:db8::/32'));
  assert.ok(back);
  assert.equal(formatPrefix(back), '2001:db8::/32');
  assert.equal(cidrOfLabels({ 'k8s:app': 'x' }), undefined);
});
