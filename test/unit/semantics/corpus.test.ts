// Every CNP/CCNP of Cilium's example corpus: no semantic errors, except where Cilium's own
// validation rejects the document too. Those, and every warning, are listed here with the reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { corpusPolicyDocuments } from '../../harness/corpus-documents.ts';
import { corpusDir } from '../../harness/corpus.ts';
import { policySemantics, type PolicyKind } from '../../../src/webhooks/semantics/index.ts';

/** Documents Cilium rejects as well: ref → error paths, with the Cilium rule that rejects them. */
const ciliumRejects: Record<string, { paths: string[]; because: string }> = {
  'examples/cidr.yaml#0': {
    paths: ['spec.egress[0].toCIDRSet'],
    because: 'EgressCommonRule.Validate: "combining ToCIDR and ToCIDRSet is not supported yet"',
  },
  'examples/l3/egress-default-deny/egress-default-deny.yaml#0': {
    paths: ['spec'],
    because:
      'Rule.Validate: "rule must have at least one of Ingress, IngressDeny, Egress, EgressDeny" (egress: is null)',
  },
  'examples/l3/match-expressions/and-statement.yaml#0': {
    paths: [
      'spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator',
      'spec.ingress[0].fromEndpoints[0].matchExpressions[1].operator',
    ],
    because: 'operator "in": the CRD enum and ValidateLabelSelector accept only In, NotIn, Exists, DoesNotExist',
  },
  'examples/l3/match-expressions/or-statement.yaml#0': {
    paths: [
      'spec.ingress[0].fromEndpoints[0].matchExpressions[0].operator',
      'spec.ingress[0].fromEndpoints[1].matchExpressions[0].operator',
    ],
    because: 'operator "in", as above',
  },
  'examples-extra/minikube/malformed_policy.yaml#0': {
    paths: ['spec', 'spec'],
    because:
      'Rule.Validate: no endpointSelector/nodeSelector (it uses podSelector) and no ingress/egress list (egress is an object)',
  },
};

/** Warnings the corpus produces: ref → warning paths, and why they are right. */
const expectedWarnings: Record<string, { paths: string[]; because: string }> = {
  'examples/getting-started/kafka.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.kafka'],
    because: 'Kafka L7 rules were removed in Cilium 1.17',
  },
  'examples/l7/kafka/kafka-Role.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.kafka'],
    because: 'Kafka L7 rules were removed in Cilium 1.17',
  },
  'examples/l7/kafka/kafka-role.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.kafka'],
    because: 'Kafka L7 rules were removed in Cilium 1.17',
  },
  'examples/l7/kafka/kafka.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.kafka'],
    because: 'Kafka L7 rules were removed in Cilium 1.17',
  },
  'examples/l3/fqdn/fqdn.yaml#0': {
    paths: ['spec.egress[1].toFQDNs[0]'],
    because: 'toFQDNs with no DNS rule in the policy: the DNS proxy never sees the lookups',
  },
  'examples/l4/envoy_listener_redirect.yaml#0': {
    paths: ['spec.egress[0].toFQDNs[0]'],
    because: 'toFQDNs with no DNS rule in the policy',
  },
  'examples-extra/minikube/dns_policy.yaml#0': {
    paths: ['specs[0].egress[0].toFQDNs[0]'],
    because: 'toFQDNs; the kube-dns rule has ports but no rules.dns',
  },
  'examples-extra/minikube/dns_policy_with_l7.yaml#0': {
    paths: ['specs[0].egress[0].toFQDNs[0]'],
    because: 'toFQDNs with no DNS rule in the policy',
  },
  'examples/l3/ingress-allow-all/ingress-allow-all.yaml#0': {
    paths: ['spec.ingress'],
    because: 'ingress: [{fromEndpoints: null}] is an empty rule: it allows nothing, despite the name',
  },
  'examples-extra/minikube/sw_deny_policy.yaml#0': {
    paths: ['spec.ingress'],
    because: 'ingress: [{}] isolates without allowing anything (intended here; enableDefaultDeny would say so)',
  },
  'examples/l3/requires/requires.yaml#0': {
    paths: ['specs[0].ingress[0].fromRequires'],
    because: 'fromRequires is deprecated',
  },
  'examples/requires.yaml#0': { paths: ['specs[0].ingress[0].fromRequires'], because: 'fromRequires is deprecated' },
  'examples/service-empty.yaml#0': {
    paths: ['spec.egress[0].toServices', 'spec.egress[1].toServices[0]'],
    because: 'an empty toServices list and an entry naming no service select nothing',
  },
  'examples-extra/kubernetes-dns/dns-matchname-openshift.yaml#0': {
    paths: ['spec.egress[1].toPorts[0].ports[0].port'],
    because: "DNS rules on port 5353 (OpenShift's resolver really listens there)",
  },
  'examples/l7/http/http.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.HTTP'],
    because: '"HTTP" is not the field http: the API server prunes it and the port is opened without L7 filtering',
  },
  'examples-extra/minikube/l3_l4_l7_policy.yaml#0': {
    paths: ['spec.ingress[0].toPorts[0].rules.HTTP'],
    because: 'as above',
  },
};

describe('Cilium example corpus', () => {
  const docs = corpusPolicyDocuments(corpusDir);
  it('has the CNP/CCNP documents', () => assert.ok(docs.length >= 90, String(docs.length)));
  for (const d of docs) {
    it(d.ref, () => {
      const issues = policySemantics(d.kind as PolicyKind, d.object);
      const errors = issues.filter((i) => i.severity === 'error').map((i) => i.path);
      const warns = issues.filter((i) => i.severity === 'warning').map((i) => i.path);
      assert.deepEqual(
        errors,
        ciliumRejects[d.ref]?.paths ?? [],
        `errors: ${issues.map((i) => i.message).join(' | ')}`,
      );
      assert.deepEqual(
        warns,
        expectedWarnings[d.ref]?.paths ?? [],
        `warnings: ${issues.map((i) => i.message).join(' | ')}`,
      );
    });
  }
  it('every listed document exists', () => {
    const refs = new Set(docs.map((d) => d.ref));
    for (const ref of [...Object.keys(ciliumRejects), ...Object.keys(expectedWarnings)]) assert.ok(refs.has(ref), ref);
  });
});
