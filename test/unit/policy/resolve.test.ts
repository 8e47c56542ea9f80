import { test } from 'node:test';
import assert from 'node:assert/strict';
import { evaluate, resolvePolicy, requiredCidrPrefixes, type EndpointPolicy } from '../../../src/policy/resolve.ts';
import { rulesOf, type PolicyObject } from '../../../src/policy/engine.ts';
import { reservedIdentityNames, labelSet, reservedIdentities } from '../../../src/policy/labels.ts';
import { formatRuleRef } from '../../../src/policy/rules.ts';
import { policyEntryCodec, policyKeyCodec, policyPrefixLen } from '../../../src/datapath/codecs.ts';
import type { EnforcementModeName } from '../../../src/datapath/constants.ts';
import { addCidrIdentities, buildCluster, ccnp, cnp, engineFor, type Cluster } from './fixtures.ts';
import { policyMapEntries } from '../../../src/datapath/policy-encoding.ts';

const protoNames: Record<number, string> = {
  0: 'any',
  1: 'icmp',
  6: 'tcp',
  17: 'udp',
  58: 'icmp6',
  132: 'sctp',
  2: 'igmp',
  112: 'vrrp',
};

/** Entries as short strings: "in x/b tcp:80 allow", "out * any deny", "in host any allow". */
function show(c: Cluster, p: EndpointPolicy | undefined, extra: Record<number, string> = {}): string[] {
  assert.ok(p, 'endpoint has a policy');
  const names = new Map<number, string>();
  for (const pod of c.pods) names.set(c.id(`${pod.ns}/${pod.name}`), `${pod.ns}/${pod.name}`);
  for (const [id, n] of Object.entries(reservedIdentityNames)) names.set(Number(id), n);
  for (const [id, n] of Object.entries(extra)) names.set(Number(id), n);
  names.set(0, '*');
  return policyMapEntries(p).map((e) => {
    const k = e.key;
    const port =
      k.protocol === 0
        ? ''
        : k.portPrefixLen === 0
          ? ':*'
          : k.portPrefixLen === 16
            ? `:${k.port}`
            : `:${k.port}/${k.portPrefixLen}`;
    return `${k.direction === 'ingress' ? 'in' : 'out'} ${names.get(k.identity) ?? k.identity} ${protoNames[k.protocol] ?? k.protocol}${port} ${e.entry.deny ? 'deny' : 'allow'}`;
  });
}

interface Case {
  name: string;
  policies: PolicyObject[];
  /** endpoint whose policy is checked */
  at?: string;
  mode?: EnforcementModeName;
  enforce?: [boolean, boolean];
  entries: string[];
}

const sel = (pod: string): unknown => ({ matchLabels: { pod } });

const cases: Case[] = [
  {
    name: 'no policy: no enforcement, no entries',
    policies: [],
    enforce: [false, false],
    entries: [],
  },
  {
    name: 'fromEndpoints is scoped to the policy namespace; L3 only gives protocol 0',
    policies: [cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [sel('b')] }] })],
    enforce: [true, false],
    entries: ['in host any allow', 'in x/b any allow'],
  },
  {
    name: 'a CNP in another namespace does not select x/a',
    policies: [cnp('y', 'p', { endpointSelector: sel('a'), ingress: [{}] })],
    enforce: [false, false],
    entries: [],
  },
  {
    name: 'fromEndpoints {} = all pods of the namespace',
    policies: [cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [{}] }] })],
    entries: ['in host any allow', 'in x/a any allow', 'in x/b any allow', 'in x/c any allow'],
  },
  {
    name: 'fromEndpoints across namespaces by namespace label',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [{ fromEndpoints: [{ matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'y', pod: 'b' } }] }],
      }),
    ],
    entries: ['in host any allow', 'in y/b any allow'],
  },
  {
    name: 'ports without peers: every peer (identity 0) on those ports',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [{ toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] }],
      }),
    ],
    entries: ['in * tcp:80 allow', 'in host any allow'],
  },
  {
    name: 'protocol ANY (and omitted) is TCP, UDP and SCTP',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [{ fromEndpoints: [sel('b')], toPorts: [{ ports: [{ port: '53' }] }] }],
      }),
    ],
    entries: ['in host any allow', 'in x/b tcp:53 allow', 'in x/b udp:53 allow', 'in x/b sctp:53 allow'],
  },
  {
    name: 'port 0 means every port of the protocol; several ports',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [
          {
            fromEndpoints: [sel('b')],
            toPorts: [
              {
                ports: [
                  { port: '0', protocol: 'UDP' },
                  { port: '443', protocol: 'TCP' },
                ],
              },
            ],
          },
        ],
      }),
    ],
    entries: ['in host any allow', 'in x/b tcp:443 allow', 'in x/b udp:* allow'],
  },
  {
    name: 'endPort ranges become aligned prefixes',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        egress: [{ toEndpoints: [sel('b')], toPorts: [{ ports: [{ port: '80', endPort: 84, protocol: 'TCP' }] }] }],
      }),
    ],
    enforce: [false, true],
    entries: ['out x/b tcp:80/14 allow', 'out x/b tcp:84 allow'],
  },
  {
    name: 'ingress named port: the destination endpoint’s own port; ANY keeps the named port’s protocol',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [{ fromEndpoints: [sel('b')], toPorts: [{ ports: [{ port: 'serve-81-udp' }] }] }],
      }),
    ],
    entries: ['in host any allow', 'in x/b udp:81 allow'],
  },
  {
    name: 'named port with a mismatching protocol gives nothing',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [{ fromEndpoints: [sel('b')], toPorts: [{ ports: [{ port: 'serve-81-udp', protocol: 'TCP' }] }] }],
      }),
    ],
    entries: ['in host any allow'],
  },
  {
    name: 'egress named port: resolved on each peer',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        egress: [
          { toEndpoints: [sel('b'), sel('c')], toPorts: [{ ports: [{ port: 'serve-80-tcp', protocol: 'TCP' }] }] },
        ],
      }),
    ],
    entries: ['out x/b tcp:80 allow', 'out x/c tcp:80 allow'],
  },
  {
    name: 'icmps: the type is the port, per family; type 0 is exact',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [
          {
            fromEndpoints: [sel('b')],
            icmps: [{ fields: [{ type: 8 }, { type: 'EchoReply' }, { family: 'IPv6', type: 'EchoRequest' }] }],
          },
        ],
      }),
    ],
    entries: ['in host any allow', 'in x/b icmp:0 allow', 'in x/b icmp:8 allow', 'in x/b icmp6:128 allow'],
  },
  {
    name: 'deny wins on the same key; allows a deny covers are dropped',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        ingress: [
          { fromEndpoints: [{}] },
          { fromEndpoints: [sel('c')], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] },
        ],
        ingressDeny: [{ fromEndpoints: [sel('b')] }, { toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }] }],
      }),
    ],
    entries: ['in * tcp:80 deny', 'in host any allow', 'in x/a any allow', 'in x/b any deny', 'in x/c any allow'],
  },
  {
    name: 'a deny-only rule still turns enforcement on (default deny)',
    policies: [cnp('x', 'p', { endpointSelector: sel('a'), ingressDeny: [{ fromEndpoints: [sel('b')] }] })],
    enforce: [true, false],
    entries: ['in host any allow', 'in x/b any deny'],
  },
  {
    name: 'enableDefaultDeny.ingress false: a wildcard allow keeps other traffic flowing',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        enableDefaultDeny: { ingress: false },
        ingressDeny: [{ fromEndpoints: [sel('b')] }],
      }),
    ],
    enforce: [true, false],
    entries: ['in * any allow', 'in host any allow', 'in x/b any deny'],
  },
  {
    name: 'one default-deny rule beats enableDefaultDeny false on another',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        enableDefaultDeny: { ingress: false },
        ingress: [{ fromEndpoints: [sel('c')] }],
      }),
      cnp('x', 'q', { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [sel('b')] }] }),
    ],
    entries: ['in host any allow', 'in x/b any allow', 'in x/c any allow'],
  },
  {
    name: 'ingress: [{}] isolates: nothing but the host is allowed',
    policies: [cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{}] })],
    enforce: [true, false],
    entries: ['in host any allow'],
  },
  {
    name: 'enforcement always: enforced without any rule',
    policies: [],
    mode: 'always',
    enforce: [true, true],
    entries: ['in host any allow'],
  },
  {
    name: 'enforcement never: no enforcement and no entries, even with deny rules',
    policies: [cnp('x', 'p', { endpointSelector: sel('a'), ingressDeny: [{ fromEndpoints: [{}] }], egress: [{}] })],
    mode: 'never',
    enforce: [false, false],
    entries: [],
  },
  {
    name: 'entities: all is identity 0, host, remote-node, kube-apiserver',
    policies: [
      cnp('x', 'p', {
        endpointSelector: sel('a'),
        egress: [
          { toEntities: ['all'], toPorts: [{ ports: [{ port: '53', protocol: 'UDP' }] }] },
          { toEntities: ['kube-apiserver', 'remote-node'] },
        ],
      }),
    ],
    entries: ['out * udp:53 allow', 'out remote-node any allow', 'out kube-apiserver any allow'],
  },
  {
    name: 'CCNP: endpointSelector reaches every namespace, fromEndpoints {} every pod',
    at: 'z/c',
    policies: [ccnp('p', { endpointSelector: sel('c'), ingress: [{ fromEndpoints: [sel('a')] }] })],
    entries: ['in host any allow', 'in x/a any allow', 'in y/a any allow', 'in z/a any allow'],
  },
];

for (const c of cases) {
  test(`resolve: ${c.name}`, () => {
    const cl = buildCluster();
    const e = engineFor(cl, c.policies, c.mode);
    const p = e.policyOf(cl.ep(c.at ?? 'x/a'));
    if (c.enforce) assert.deepEqual([p?.enforceIngress, p?.enforceEgress], c.enforce, 'enforcement');
    assert.deepEqual(show(cl, p), c.entries);
  });
}

test('resolve: entries are directly writable to the kernel map', () => {
  const cl = buildCluster();
  const e = engineFor(cl, [cases[8]?.policies[0] as PolicyObject, cases[13]?.policies[0] as PolicyObject]);
  const p = e.policyOf(cl.ep('x/a'));
  assert.ok(p && policyMapEntries(p).length > 3);
  for (const x of policyMapEntries(p)) {
    assert.equal(x.entry.lpmPrefixLength, policyPrefixLen(x.key));
    const k = policyKeyCodec.decode(policyKeyCodec.encode(x.key));
    assert.deepEqual(k, x.key);
    assert.deepEqual(policyEntryCodec.decode(policyEntryCodec.encode(x.entry)), x.entry);
  }
});

test('resolve: every entry names the rule behind it', () => {
  const cl = buildCluster();
  const pol = cnp('x', 'web', {
    endpointSelector: sel('a'),
    ingress: [{ fromEndpoints: [sel('b')] }],
  });
  (pol as { specs?: unknown[] }).specs = [
    { endpointSelector: sel('a'), ingress: [{ fromEndpoints: [sel('c')] }, { fromEndpoints: [sel('b')] }] },
  ];
  const p = engineFor(cl, [pol]).policyOf(cl.ep('x/a'));
  const b = policyMapEntries(p).find((x) => x.key.identity === cl.id('x/b'));
  assert.deepEqual(b?.rules.map(formatRuleRef), [
    'CiliumNetworkPolicy x/web spec.ingress[0]',
    'CiliumNetworkPolicy x/web specs[0].ingress[1]',
  ]);
  assert.deepEqual(b?.rules[0]?.labels, [
    'k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy',
    'k8s:io.cilium.k8s.policy.name=web',
    'k8s:io.cilium.k8s.policy.namespace=x',
  ]);
  const host = policyMapEntries(p).find((x) => x.key.identity === 1);
  assert.deepEqual(host?.rules.map(formatRuleRef), ['Implicit allow-localhost']);
  assert.deepEqual(p?.selectedBy.ingress, [{ kind: 'CiliumNetworkPolicy', namespace: 'x', name: 'web' }]);
});

test('resolve: CIDR rules select CIDR identities by containment, minus excepts, never pods', () => {
  const cl = buildCluster();
  const cidr = addCidrIdentities(cl.identities, [
    '192.0.2.0/24',
    '192.0.2.128/25',
    '198.51.100.0/24',
    '10.0.0.0/8',
    '2001:db8::/32',
  ]);
  const name: Record<number, string> = {};
  for (const [p, id] of cidr) name[id] = p;
  const run = (egress: unknown[]): string[] =>
    show(cl, engineFor(cl, [cnp('x', 'p', { endpointSelector: sel('a'), egress })]).policyOf(cl.ep('x/a')), name);
  assert.deepEqual(run([{ toCIDR: ['192.0.2.0/24'] }]), ['out 192.0.2.0/24 any allow', 'out 192.0.2.128/25 any allow']);
  assert.deepEqual(run([{ toCIDRSet: [{ cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] }] }]), [
    'out 192.0.2.0/24 any allow',
  ]);
  assert.deepEqual(run([{ toCIDR: ['192.0.2.7'] }]), [], 'a bare address is a /32 and no identity exists for it yet');
  assert.deepEqual(
    run([{ toCIDR: ['10.0.0.0/8'] }]),
    ['out 10.0.0.0/8 any allow'],
    'pods in 10.0.0.0/8 are not selected',
  );
  assert.deepEqual(run([{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }] }]), [
    'out world any allow',
    'out world-ipv4 any allow',
    'out 192.0.2.0/24 any allow',
    'out 192.0.2.128/25 any allow',
    'out 198.51.100.0/24 any allow',
  ]);
  assert.deepEqual(run([{ toCIDR: ['::/0'] }]), [
    'out world any allow',
    'out world-ipv6 any allow',
    'out 2001:db8::/32 any allow',
  ]);
  assert.deepEqual(run([{ toEntities: ['world-ipv6'] }]), ['out world-ipv6 any allow', 'out 2001:db8::/32 any allow']);
  assert.deepEqual(run([{ toCIDRSet: [{ cidrGroupRef: 'g' }] }]), [], 'CIDR groups select nothing (noted)');
  const rules = rulesOf(
    cnp('x', 'p', {
      endpointSelector: {},
      egress: [{ toCIDRSet: [{ cidr: '0.0.0.0/0', except: ['10.0.0.0/8'] }, { cidr: '192.0.2.1/24' }] }],
      ingress: [{ fromCIDR: ['2001:db8::1'] }],
    }),
  );
  assert.deepEqual(requiredCidrPrefixes(rules), ['10.0.0.0/8', '192.0.2.0/24', '2001:db8::1/128']);
});

test('resolve: nodes, services and host policies', () => {
  const cl = buildCluster();
  const identities = new Map(cl.identities);
  const input = {
    identities,
    endpoints: [...cl.endpoints, { id: 100, identity: 1, host: true, nodeLabels: { role: 'edge' } }],
    nodes: [
      { name: 'n1', labels: { role: 'edge' }, identity: 1 },
      { name: 'n2', labels: { role: 'core' }, identity: 6 },
    ],
    services: [
      { namespace: 'y', name: 'web', labels: { tier: 'front' }, selector: { pod: 'b' } },
      { namespace: 'z', name: 'api', labels: { tier: 'front' }, selector: { pod: 'c' } },
      { namespace: 'z', name: 'external', labels: { tier: 'front' } },
    ],
  };
  const rules = [
    ...rulesOf(
      cnp('x', 'svc', {
        endpointSelector: sel('a'),
        egress: [
          { toServices: [{ k8sService: { serviceName: 'web', namespace: 'y' } }] },
          {
            toServices: [{ k8sServiceSelector: { selector: { matchLabels: { tier: 'front' } }, namespace: 'z' } }],
            toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
          },
        ],
        ingress: [{ fromNodes: [{ matchLabels: { role: 'core' } }] }],
      }),
    ),
    ...rulesOf(
      ccnp('host', {
        nodeSelector: { matchLabels: { role: 'edge' } },
        ingress: [{ fromEntities: ['remote-node'], toPorts: [{ ports: [{ port: '22', protocol: 'TCP' }] }] }],
      }),
    ),
  ];
  const out = resolvePolicy({ rules, ...input });
  assert.deepEqual(show(cl, out.get(cl.ep('x/a'))), [
    'in host any allow',
    'in remote-node any allow',
    'out y/b any allow',
    'out z/c tcp:8080 allow',
  ]);
  const hostEp = out.get(100);
  assert.deepEqual([hostEp?.enforceIngress, hostEp?.enforceEgress], [true, false]);
  assert.deepEqual(
    show(cl, hostEp),
    ['in remote-node tcp:22 allow'],
    'host policy; no allow-localhost for the host itself',
  );
  assert.deepEqual(show(cl, out.get(cl.ep('y/a'))), [], 'a host policy does not select pods');
});

test('resolve: allow-localhost can be turned off; identities of other nodes are not computed', () => {
  const cl = buildCluster();
  const rules = rulesOf(cnp('x', 'p', { endpointSelector: sel('a'), ingress: [{}] }));
  const endpoints = cl.endpoints.map((e) => (e.id === cl.ep('x/b') ? { ...e, local: false } : e));
  const out = resolvePolicy({ rules, identities: cl.identities, endpoints, allowLocalhost: false });
  assert.deepEqual(show(cl, out.get(cl.ep('x/a'))), []);
  assert.equal(out.get(cl.ep('x/a'))?.enforceIngress, true);
  assert.equal(out.has(cl.ep('x/b')), false);
  assert.equal(out.size, 8);
});

test('evaluate replays the datapath: deny over allow whatever the specificity, ranges, ICMP, default deny', () => {
  const cl = buildCluster();
  const cidr = addCidrIdentities(cl.identities, ['192.0.2.0/24']);
  const e = engineFor(cl, [
    cnp('x', 'p', {
      endpointSelector: sel('a'),
      ingress: [
        { fromEndpoints: [sel('b')], toPorts: [{ ports: [{ port: '8000', endPort: 8100, protocol: 'TCP' }] }] },
        { fromEndpoints: [sel('c')] },
        { fromCIDR: ['192.0.2.0/24'], icmps: [{ fields: [{ type: 'EchoRequest' }] }] },
      ],
      ingressDeny: [{ fromEndpoints: [sel('c')], toPorts: [{ ports: [{ port: '22', protocol: 'TCP' }] }] }],
    }),
  ]);
  const p = e.policyOf(cl.ep('x/a'));
  assert.ok(p);
  const cidrId = cidr.get('192.0.2.0/24') ?? -1;
  const table: Array<[number, string | number, number, string]> = [
    [cl.id('x/b'), 'TCP', 8000, 'allowed'],
    [cl.id('x/b'), 'TCP', 8050, 'allowed'],
    [cl.id('x/b'), 'TCP', 8100, 'allowed'],
    [cl.id('x/b'), 'TCP', 8101, 'default-denied'],
    [cl.id('x/b'), 'TCP', 7999, 'default-denied'],
    [cl.id('x/b'), 'UDP', 8050, 'default-denied'],
    [cl.id('x/c'), 'TCP', 80, 'allowed'],
    [cl.id('x/c'), 'UDP', 22, 'allowed'],
    [cl.id('x/c'), 'TCP', 22, 'denied'],
    [cl.id('x/c'), 1, 8, 'allowed'],
    [cidrId, 'ICMP', 8, 'allowed'],
    [cidrId, 'ICMP', 0, 'default-denied'],
    [cidrId, 'TCP', 8, 'default-denied'],
    [cl.id('y/b'), 'TCP', 80, 'default-denied'],
    [1, 'TCP', 80, 'allowed'],
  ];
  for (const [peer, proto, port, want] of table)
    assert.equal(evaluate(p, 'ingress', peer, proto, port).verdict, want, `${peer} ${proto}/${port}`);
  assert.equal(evaluate(p, 'egress', cl.id('x/b'), 'TCP', 80).verdict, 'no-enforcement');
  const denied = evaluate(p, 'ingress', cl.id('x/c'), 'TCP', 22);
  assert.deepEqual(denied.rules.map(formatRuleRef), ['CiliumNetworkPolicy x/p spec.ingressDeny[0]']);
  const dd = evaluate(p, 'ingress', cl.id('y/b'), 'TCP', 80);
  assert.deepEqual(dd.policies, [{ kind: 'CiliumNetworkPolicy', namespace: 'x', name: 'p' }]);
});

test('resolve: notes list what is not enforced', () => {
  const rules = rulesOf(
    cnp('x', 'p', {
      endpointSelector: {},
      egress: [{ toFQDNs: [{ matchName: 'example.com' }] }, { toGroups: [{ aws: { securityGroupsIds: ['sg-1'] } }] }],
    }),
  );
  const notes = rules.flatMap((r) => r.notes);
  assert.equal(notes.length, 2);
  assert.match(notes[0] ?? '', /toFQDNs/);
  assert.match(notes[1] ?? '', /toGroups/);
  // They select nothing, but the rule still turns egress enforcement on.
  const out = resolvePolicy({
    rules,
    identities: new Map([...reservedIdentities(), [300, labelSet(['k8s:io.kubernetes.pod.namespace=x'])]]),
    endpoints: [{ id: 1, identity: 300 }],
  });
  assert.equal(out.get(1)?.enforceEgress, true);
  assert.deepEqual(policyMapEntries(out.get(1)), []);
});
