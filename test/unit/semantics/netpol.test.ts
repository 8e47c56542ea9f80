// Kubernetes NetworkPolicy semantics: CIDR/except containment and family, port/endPort, footguns.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { networkPolicySemantics } from '../../../src/webhooks/semantics/index.ts';
import { assertIssue, assertNoErrors, type Case, type Doc } from './helpers.ts';

function np(spec: Doc): Doc {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name: 'n', namespace: 'default' },
    spec: { podSelector: {}, ...spec },
  };
}
const NP = (spec: Doc) => () => networkPolicySemantics(np(spec));
const ipIn = (ipBlock: Doc) => ({ ingress: [{ from: [{ ipBlock }] }] });

const invalid: Case[] = [
  {
    name: 'cidr does not parse',
    run: NP(ipIn({ cidr: '10.0.0/8' })),
    path: 'spec.ingress[0].from[0].ipBlock.cidr',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'cidr without prefix length',
    run: NP(ipIn({ cidr: '10.0.0.1' })),
    path: 'spec.ingress[0].from[0].ipBlock.cidr',
    fragment: 'write 10.0.0.1/32',
  },
  {
    name: 'except outside',
    run: NP(ipIn({ cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] })),
    path: 'spec.ingress[0].from[0].ipBlock.except[0]',
    fragment: 'is not strictly inside cidr 10.0.0.0/16',
  },
  {
    name: 'except equal to cidr',
    run: NP(ipIn({ cidr: '10.0.0.0/16', except: ['10.0.0.0/16'] })),
    path: 'spec.ingress[0].from[0].ipBlock.except[0]',
    fragment: 'removes all of it',
  },
  {
    name: 'except of the other family',
    run: NP({ egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32', except: ['10.0.0.0/8'] } }] }] }),
    path: 'spec.egress[0].to[0].ipBlock.except[0]',
    fragment: 'is IPv4 but cidr 2001:db8::/32 is IPv6',
  },
  {
    name: 'ipBlock with podSelector',
    run: NP({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }),
    path: 'spec.ingress[0].from[0].ipBlock',
    fragment: 'make it a separate entry',
  },
  {
    name: 'endPort below port',
    run: NP({ ingress: [{ ports: [{ port: 8080, endPort: 80 }] }] }),
    path: 'spec.ingress[0].ports[0].endPort',
    fragment: 'endPort 80 is below port 8080',
  },
  {
    name: 'endPort with a named port',
    run: NP({ egress: [{ ports: [{ port: 'http', endPort: 90 }] }] }),
    path: 'spec.egress[0].ports[0].endPort',
    fragment: 'endPort needs a numeric port',
  },
  {
    name: 'endPort without port',
    run: NP({ egress: [{ ports: [{ endPort: 90 }] }] }),
    path: 'spec.egress[0].ports[0].endPort',
    fragment: 'endPort needs port',
  },
  {
    name: 'port 0',
    run: NP({ ingress: [{ ports: [{ port: 0 }] }] }),
    path: 'spec.ingress[0].ports[0].port',
    fragment: 'from 1 to 65535',
  },
  {
    name: 'numeric port as a string',
    run: NP({ ingress: [{ ports: [{ port: '80' }] }] }),
    path: 'spec.ingress[0].ports[0].port',
    fragment: 'write it without quotes',
  },
  {
    name: 'upper-case port name',
    run: NP({ ingress: [{ ports: [{ port: 'HTTP' }] }] }),
    path: 'spec.ingress[0].ports[0].port',
    fragment: 'is not a valid port name',
  },
  {
    name: 'bad protocol',
    run: NP({ ingress: [{ ports: [{ protocol: 'ICMP', port: 1 }] }] }),
    path: 'spec.ingress[0].ports[0].protocol',
    fragment: 'use TCP (the default), UDP or SCTP',
  },
  {
    name: 'label selector In without values',
    run: NP({
      ingress: [{ from: [{ namespaceSelector: { matchExpressions: [{ key: 'team', operator: 'In', values: [] }] } }] }],
    }),
    path: 'spec.ingress[0].from[0].namespaceSelector.matchExpressions[0].values',
    fragment: 'needs at least one value',
  },
  {
    name: 'Cilium source prefix in a Kubernetes selector',
    run: NP({ podSelector: { matchLabels: { 'k8s:app': 'x' } } }),
    path: 'spec.podSelector.matchLabels.k8s:app',
    fragment: 'is invalid',
  },
];

describe('NetworkPolicy semantics', () => {
  for (const c of invalid) it(c.name, () => assertIssue(c.run(), c));

  it('a well-formed policy has no errors', () => {
    assertNoErrors(
      networkPolicySemantics(
        np({
          policyTypes: ['Ingress', 'Egress'],
          ingress: [
            {
              from: [
                { podSelector: { matchLabels: { app: 'a' } }, namespaceSelector: {} },
                { ipBlock: { cidr: '192.0.2.0/24', except: ['192.0.2.128/25'] } },
              ],
              ports: [{ port: 80 }, { port: 'https', protocol: 'TCP' }, { port: 8000, endPort: 9000 }],
            },
          ],
          egress: [{ to: [{ ipBlock: { cidr: '2001:db8::/32' } }], ports: [{ port: 53, protocol: 'UDP' }] }],
        }),
      ),
    );
  });

  const footguns: Case[] = [
    {
      name: 'empty ingress rule allows everything',
      run: NP({ ingress: [{}] }),
      path: 'spec.ingress[0]',
      fragment: 'allows all ingress traffic',
      severity: 'warning',
    },
    {
      name: 'egress rules ignored by policyTypes',
      run: NP({ policyTypes: ['Ingress'], egress: [{ ports: [{ port: 53, protocol: 'UDP' }] }] }),
      path: 'spec.egress',
      fragment: 'these egress rules are ignored',
      severity: 'warning',
    },
    {
      name: 'egress isolation without DNS',
      run: NP({ policyTypes: ['Egress'] }),
      path: 'spec.policyTypes',
      fragment: 'not even DNS lookups',
      severity: 'warning',
    },
    {
      name: 'ipBlock 0.0.0.0/0 does not cover pods with Cilium',
      run: NP(ipIn({ cidr: '0.0.0.0/0' })),
      path: 'spec.ingress[0].from[0].ipBlock.cidr',
      fragment: 'never pods or nodes',
      severity: 'warning',
    },
    {
      name: 'non-canonical ipBlock',
      run: NP(ipIn({ cidr: '10.0.0.1/8' })),
      path: 'spec.ingress[0].from[0].ipBlock.cidr',
      fragment: 'write 10.0.0.0/8',
      severity: 'warning',
    },
  ];
  for (const c of footguns) {
    it(`warns: ${c.name}`, () => {
      const issues = c.run();
      assertIssue(issues, c);
      assert.deepEqual(
        issues.filter((i) => i.severity === 'error'),
        [],
      );
    });
  }
});
