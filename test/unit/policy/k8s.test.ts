// Kubernetes NetworkPolicy, in the model of the upstream e2e suite (test/e2e/network/netpol):
// namespaces x, y, z, pods a, b, c serving 80 and 81 over TCP and UDP, every case checked on the
// full 9×9 truth table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { effectivePolicyTypes, normalizeNetworkPolicy, type NetworkPolicyLike } from '../../../src/policy/k8s.ts';
import { requiredCidrPrefixes } from '../../../src/policy/resolve.ts';
import { selects } from '../../../src/policy/selector.ts';
import { buildCluster, engineFor, expected, matrix, netpol, type PodDef } from './fixtures.ts';
import type { PolicyObject } from '../../../src/policy/engine.ts';

// A V1NetworkPolicy is accepted as it is.
const _fits = (np: V1NetworkPolicy): NetworkPolicyLike => np;
void _fits;

type Reach = (from: PodDef, to: PodDef) => boolean;
const all: Reach = () => true;
const is = (p: PodDef, name: string): boolean => `${p.ns}/${p.name}` === name;

interface Case {
  name: string;
  policies: PolicyObject[];
  probes: Array<{ port: number; proto?: string; reach: Reach }>;
}

const denyIngressX = netpol('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] });

const cases: Case[] = [
  {
    name: 'no policy: everything connects',
    policies: [],
    probes: [
      { port: 80, reach: all },
      { port: 81, proto: 'UDP', reach: all },
    ],
  },
  {
    name: 'default-deny-ingress in x',
    policies: [denyIngressX],
    probes: [{ port: 80, reach: (_f, t) => t.ns !== 'x' }],
  },
  {
    name: 'default-deny-egress in x',
    policies: [netpol('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })],
    probes: [{ port: 80, reach: (f) => f.ns !== 'x' }],
  },
  {
    name: 'default-deny-all in x (ingress and egress, empty rules)',
    policies: [
      netpol('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [], egress: [] }),
    ],
    probes: [{ port: 80, reach: (f, t) => f.ns !== 'x' && t.ns !== 'x' }],
  },
  {
    name: 'allow-all ingress ({} rule) next to default deny',
    policies: [denyIngressX, netpol('x', 'allow-all', { podSelector: {}, ingress: [{}] })],
    probes: [{ port: 80, reach: all }],
  },
  {
    name: 'podSelector: x/a from pods b of x',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || is(f, 'x/b') }],
  },
  {
    name: 'namespaceSelector: x/a from namespace y',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || f.ns === 'y' }],
  },
  {
    name: 'namespaceSelector by kubernetes.io/metadata.name, matchExpressions NotIn',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: {
                  matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'NotIn', values: ['x'] }],
                },
              },
            ],
          },
        ],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || f.ns !== 'x' }],
  },
  {
    name: 'namespaceSelector and podSelector in one peer: AND',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              {
                namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] },
                podSelector: { matchLabels: { pod: 'b' } },
              },
            ],
          },
        ],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || is(f, 'y/b') || is(f, 'z/b') }],
  },
  {
    name: 'namespaceSelector and podSelector as two peers: OR',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }, { podSelector: { matchLabels: { pod: 'b' } } }],
          },
        ],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || f.ns === 'y' || is(f, 'x/b') }],
  },
  {
    name: 'empty namespaceSelector with podSelector: pods b of every namespace',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || f.name === 'b' }],
  },
  {
    name: 'ports: ingress on TCP 81 only',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [{ port: 81, protocol: 'TCP' }] }],
      }),
    ],
    probes: [
      { port: 80, reach: (_f, t) => !is(t, 'x/a') },
      { port: 81, reach: all },
      { port: 81, proto: 'UDP', reach: (_f, t) => !is(t, 'x/a') },
    ],
  },
  {
    name: 'protocol defaults to TCP; UDP rule does not open TCP',
    policies: [
      netpol('x', 'p', {
        podSelector: {},
        ingress: [{ ports: [{ port: 80, protocol: 'UDP' }] }, { ports: [{ port: 81 }] }],
      }),
    ],
    probes: [
      { port: 80, proto: 'UDP', reach: all },
      { port: 80, reach: (_f, t) => t.ns !== 'x' },
      { port: 81, reach: all },
      { port: 81, proto: 'UDP', reach: (_f, t) => t.ns !== 'x' },
    ],
  },
  {
    name: 'named port serve-81-tcp',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ namespaceSelector: {} }], ports: [{ port: 'serve-81-tcp' }] }],
      }),
    ],
    probes: [
      { port: 81, reach: all },
      { port: 80, reach: (_f, t) => !is(t, 'x/a') },
    ],
  },
  {
    name: 'endPort: 81-82 (inclusive)',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ ports: [{ port: 81, endPort: 82, protocol: 'TCP' }] }],
      }),
    ],
    probes: [
      { port: 80, reach: (_f, t) => !is(t, 'x/a') },
      { port: 81, reach: all },
      { port: 82, reach: all },
      { port: 83, reach: (_f, t) => !is(t, 'x/a') },
    ],
  },
  {
    name: 'ipBlock matches pod addresses, except excludes x/b',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/24', except: ['10.0.0.12/32'] } }] }],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || !is(f, 'x/b') }],
  },
  {
    name: 'ipBlock egress to namespace y’s addresses (10.0.0.20/30)',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        policyTypes: ['Egress'],
        egress: [{ to: [{ ipBlock: { cidr: '10.0.0.20/30' } }] }],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(f, 'x/a') || t.ns === 'y' }],
  },
  {
    name: 'egress to y/b and z/* on 80, policyTypes defaulted from the egress rules',
    policies: [
      netpol('x', 'p', {
        podSelector: { matchLabels: { pod: 'a' } },
        egress: [
          {
            to: [
              { namespaceSelector: { matchLabels: { ns: 'y' } }, podSelector: { matchLabels: { pod: 'b' } } },
              { namespaceSelector: { matchLabels: { ns: 'z' } } },
            ],
            ports: [{ port: 80 }],
          },
        ],
      }),
    ],
    probes: [
      // Ingress is defaulted on too: nothing reaches x/a.
      { port: 80, reach: (f, t) => (is(f, 'x/a') ? is(t, 'y/b') || t.ns === 'z' : !is(t, 'x/a')) },
      { port: 81, reach: (f, t) => !is(f, 'x/a') && !is(t, 'x/a') },
    ],
  },
  {
    name: 'several policies add up',
    policies: [
      netpol('x', 'p1', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
      }),
      netpol('x', 'p2', {
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          { from: [{ namespaceSelector: { matchLabels: { ns: 'z' } }, podSelector: { matchLabels: { pod: 'c' } } }] },
        ],
      }),
    ],
    probes: [{ port: 80, reach: (f, t) => !is(t, 'x/a') || is(f, 'x/b') || is(f, 'z/c') }],
  },
  {
    name: 'egress deny-all with ingress allowed',
    policies: [
      netpol('y', 'p', {
        podSelector: { matchLabels: { pod: 'c' } },
        policyTypes: ['Egress', 'Ingress'],
        ingress: [{}],
      }),
    ],
    probes: [{ port: 80, reach: (f) => !is(f, 'y/c') }],
  },
];

for (const c of cases) {
  test(`NetworkPolicy: ${c.name}`, () => {
    const cl = buildCluster();
    const e = engineFor(cl, c.policies);
    for (const p of c.probes) {
      assert.deepEqual(matrix(e, cl, p.port, p.proto ?? 'TCP'), expected(cl, p.reach), `${p.proto ?? 'TCP'}/${p.port}`);
    }
  });
}

test('policyTypes default: Ingress always, Egress when egress rules exist', () => {
  const table: Array<[NetworkPolicyLike['spec'], { ingress: boolean; egress: boolean }]> = [
    [{ podSelector: {} }, { ingress: true, egress: false }],
    [
      { podSelector: {}, egress: [{}] },
      { ingress: true, egress: true },
    ],
    [
      { podSelector: {}, egress: [] },
      { ingress: true, egress: false },
    ],
    [
      { podSelector: {}, policyTypes: ['Egress'] },
      { ingress: false, egress: true },
    ],
    [
      { podSelector: {}, policyTypes: ['Ingress', 'Egress'], ingress: [{}] },
      { ingress: true, egress: true },
    ],
  ];
  for (const [spec, want] of table) assert.deepEqual(effectivePolicyTypes({ spec }), want, JSON.stringify(spec));
});

test('translation: subject and peer selectors, ports, refs', () => {
  const r = normalizeNetworkPolicy({
    metadata: { name: 'p', namespace: 'x', uid: 'u1' },
    spec: {
      podSelector: { matchLabels: { app: 'web' } },
      ingress: [
        {
          from: [
            { podSelector: { matchExpressions: [{ key: 'role', operator: 'Exists' }] } },
            { ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.0/28'] } },
          ],
          ports: [{ port: 'http' }, { protocol: 'UDP' }],
        },
      ],
    },
  });
  assert.equal(r.subject.selector.text, 'k8s:app=web, k8s:io.kubernetes.pod.namespace=x');
  assert.equal(r.entries.length, 1);
  const entry = r.entries[0];
  assert.ok(entry);
  assert.equal(
    entry.peers[0]?.kind === 'selector' && entry.peers[0].selector.text,
    'k8s:io.kubernetes.pod.namespace=x, k8s:role',
  );
  assert.equal(entry.peers[1]?.kind === 'cidr' && entry.peers[1].matchPods, true);
  assert.deepEqual(entry.l4, {
    kind: 'ports',
    ports: [
      { protocol: 6, name: 'http' },
      { protocol: 17, port: 0 },
    ],
  });
  assert.deepEqual(entry.ref.labels, [
    'k8s:io.cilium.k8s.policy.derived-from=NetworkPolicy',
    'k8s:io.cilium.k8s.policy.name=p',
    'k8s:io.cilium.k8s.policy.namespace=x',
    'k8s:io.cilium.k8s.policy.uid=u1',
  ]);
  assert.deepEqual(requiredCidrPrefixes([r]), ['192.0.2.0/24', '192.0.2.0/28']);
  // A pod label called like Cilium's namespace label is still only a pod label (k8s: prefix).
  const cl = buildCluster();
  assert.equal(selects(r.subject.selector, cl.identities.get(cl.id('x/a')) ?? {}), false);
});
