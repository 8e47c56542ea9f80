import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileSelector,
  entitySelectors,
  scopePeerSelector,
  scopeSubjectSelector,
  selects,
  ENTITIES,
  type SelectorLike,
} from '../../../src/policy/selector.ts';
import { labelSet, reservedIdentities } from '../../../src/policy/labels.ts';

const web = labelSet(['k8s:app=web', 'k8s:tier=front', 'k8s:io.kubernetes.pod.namespace=shop']);
const db = labelSet(['k8s:app=db', 'k8s:io.kubernetes.pod.namespace=shop']);
const host = labelSet(['reserved:host']);
const containerWeb = labelSet(['container:app=web']);

test('selector matching over label sets', () => {
  const cases: Array<{ name: string; sel: SelectorLike; want: Array<[string, boolean]> }> = [
    {
      name: 'empty selects all',
      sel: {},
      want: [
        ['web', true],
        ['db', true],
        ['host', true],
      ],
    },
    {
      name: 'matchLabels any source',
      sel: { matchLabels: { app: 'web' } },
      want: [
        ['web', true],
        ['db', false],
        ['containerWeb', true],
      ],
    },
    {
      name: 'matchLabels k8s source',
      sel: { matchLabels: { 'k8s:app': 'web' } },
      want: [
        ['web', true],
        ['containerWeb', false],
      ],
    },
    {
      name: 'matchLabels any: prefix',
      sel: { matchLabels: { 'any:app': 'web' } },
      want: [
        ['web', true],
        ['containerWeb', true],
      ],
    },
    { name: 'two labels must both hold', sel: { matchLabels: { app: 'web', tier: 'back' } }, want: [['web', false]] },
    {
      name: 'In',
      sel: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] },
      want: [
        ['web', true],
        ['db', true],
        ['host', false],
      ],
    },
    {
      name: 'NotIn (absent label passes)',
      sel: { matchExpressions: [{ key: 'app', operator: 'NotIn', values: ['web'] }] },
      want: [
        ['web', false],
        ['db', true],
        ['host', true],
      ],
    },
    {
      name: 'Exists',
      sel: { matchExpressions: [{ key: 'tier', operator: 'Exists' }] },
      want: [
        ['web', true],
        ['db', false],
      ],
    },
    {
      name: 'DoesNotExist',
      sel: { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' }] },
      want: [
        ['web', false],
        ['db', true],
      ],
    },
    {
      name: 'reserved key',
      sel: { matchLabels: { 'reserved:host': '' } },
      want: [
        ['host', true],
        ['web', false],
      ],
    },
    { name: '$ shorthand', sel: { matchLabels: { $host: '' } }, want: [['host', true]] },
    {
      name: 'unknown operator fails closed',
      sel: { matchExpressions: [{ key: 'app', operator: 'in', values: ['web'] }] },
      want: [
        ['web', false],
        ['db', false],
      ],
    },
  ];
  const sets: Record<string, Record<string, string>> = { web, db, host, containerWeb };
  for (const c of cases) {
    const s = compileSelector(c.sel);
    for (const [set, want] of c.want) assert.equal(selects(s, sets[set] ?? {}), want, `${c.name}: ${set}`);
  }
});

test('compiled selector text', () => {
  assert.equal(compileSelector({}).text, '{}');
  assert.equal(
    compileSelector({
      matchLabels: { 'k8s:app': 'web' },
      matchExpressions: [{ key: 'tier', operator: 'In', values: ['a', 'b'] }],
    }).text,
    'k8s:app=web, any:tier in (a,b)',
  );
});

test('CNP peer selectors are scoped to the policy namespace unless they name a namespace', () => {
  const x = labelSet([
    'k8s:app=web',
    'k8s:io.kubernetes.pod.namespace=x',
    'k8s:io.cilium.k8s.namespace.labels.team=red',
  ]);
  const y = labelSet([
    'k8s:app=web',
    'k8s:io.kubernetes.pod.namespace=y',
    'k8s:io.cilium.k8s.namespace.labels.team=blue',
  ]);
  const cases: Array<{ name: string; sel: SelectorLike; ns: string | undefined; x: boolean; y: boolean; h: boolean }> =
    [
      { name: 'CNP {} → own namespace', sel: {}, ns: 'x', x: true, y: false, h: false },
      {
        name: 'CNP app=web → own namespace',
        sel: { matchLabels: { app: 'web' } },
        ns: 'x',
        x: true,
        y: false,
        h: false,
      },
      {
        name: 'CNP explicit namespace label wins',
        sel: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'y' } },
        ns: 'x',
        x: false,
        y: true,
        h: false,
      },
      {
        name: 'CNP bare namespace key counts',
        sel: { matchLabels: { 'io.kubernetes.pod.namespace': 'y' } },
        ns: 'x',
        x: false,
        y: true,
        h: false,
      },
      {
        name: 'CNP namespace labels → any namespace',
        sel: { matchLabels: { 'io.cilium.k8s.namespace.labels.team': 'blue' } },
        ns: 'x',
        x: false,
        y: true,
        h: false,
      },
      {
        name: 'CNP Exists namespace → every namespace',
        sel: { matchExpressions: [{ key: 'k8s:io.kubernetes.pod.namespace', operator: 'Exists' }] },
        ns: 'x',
        x: true,
        y: true,
        h: false,
      },
      {
        name: 'CNP reserved selector left alone',
        sel: { matchLabels: { 'reserved:host': '' } },
        ns: 'x',
        x: false,
        y: false,
        h: true,
      },
      { name: 'CCNP {} → every pod, no reserved identity', sel: {}, ns: undefined, x: true, y: true, h: false },
    ];
  for (const c of cases) {
    const s = compileSelector(scopePeerSelector(c.sel, c.ns));
    assert.equal(selects(s, x), c.x, `${c.name}: x`);
    assert.equal(selects(s, y), c.y, `${c.name}: y`);
    assert.equal(selects(s, host), c.h, `${c.name}: host`);
  }
  // A CCNP whose subject selects initializing endpoints keeps {} truly wildcard.
  assert.equal(selects(compileSelector(scopePeerSelector({}, undefined, true)), host), true);
});

test('CNP subject selector always selects the policy namespace', () => {
  const x = labelSet(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=x']);
  const y = labelSet(['k8s:app=web', 'k8s:io.kubernetes.pod.namespace=y']);
  const s = compileSelector(
    scopeSubjectSelector({ matchLabels: { app: 'web', 'k8s:io.kubernetes.pod.namespace': 'y' } }, 'x'),
  );
  assert.equal(selects(s, x), true);
  assert.equal(selects(s, y), false);
  const cw = compileSelector(scopeSubjectSelector({ matchLabels: { app: 'web' } }, undefined));
  assert.equal(selects(cw, x) && selects(cw, y), true);
});

test('entities map to reserved identities', () => {
  const ids = reservedIdentities();
  ids.set(
    300,
    labelSet(['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=x', 'k8s:io.cilium.k8s.policy.cluster=default']),
  );
  ids.set(301, labelSet(['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=x', 'k8s:io.cilium.k8s.policy.cluster=other']));
  ids.set(0x1000001, labelSet(['cidr:10.0.0.0/8', 'reserved:world-ipv4']));
  const selected = (entity: string): number[] | 'all' => {
    const sels = entitySelectors(entity, 'default');
    if (sels === 'all') return 'all';
    const compiled = sels.map((s) => compileSelector(s));
    return [...ids]
      .filter(([, l]) => compiled.some((c) => selects(c, l)))
      .map(([id]) => id)
      .sort((a, b) => a - b);
  };
  const cases: Array<[string, number[] | 'all']> = [
    ['all', 'all'],
    ['host', [1]],
    ['world', [2, 9, 10, 0x1000001]],
    ['world-ipv4', [9, 0x1000001]],
    ['world-ipv6', [10]],
    ['unmanaged', [3]],
    ['health', [4]],
    ['init', [5]],
    ['remote-node', [6]],
    ['kube-apiserver', [7]],
    ['ingress', [8]],
    ['cluster', [1, 3, 4, 5, 6, 7, 8, 300]],
    ['none', []],
    ['bogus', []],
  ];
  for (const [entity, want] of cases) assert.deepEqual(selected(entity), want, entity);
  for (const e of ['all', 'world', 'cluster', 'host', 'remote-node', 'kube-apiserver', 'world-ipv4', 'world-ipv6'])
    assert.ok(ENTITIES.has(e), e);
});
