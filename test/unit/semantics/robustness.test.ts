// The semantic checks run on whatever reaches the webhook: they must never throw, whatever the shape.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lbPoolSemantics, networkPolicySemantics, policySemantics } from '../../../src/webhooks/semantics/index.ts';

const scalars: unknown[] = [
  null,
  undefined,
  0,
  -1,
  1.5,
  NaN,
  Infinity,
  '',
  'x',
  true,
  false,
  [],
  {},
  [null],
  [[]],
  [{}],
  Symbol('s'),
  () => 1,
  10n,
];

/** Deterministic pseudo-random generator (mulberry32), so a failure can be reproduced. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const keys = [
  'spec',
  'specs',
  'endpointSelector',
  'nodeSelector',
  'ingress',
  'egress',
  'ingressDeny',
  'egressDeny',
  'enableDefaultDeny',
  'fromEndpoints',
  'toEndpoints',
  'fromCIDR',
  'toCIDR',
  'fromCIDRSet',
  'toCIDRSet',
  'cidr',
  'except',
  'fromEntities',
  'toEntities',
  'toFQDNs',
  'matchName',
  'matchPattern',
  'toPorts',
  'ports',
  'port',
  'endPort',
  'protocol',
  'rules',
  'http',
  'dns',
  'kafka',
  'path',
  'method',
  'headers',
  'headerMatches',
  'icmps',
  'fields',
  'type',
  'family',
  'matchLabels',
  'matchExpressions',
  'key',
  'operator',
  'values',
  'toServices',
  'k8sServiceSelector',
  'selector',
  'toGroups',
  'aws',
  'listener',
  'serverNames',
  'blocks',
  'start',
  'stop',
  'serviceSelector',
  'podSelector',
  'from',
  'to',
  'ipBlock',
  'policyTypes',
  'cidrGroupSelector',
  '__proto__',
  'constructor',
];
const strings = [
  '10.0.0.0/8',
  '::/0',
  '1.2.3.4',
  'In',
  'in',
  'TCP',
  'ANY',
  '53',
  'http',
  '(a)\\1',
  '[',
  '*',
  'world',
  'k8s:app',
  '',
  'x'.repeat(300),
];

function randomValue(r: () => number, depth: number): unknown {
  const k = r();
  if (depth <= 0 || k < 0.3) {
    const pool = [...scalars, ...strings];
    return pool[Math.floor(r() * pool.length)];
  }
  if (k < 0.55) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth - 1));
  const o: Record<string, unknown> = {};
  for (let i = Math.floor(r() * 6); i > 0; i--)
    o[keys[Math.floor(r() * keys.length)] ?? 'x'] = randomValue(r, depth - 1);
  return o;
}

const checks: Array<[string, (d: unknown) => unknown]> = [
  ['CNP', (d) => policySemantics('CiliumNetworkPolicy', d)],
  ['CCNP', (d) => policySemantics('CiliumClusterwideNetworkPolicy', d)],
  ['NetworkPolicy', networkPolicySemantics],
  ['LB pool', lbPoolSemantics],
];

describe('robustness: never throws', () => {
  for (const [name, check] of checks) {
    it(`${name}: scalars and wrong top-level shapes`, () => {
      for (const s of scalars) {
        assert.doesNotThrow(() => check(s));
        assert.doesNotThrow(() => check({ spec: s, specs: s }));
        assert.doesNotThrow(() => check({ spec: { ingress: s, egress: s, blocks: s, endpointSelector: s } }));
      }
    });
    it(`${name}: arrays where objects are expected and the other way round`, () => {
      const wrong = {
        spec: {
          endpointSelector: [],
          ingress: { fromEndpoints: {} },
          egress: [
            [],
            null,
            3,
            { toPorts: { ports: 'x' } },
            { toPorts: [{ ports: [null, 80, { port: 80, endPort: '90' }], rules: [] }] },
            { toCIDRSet: [{ cidr: 10, except: 'x' }] },
          ],
          blocks: [null, 'x', { cidr: 5 }, { start: [], stop: {} }],
          podSelector: { matchLabels: [], matchExpressions: {} },
        },
        specs: { 0: {} },
      };
      assert.doesNotThrow(() => check(wrong));
      assert.ok(Array.isArray(check(wrong)));
    });
    it(`${name}: 3000 random documents`, () => {
      const r = rng(name.length * 7919);
      for (let i = 0; i < 3000; i++) {
        const doc = { spec: randomValue(r, 6), specs: randomValue(r, 6) };
        assert.doesNotThrow(
          () => check(doc),
          JSON.stringify(doc, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v)),
        );
      }
    });
  }
  it('deeply nested input', () => {
    let deep: unknown = {};
    for (let i = 0; i < 5000; i++) deep = { spec: deep, ingress: [deep] };
    for (const [, check] of checks) assert.doesNotThrow(() => check(deep));
  });
  it('objects without a prototype', () => {
    const bare = Object.create(null) as Record<string, unknown>;
    bare.spec = Object.assign(Object.create(null) as object, {
      ingress: [Object.create(null)],
      blocks: [Object.create(null)],
    });
    for (const [, check] of checks) assert.doesNotThrow(() => check(bare));
  });
});
