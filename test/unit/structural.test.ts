// Layer 1: our schemas through ajv, with messages a user can act on; and on Cilium's corpus the
// same verdicts as Cilium's own CRD schema gives through the same compiler.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  kindSchemas,
  structuralIssues,
  compileCrdSchema,
  pointerToPath,
  isCidr,
} from '../../src/webhooks/structural.ts';
import { corpusDir } from '../harness/corpus.ts';
import { corpusPolicyDocuments } from '../harness/corpus-documents.ts';

const cnp = kindSchemas().get('CiliumNetworkPolicy')!;
const issuesOf = (spec: unknown, extra: Record<string, unknown> = {}) =>
  structuralIssues(cnp, {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'x' },
    spec,
    ...extra,
  });

test('messages name the field and say what would be right', () => {
  const cases: Array<[string, unknown, string, RegExp]> = [
    [
      'unknown field',
      { endpointSelector: {}, ingress: [{ fromEndpoint: [] }] },
      'spec.ingress[0].fromEndpoint',
      /unknown field "fromEndpoint".*allowed here: .*fromEndpoints/,
    ],
    [
      'enum',
      { endpointSelector: {}, ingress: [{ toPorts: [{ ports: [{ port: '80', protocol: 'TCPP' }] }] }] },
      'spec.ingress[0].toPorts[0].ports[0].protocol',
      /"TCPP" is not allowed: use one of "TCP", "UDP"/,
    ],
    [
      'type',
      { endpointSelector: 'app=web', ingress: [{}] },
      'spec.endpointSelector',
      /must be an object \(key: value\), not string "app=web"/,
    ],
    [
      'required',
      { endpointSelector: { matchExpressions: [{ key: 'app' }] }, ingress: [{}] },
      'spec.endpointSelector.matchExpressions[0].operator',
      /required field "operator" is missing/,
    ],
    [
      'exactly one of',
      { endpointSelector: {}, nodeSelector: {}, ingress: [{}] },
      'spec',
      /set only one of endpointSelector, nodeSelector \(found endpointSelector and nodeSelector\)/,
    ],
    ['none of', { ingress: [{}] }, 'spec', /set exactly one of endpointSelector, nodeSelector/],
    [
      'int or string',
      { endpointSelector: {}, egress: [{ icmps: [{ fields: [{ type: true }] }] }] },
      'spec.egress[0].icmps[0].fields[0].type',
      /must be a whole number or a string, not boolean true/,
    ],
    [
      'pattern',
      { endpointSelector: {}, egress: [{ toFQDNs: [{ matchName: 'bad name!' }] }] },
      'spec.egress[0].toFQDNs[0].matchName',
      /must match/,
    ],
    [
      'cidr format',
      { endpointSelector: {}, egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/33' }] }] },
      'spec.egress[0].toCIDRSet[0].cidr',
      /not a valid cidr|must match/,
    ],
    [
      'removed field',
      { endpointSelector: {}, ingress: [{ fromRequires: [{}] }] },
      'spec.ingress[0].fromRequires',
      /no longer supported/,
    ],
  ];
  for (const [name, spec, path, message] of cases) {
    const issues = issuesOf(spec);
    assert.ok(
      issues.some((i) => i.path === path && message.test(i.message)),
      `${name}: no issue at ${path} matching ${message}; got ${JSON.stringify(issues)}`,
    );
  }
});

test('a choice error is said once, not once per branch', () => {
  const issues = issuesOf({ ingress: [{}] });
  assert.equal(issues.filter((i) => i.path === 'spec').length, 1, JSON.stringify(issues));
});

test('every error of a document is reported at once', () => {
  const issues = issuesOf({
    endpointSelector: 'x',
    ingress: [{ fromEntities: ['galaxy'] }],
    egress: [{ toPorts: {} }],
  });
  assert.deepEqual(issues.map((i) => i.path).sort(), [
    'spec.egress[0].toPorts',
    'spec.endpointSelector',
    'spec.ingress[0].fromEntities[0]',
  ]);
});

test('paths and CIDRs are read the way kubectl and the apiserver read them', () => {
  assert.equal(pointerToPath('/spec/ingress/0/toPorts/1'), 'spec.ingress[0].toPorts[1]');
  assert.equal(
    pointerToPath('/spec/endpointSelector/matchLabels/k8s:io.kubernetes.pod.namespace'),
    'spec.endpointSelector.matchLabels["k8s:io.kubernetes.pod.namespace"]',
  );
  for (const ok of ['10.0.0.0/8', '0.0.0.0/0', 'fd00::/64', '::/0', '10.1.2.3/32']) assert.ok(isCidr(ok), ok);
  for (const bad of ['10.0.0.0', '10.0.0.0/33', 'fd00::/129', 'x/8', '10.0.0.0/-1', '10.0.0.0/ 8'])
    assert.ok(!isCidr(bad), bad);
});

test("on every corpus policy, our schema and Cilium's give the same structural verdict (but Kafka)", () => {
  const theirs = new Map<string, ReturnType<typeof compileCrdSchema>>();
  for (const [kind, file] of [
    ['CiliumNetworkPolicy', 'ciliumnetworkpolicies.yaml'],
    ['CiliumClusterwideNetworkPolicy', 'ciliumclusterwidenetworkpolicies.yaml'],
  ] as const) {
    const crd = parse(readFileSync(join(corpusDir, 'crds', file), 'utf8')) as {
      spec: { versions: Array<{ schema: { openAPIV3Schema: unknown } }> };
    };
    theirs.set(kind, compileCrdSchema(crd.spec.versions[0]!.schema.openAPIV3Schema));
  }
  const differ: string[] = [];
  let rejected = 0;
  for (const doc of corpusPolicyDocuments(corpusDir)) {
    const ours = structuralIssues(kindSchemas().get(doc.kind)!, doc.object);
    const cilium = theirs.get(doc.kind)!(doc.object);
    if (ours.length) rejected++;
    if (cilium !== (ours.length === 0) && !JSON.stringify(doc.object).includes('"kafka"')) {
      differ.push(`${doc.ref}: cilium ${cilium ? 'accepts' : 'rejects'}, ours ${JSON.stringify(ours)}`);
    }
    // what is rejected is rejected with a field path, not a bare "invalid"
    for (const i of ours)
      assert.ok(
        i.path && i.path !== '(root)' ? true : /apiversion|description/i.test(i.message),
        `${doc.ref}: ${JSON.stringify(i)}`,
      );
  }
  assert.deepEqual(differ, []);
  assert.ok(rejected >= 20, `only ${rejected} corpus documents rejected structurally`);
});
