// CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy semantics: one failing and one passing
// example per rule, each failure pinned to its field path and a fragment of its message.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { policySemantics } from '../../../src/webhooks/semantics/index.ts';
import {
  app,
  assertIssue,
  assertNoErrors,
  ccnp,
  cnp,
  egressPorts,
  ingressPorts,
  rule,
  type Case,
  type Doc,
} from './helpers.ts';

const CNP = (d: Doc) => () => policySemantics('CiliumNetworkPolicy', d);
const CCNP = (d: Doc) => () => policySemantics('CiliumClusterwideNetworkPolicy', d);
const dnsPort = { ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: [{ matchPattern: '*' }] } };

const invalid: Case[] = [
  // Rule shape (cnp_types.go Validate, Rule.Validate)
  {
    name: 'neither spec nor specs',
    run: CNP({ apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', metadata: { name: 'x' } }),
    path: 'spec',
    fragment: 'needs spec (one rule) or specs',
  },
  { name: 'empty specs', run: CNP(cnp(undefined, { specs: [] })), path: 'specs', fragment: 'specs is an empty list' },
  {
    name: 'both selectors',
    run: CCNP(ccnp({ endpointSelector: {}, nodeSelector: {}, ingress: [{ fromEntities: ['world'] }] })),
    path: 'spec.nodeSelector',
    fragment: 'not both',
  },
  {
    name: 'no selector',
    run: CNP(cnp({ ingress: [{ fromEntities: ['world'] }] })),
    path: 'spec',
    fragment: 'the rule selects nothing',
  },
  {
    name: 'nodeSelector in a namespaced policy',
    run: CNP(cnp({ nodeSelector: {}, ingress: [{ fromEntities: ['world'] }] })),
    path: 'spec.nodeSelector',
    fragment: 'only allowed in a CiliumClusterwideNetworkPolicy',
  },
  {
    name: 'all directions empty',
    run: CNP(cnp(rule({ ingress: [], egress: [] }))),
    path: 'spec',
    fragment: 'no ingress, ingressDeny, egress or egressDeny entries',
  },
  {
    name: 'regression #38795: an invalid rule before a valid one in specs',
    run: CNP(
      cnp(undefined, {
        specs: [
          rule({ ingress: [{ fromEndpoints: [{}], fromEntities: ['world'] }] }),
          rule({ ingress: [{ fromEntities: ['world'] }] }),
        ],
      }),
    ),
    path: 'specs[0].ingress[0].fromEntities',
    fragment: 'fromEndpoints and fromEntities cannot be combined',
  },
  // L3 peer combinations (IngressCommonRule / EgressCommonRule Validate)
  {
    name: 'fromEndpoints with fromCIDR',
    run: CNP(cnp(rule({ ingress: [{ fromEndpoints: [{}], fromCIDR: ['10.0.0.0/8'] }] }))),
    path: 'spec.ingress[0].fromCIDR',
    fragment: 'cannot be combined in one rule',
  },
  {
    name: 'fromNodes with fromEntities',
    run: CCNP(ccnp(rule({ ingress: [{ fromNodes: [{}], fromEntities: ['world'] }] }))),
    path: 'spec.ingress[0].fromNodes',
    fragment: 'fromEntities and fromNodes',
  },
  {
    name: 'toFQDNs with toEndpoints',
    run: CNP(cnp(rule({ egress: [{ toEndpoints: [{}], toFQDNs: [{ matchName: 'a.com' }] }] }))),
    path: 'spec.egress[0].toFQDNs',
    fragment: 'toEndpoints and toFQDNs cannot be combined',
  },
  {
    name: 'toFQDNs with toCIDR',
    run: CNP(cnp(rule({ egress: [{ toCIDR: ['10.0.0.0/8'], toFQDNs: [{ matchName: 'a.com' }] }] }))),
    path: 'spec.egress[0].toFQDNs',
    fragment: 'toCIDR and toFQDNs',
  },
  {
    name: 'toCIDR with toCIDRSet',
    run: CNP(cnp(rule({ egress: [{ toCIDR: ['10.0.0.1/32'], toCIDRSet: [{ cidr: '10.0.0.0/8' }] }] }))),
    path: 'spec.egress[0].toCIDRSet',
    fragment: 'toCIDR and toCIDRSet',
  },
  {
    name: 'toServices with toEntities',
    run: CNP(
      cnp(
        rule({
          egress: [{ toEntities: ['world'], toServices: [{ k8sService: { serviceName: 's', namespace: 'n' } }] }],
        }),
      ),
    ),
    path: 'spec.egress[0].toServices',
    fragment: 'toEntities and toServices',
  },
  {
    name: 'ingressDeny peers combined',
    run: CNP(cnp(rule({ ingressDeny: [{ fromEntities: ['world'], fromCIDRSet: [{ cidr: '10.0.0.0/8' }] }] }))),
    path: 'spec.ingressDeny[0].fromEntities',
    fragment: 'fromCIDRSet and fromEntities cannot be combined',
  },
  {
    name: 'icmps with toPorts',
    run: CNP(cnp(rule({ ingress: [{ icmps: [{ fields: [{ type: 8 }] }], toPorts: [{ ports: [{ port: '80' }] }] }] }))),
    path: 'spec.ingress[0].icmps',
    fragment: 'icmps and toPorts cannot be in the same rule',
  },
  // CIDRs (CIDR.Validate, CIDRRule.Validate)
  {
    name: 'fromCIDR does not parse',
    run: CNP(cnp(rule({ ingress: [{ fromCIDR: ['10.0.0.300/24'] }] }))),
    path: 'spec.ingress[0].fromCIDR[0]',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'IPv6 fromCIDR does not parse',
    run: CNP(cnp(rule({ ingress: [{ fromCIDR: ['2001:db8:::/32'] }] }))),
    path: 'spec.ingress[0].fromCIDR[0]',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'prefix length with leading zero',
    run: CNP(cnp(rule({ egress: [{ toCIDR: ['10.0.0.0/08'] }] }))),
    path: 'spec.egress[0].toCIDR[0]',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'CIDR set without prefix length',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.1' }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].cidr',
    fragment: 'write 10.0.0.1/32',
  },
  {
    name: 'except outside its cidr',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['192.168.0.0/16'] }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].except[0]',
    fragment: 'is not inside cidr 10.0.0.0/8',
  },
  {
    name: 'except wider than its cidr',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.1.0.0/16', except: ['10.0.0.0/8'] }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].except[0]',
    fragment: 'is not inside',
  },
  {
    name: 'except of the other family',
    run: CNP(
      cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '2001:db8::/64'] }] }] })),
    ),
    path: 'spec.egress[0].toCIDRSet[0].except[1]',
    fragment: 'is IPv6 but cidr 10.0.0.0/8 is IPv4',
  },
  {
    name: 'IPv6 except outside',
    run: CNP(cnp(rule({ ingress: [{ fromCIDRSet: [{ cidr: '2001:db8::/32', except: ['2001:db9::/48'] }] }] }))),
    path: 'spec.ingress[0].fromCIDRSet[0].except[0]',
    fragment: 'is not inside cidr 2001:db8::/32',
  },
  {
    name: 'except does not parse',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.0.0.0/33'] }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].except[0]',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'cidr and cidrGroupRef together',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', cidrGroupRef: 'g' }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0]',
    fragment: 'set exactly one per entry',
  },
  {
    name: 'error deep in specs[2] of a clusterwide policy',
    run: CCNP(
      ccnp(undefined, {
        specs: [
          rule({ egress: [{ toEntities: ['world'] }] }),
          rule({ egress: [{ toEntities: ['world'] }] }),
          rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.1.0.0/16', '11.0.0.0/16'] }] }] }),
        ],
      }),
    ),
    path: 'specs[2].egress[0].toCIDRSet[0].except[1]',
    fragment: 'is not inside',
  },
  // Ports (PortProtocol.Validate, iana.IsSvcName)
  {
    name: 'port out of range',
    run: CNP(ingressPorts({ ports: [{ port: '70000', protocol: 'TCP' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'port 70000 is out of range',
  },
  {
    name: 'port name with underscore',
    run: CNP(ingressPorts({ ports: [{ port: 'my_port' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'neither a number from 0 to 65535 nor a valid port name',
  },
  {
    name: 'port name with double hyphen',
    run: CNP(ingressPorts({ ports: [{ port: 'http--alt' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'nor a valid port name',
  },
  {
    name: 'port name longer than 15',
    run: CNP(ingressPorts({ ports: [{ port: 'averyverylongname' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: '1-15 lowercase letters',
  },
  {
    name: 'octal port with 8',
    run: CNP(ingressPorts({ ports: [{ port: '080' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'read as an octal number',
  },
  {
    name: 'endPort below port',
    run: CNP(ingressPorts({ ports: [{ port: '80', endPort: 79, protocol: 'TCP' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].endPort',
    fragment: 'endPort 79 is below port 80: set endPort to 80 or more, or drop it for a single port',
  },
  {
    name: 'endPort with a named port',
    run: CNP(ingressPorts({ ports: [{ port: 'http', endPort: 90 }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].endPort',
    fragment: 'endPort needs a numeric port',
  },
  {
    name: 'port missing',
    run: CNP(ingressPorts({ ports: [{ protocol: 'TCP' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'port must be specified',
  },
  {
    name: 'VRRP with a port',
    run: CCNP(
      ccnp({
        nodeSelector: {},
        ingress: [{ fromEntities: ['world'], toPorts: [{ ports: [{ port: '112', protocol: 'VRRP' }] }] }],
      }),
    ),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'VRRP has no ports',
  },
  {
    name: 'more than 40 deny ports',
    run: CNP(
      cnp(
        rule({
          ingressDeny: [{ toPorts: [{ ports: Array.from({ length: 41 }, (_, i) => ({ port: String(1000 + i) })) }] }],
        }),
      ),
    ),
    path: 'spec.ingressDeny[0].toPorts[0].ports',
    fragment: 'at most 40',
  },
  // L7 placement (PortRule.Validate, L7Rules.Validate)
  {
    name: 'HTTP on UDP',
    run: CNP(ingressPorts({ ports: [{ port: '80', protocol: 'UDP' }], rules: { http: [{}] } })),
    path: 'spec.ingress[0].toPorts[0].ports[0].protocol',
    fragment: 'HTTP rules only apply to TCP',
  },
  {
    name: 'HTTP without protocol (ANY)',
    run: CNP(ingressPorts({ ports: [{ port: '80' }], rules: { http: [{ method: 'GET' }] } })),
    path: 'spec.ingress[0].toPorts[0].ports[0]',
    fragment: 'protocol is ANY (the default): set protocol: TCP',
  },
  {
    name: 'HTTP on a port range',
    run: CNP(ingressPorts({ ports: [{ port: '80', endPort: 90, protocol: 'TCP' }], rules: { http: [{}] } })),
    path: 'spec.ingress[0].toPorts[0].ports[0].endPort',
    fragment: 'cannot apply to a port range',
  },
  {
    name: 'HTTP on port 0',
    run: CNP(ingressPorts({ ports: [{ port: '0', protocol: 'TCP' }], rules: { http: [{}] } })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'port 0 means every port',
  },
  {
    name: 'DNS rules on ingress',
    run: CNP(ingressPorts({ ports: [{ port: '53', protocol: 'UDP' }], rules: { dns: [{ matchPattern: '*' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.dns',
    fragment: 'only supported on egress',
  },
  {
    name: 'DNS rules without ports',
    run: CNP(egressPorts({ rules: { dns: [{ matchPattern: '*' }] } })),
    path: 'spec.egress[0].toPorts[0].ports',
    fragment: 'need the DNS port listed',
  },
  {
    name: 'DNS rules on a port range',
    run: CNP(egressPorts({ ports: [{ port: '53', endPort: 54 }], rules: { dns: [{ matchPattern: '*' }] } })),
    path: 'spec.egress[0].toPorts[0].ports[0].endPort',
    fragment: 'DNS rules do not support port ranges',
  },
  {
    name: 'HTTP in a host policy',
    run: CCNP(
      ccnp({
        nodeSelector: {},
        ingress: [
          { fromEntities: ['world'], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{}] } }] },
        ],
      }),
    ),
    path: 'spec.ingress[0].toPorts[0].rules.http',
    fragment: 'host policies (nodeSelector) do not support HTTP',
  },
  {
    name: 'listener on ingress',
    run: CNP(
      ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], listener: { envoyConfig: { name: 'e' }, name: 'l' } }),
    ),
    path: 'spec.ingress[0].toPorts[0].listener',
    fragment: 'only supported on egress',
  },
  {
    name: 'listener with L7 rules',
    run: CNP(
      egressPorts({
        ports: [{ port: '80', protocol: 'TCP' }],
        listener: { envoyConfig: { name: 'e' }, name: 'l' },
        rules: { http: [{}] },
      }),
    ),
    path: 'spec.egress[0].toPorts[0].listener',
    fragment: 'cannot be combined with L7 rules',
  },
  {
    name: 'serverNames with L7 and no TLS termination',
    run: CNP(egressPorts({ ports: [{ port: '443', protocol: 'TCP' }], serverNames: ['a.com'], rules: { http: [{}] } })),
    path: 'spec.egress[0].toPorts[0].serverNames',
    fragment: 'need terminatingTLS',
  },
  // Deny rules
  {
    name: 'toFQDNs in egressDeny',
    run: CNP(cnp(rule({ egressDeny: [{ toFQDNs: [{ matchName: 'a.com' }] }] }))),
    path: 'spec.egressDeny[0].toFQDNs',
    fragment: 'not supported in egressDeny',
  },
  {
    name: 'L7 rules in ingressDeny',
    run: CNP(
      cnp(
        rule({
          ingressDeny: [
            { fromEntities: ['world'], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{}] } }] },
          ],
        }),
      ),
    ),
    path: 'spec.ingressDeny[0].toPorts[0].rules',
    fragment: 'deny rules match ports only',
  },
  {
    name: 'authentication in egressDeny',
    run: CNP(cnp(rule({ egressDeny: [{ toEntities: ['world'], authentication: { mode: 'required' } }] }))),
    path: 'spec.egressDeny[0].authentication',
    fragment: 'allowed traffic only',
  },
  // HTTP (PortRuleHTTP.Sanitize: regexp.Compile)
  {
    name: 'path with a back-reference',
    run: CNP(ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ path: '/(a)\\1' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.http[0].path',
    fragment: 'not a valid regular expression',
  },
  {
    name: 'method with a look-ahead',
    run: CNP(ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ method: '(?!DELETE).*' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.http[0].method',
    fragment: 'no back-references',
  },
  {
    name: 'path with an unclosed bracket',
    run: CNP(ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ path: '/api/[a-z' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.http[0].path',
    fragment: 'missing closing ]',
  },
  // FQDN (FQDNSelector.sanitize)
  {
    name: 'matchName with a wildcard',
    run: CNP(cnp(rule({ egress: [{ toFQDNs: [{ matchName: '*.example.com' }] }] }))),
    path: 'spec.egress[0].toFQDNs[0].matchName',
    fragment: 'for a wildcard use matchPattern',
  },
  {
    name: 'matchPattern with a slash',
    run: CNP(cnp(rule({ egress: [{ toFQDNs: [{ matchPattern: 'example.com/x' }] }] }))),
    path: 'spec.egress[0].toFQDNs[0].matchPattern',
    fragment: "may only contain letters, digits, '.', '-', '_' and '*'",
  },
  {
    name: 'matchName and matchPattern both',
    run: CNP(cnp(rule({ egress: [{ toFQDNs: [{ matchName: 'a.com', matchPattern: '*.a.com' }] }] }))),
    path: 'spec.egress[0].toFQDNs[0]',
    fragment: 'keep exactly one',
  },
  {
    name: 'dns rule with a bad name',
    run: CNP(
      egressPorts({ ports: [{ port: '53', protocol: 'UDP' }], rules: { dns: [{ matchName: 'exa mple.com' }] } }),
    ),
    path: 'spec.egress[0].toPorts[0].rules.dns[0].matchName',
    fragment: 'may only contain',
  },
  // Entities (EntitySelectorMapping)
  {
    name: 'entity in upper case',
    run: CNP(cnp(rule({ ingress: [{ fromEntities: ['World'] }] }))),
    path: 'spec.ingress[0].fromEntities[0]',
    fragment: 'entities are lowercase, write world',
  },
  {
    name: 'unknown entity',
    run: CNP(cnp(rule({ egress: [{ toEntities: ['internet'] }] }))),
    path: 'spec.egress[0].toEntities[0]',
    fragment: '"internet" is not an entity',
  },
  // Label selectors (EndpointSelector.Validate)
  {
    name: 'In without values',
    run: CNP(
      cnp({
        endpointSelector: { matchExpressions: [{ key: 'app', operator: 'In' }] },
        ingress: [{ fromEntities: ['world'] }],
      }),
    ),
    path: 'spec.endpointSelector.matchExpressions[0].values',
    fragment: 'operator In needs at least one value',
  },
  {
    name: 'Exists with values',
    run: CNP(
      cnp(
        rule({
          ingress: [{ fromEndpoints: [{ matchExpressions: [{ key: 'app', operator: 'Exists', values: ['x'] }] }] }],
        }),
      ),
    ),
    path: 'spec.ingress[0].fromEndpoints[0].matchExpressions[0].values',
    fragment: 'operator Exists takes no values',
  },
  {
    name: 'invalid label key',
    run: CNP(cnp({ endpointSelector: { matchLabels: { 'app!': 'x' } }, ingress: [{ fromEntities: ['world'] }] })),
    path: 'spec.endpointSelector.matchLabels.app!',
    fragment: 'label key "app!" is invalid',
  },
  {
    name: 'unknown label source',
    run: CNP(cnp({ endpointSelector: { matchLabels: { 'k9s:app': 'x' } }, ingress: [{ fromEntities: ['world'] }] })),
    path: 'spec.endpointSelector.matchLabels.k9s:app',
    fragment: 'unknown label source "k9s:"',
  },
  {
    name: 'invalid value in an expression',
    run: CNP(
      cnp({
        endpointSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['a b'] }] },
        ingress: [{ fromEntities: ['world'] }],
      }),
    ),
    path: 'spec.endpointSelector.matchExpressions[0].values[0]',
    fragment: 'not a valid label value',
  },
  // ICMP
  {
    name: 'ICMPv6 type name with family IPv4',
    run: CNP(cnp(rule({ ingress: [{ icmps: [{ fields: [{ type: 'PacketTooBig' }] }] }] }))),
    path: 'spec.ingress[0].icmps[0].fields[0].type',
    fragment: 'set family: IPv6',
  },
  {
    name: 'ICMP type out of range',
    run: CNP(cnp(rule({ ingress: [{ icmps: [{ fields: [{ type: 300 }] }] }] }))),
    path: 'spec.ingress[0].icmps[0].fields[0].type',
    fragment: 'ICMP type 300 is out of range',
  },
  // Kafka (PortRuleKafka.Sanitize in Cilium < 1.17)
  {
    name: 'kafka role and apiKey',
    run: CNP(
      ingressPorts({
        ports: [{ port: '9092', protocol: 'TCP' }],
        rules: { kafka: [{ role: 'produce', apiKey: 'produce' }] },
      }),
    ),
    path: 'spec.ingress[0].toPorts[0].rules.kafka[0]',
    fragment: 'role and apiKey are both set',
  },
  {
    name: 'kafka unknown apiKey',
    run: CNP(ingressPorts({ ports: [{ port: '9092', protocol: 'TCP' }], rules: { kafka: [{ apiKey: 'producer' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.kafka[0].apiKey',
    fragment: 'is not a Kafka API key',
  },
  {
    name: 'kafka bad topic',
    run: CNP(ingressPorts({ ports: [{ port: '9092', protocol: 'TCP' }], rules: { kafka: [{ topic: 'a/b' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.kafka[0].topic',
    fragment: 'may only contain',
  },
];

describe('policy semantics: invalid documents', () => {
  it('has at least 40 invalid documents', () => assert.ok(invalid.length >= 40, String(invalid.length)));
  for (const c of invalid) it(c.name, () => assertIssue(c.run(), c));
});

const valid: Array<{ name: string; kind?: 'CiliumClusterwideNetworkPolicy'; doc: Doc }> = [
  {
    name: 'L3/L4 rule',
    doc: cnp(
      rule({
        ingress: [
          {
            fromEndpoints: [{ matchLabels: { role: 'frontend' } }],
            toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
          },
        ],
      }),
    ),
  },
  {
    name: 'one peer kind per rule, several rules',
    doc: cnp(
      rule({
        ingress: [{ fromEndpoints: [{}] }, { fromEntities: ['world'] }, { fromCIDR: ['10.0.0.1', '2001:db8::/32'] }],
      }),
    ),
  },
  {
    name: 'toFQDNs with toPorts and DNS rules',
    doc: cnp(
      rule({
        egress: [
          {
            toEndpoints: [
              { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'kube-system', 'k8s:k8s-app': 'kube-dns' } },
            ],
            toPorts: [dnsPort],
          },
          {
            toFQDNs: [{ matchName: 'api.example.com' }, { matchPattern: '*.example.com' }],
            toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }],
          },
        ],
      }),
    ),
  },
  {
    name: 'toServices with toPorts',
    doc: cnp(
      rule({
        egress: [
          {
            toServices: [{ k8sServiceSelector: { selector: { matchLabels: { svc: 'a' } } } }],
            toPorts: [{ ports: [{ port: '80' }] }],
          },
        ],
      }),
    ),
  },
  {
    name: 'CIDR sets with excepts, both families',
    doc: cnp(
      rule({
        egress: [
          {
            toCIDRSet: [
              { cidr: '10.0.0.0/8', except: ['10.96.0.0/12', '10.0.0.0/8'] },
              { cidr: '2001:db8::/32', except: ['2001:db8:1::/48'] },
              { cidrGroupRef: 'corp' },
            ],
          },
        ],
      }),
    ),
  },
  {
    name: 'HTTP rule with RE2 regexes on TCP',
    doc: cnp(
      rule({
        ingress: [
          {
            toPorts: [
              {
                ports: [{ port: '80', protocol: 'TCP' }],
                rules: {
                  http: [
                    {
                      method: 'GET|POST',
                      path: '/api/v[0-9]+/.*',
                      headers: ['X-Token: abc'],
                      headerMatches: [{ name: 'X-A', mismatch: 'LOG', value: 'x' }],
                    },
                  ],
                },
              },
            ],
          },
        ],
      }),
    ),
  },
  {
    name: 'named ports and ranges',
    doc: cnp(
      rule({
        ingress: [
          { toPorts: [{ ports: [{ port: 'http' }, { port: '8000', endPort: 8100, protocol: 'TCP' }, { port: '0' }] }] },
        ],
      }),
    ),
  },
  {
    name: 'host policy in a clusterwide policy',
    kind: 'CiliumClusterwideNetworkPolicy',
    doc: ccnp({
      nodeSelector: { matchLabels: { 'node-role.kubernetes.io/control-plane': '' } },
      ingress: [
        { fromEntities: ['remote-node', 'health'], toPorts: [{ ports: [{ port: '6443', protocol: 'TCP' }] }] },
        { fromEntities: ['world'], toPorts: [{ ports: [{ protocol: 'VRRP' }] }] },
      ],
    }),
  },
  {
    name: 'deny rules with ports',
    doc: cnp(
      rule({
        ingressDeny: [{ fromEntities: ['world'], toPorts: [{ ports: [{ port: '22', protocol: 'TCP' }] }] }],
        egressDeny: [{ toCIDRSet: [{ cidr: '169.254.169.254/32' }] }],
      }),
    ),
  },
  {
    name: 'label keys with sources and prefixes',
    doc: cnp({
      endpointSelector: {
        matchLabels: {
          'k8s:io.kubernetes.pod.namespace': 'default',
          'reserved:host': '',
          'app.kubernetes.io/name': 'x',
        },
        matchExpressions: [
          { key: 'any:tier', operator: 'NotIn', values: ['db'] },
          { key: 'env', operator: 'DoesNotExist' },
        ],
      },
      ingress: [{ fromEntities: ['cluster'] }],
    }),
  },
  {
    name: 'ICMP names of the right family',
    doc: cnp(
      rule({
        ingress: [
          { icmps: [{ fields: [{ type: 'EchoRequest' }, { type: 'PacketTooBig', family: 'IPv6' }, { type: 8 }] }] },
        ],
      }),
    ),
  },
  {
    name: 'entities world-ipv4 and world-ipv6',
    doc: cnp(rule({ egress: [{ toEntities: ['world-ipv4', 'world-ipv6', 'kube-apiserver'] }] })),
  },
];

describe('policy semantics: valid documents', () => {
  for (const v of valid) {
    it(v.name, () => assertNoErrors(policySemantics(v.kind ?? 'CiliumNetworkPolicy', v.doc)));
  }
  it('regression #45716: enableDefaultDeny with rules that name no peer is valid, without warnings', () => {
    const issues = policySemantics(
      'CiliumNetworkPolicy',
      cnp(rule({ enableDefaultDeny: { ingress: true, egress: true }, ingress: [{}], egress: [{}] })),
    );
    assert.deepEqual(issues, []);
  });
  it('regression #38795: every rule of specs is checked, and a valid specs list passes', () => {
    const ok = cnp(undefined, {
      specs: [rule({ ingress: [{ fromEntities: ['world'] }] }), rule({ egress: [{ toEntities: ['world'] }] })],
    });
    assert.deepEqual(policySemantics('CiliumNetworkPolicy', ok), []);
    const bad = cnp(undefined, {
      specs: [
        rule({ ingress: [{ fromEntities: ['world'] }] }),
        rule({ ingress: [{ fromEntities: ['nowhere'] }] }),
        rule({ egress: [{ toEntities: ['bogus'] }] }),
      ],
    });
    const paths = policySemantics('CiliumNetworkPolicy', bad)
      .filter((i) => i.severity === 'error')
      .map((i) => i.path);
    assert.deepEqual(paths, ['specs[1].ingress[0].fromEntities[0]', 'specs[2].egress[0].toEntities[0]']);
  });
  it('spec and specs together are both checked', () => {
    const d = cnp(rule({ ingress: [{ fromEntities: ['bad1'] }] }), {
      specs: [rule({ ingress: [{ fromEntities: ['bad2'] }] })],
    });
    const paths = policySemantics('CiliumNetworkPolicy', d).map((i) => i.path);
    assert.deepEqual(paths, ['spec.ingress[0].fromEntities[0]', 'specs[0].ingress[0].fromEntities[0]']);
  });
});

const warnings: Case[] = [
  {
    name: 'non-canonical CIDR',
    run: CNP(cnp(rule({ egress: [{ toCIDR: ['10.1.2.3/8'] }] }))),
    path: 'spec.egress[0].toCIDR[0]',
    fragment: 'has host bits set, so it means 10.0.0.0/8',
    severity: 'warning',
  },
  {
    name: 'non-canonical IPv6 CIDR set',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '2001:db8::1/64' }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].cidr',
    fragment: 'write 2001:db8::/64',
    severity: 'warning',
  },
  {
    name: '0.0.0.0/0 instead of world',
    run: CNP(cnp(rule({ egress: [{ toCIDR: ['0.0.0.0/0'] }] }))),
    path: 'spec.egress[0].toCIDR[0]',
    fragment: 'write toEntities: [world]',
    severity: 'warning',
  },
  {
    name: '::/0 instead of world',
    run: CNP(cnp(rule({ ingress: [{ fromCIDRSet: [{ cidr: '::/0' }] }] }))),
    path: 'spec.ingress[0].fromCIDRSet[0].cidr',
    fragment: 'fromEntities: [world] (or world-ipv6)',
    severity: 'warning',
  },
  {
    name: 'empty ingress allows nothing',
    run: CNP(cnp(rule({ ingress: [{}] }))),
    path: 'spec.ingress',
    fragment: 'accept no ingress traffic at all',
    severity: 'warning',
  },
  {
    name: 'one empty entry among others',
    run: CNP(cnp(rule({ egress: [{ toEntities: ['world'] }, {}] }))),
    path: 'spec.egress[1]',
    fragment: 'is empty and allows nothing',
    severity: 'warning',
  },
  {
    name: 'empty rules with default deny off do nothing',
    run: CNP(cnp(rule({ enableDefaultDeny: { egress: false }, egress: [{}] }))),
    path: 'spec.egress',
    fragment: 'does nothing at egress',
    severity: 'warning',
  },
  {
    name: 'empty peer list selects nothing',
    run: CNP(cnp(rule({ ingress: [{ fromEndpoints: [] }] }))),
    path: 'spec.ingress[0].fromEndpoints',
    fragment: 'selects no peer',
    severity: 'warning',
  },
  {
    name: 'toFQDNs without DNS rules',
    run: CNP(cnp(rule({ egress: [{ toFQDNs: [{ matchName: 'a.com' }] }] }))),
    path: 'spec.egress[0].toFQDNs[0]',
    fragment: 'no egress rule in this policy has DNS rules',
    severity: 'warning',
  },
  {
    name: 'toFQDNs name not allowed by the DNS rules',
    run: CNP(
      cnp(
        rule({
          egress: [
            {
              toEndpoints: [{}],
              toPorts: [{ ports: [{ port: '53', protocol: 'ANY' }], rules: { dns: [{ matchPattern: '*.b.com' }] } }],
            },
            { toFQDNs: [{ matchName: 'a.com' }] },
          ],
        }),
      ),
    ),
    path: 'spec.egress[1].toFQDNs[0].matchName',
    fragment: 'do not allow looking up "a.com"',
    severity: 'warning',
  },
  {
    name: 'fromRequires is deprecated',
    run: CNP(cnp(rule({ ingress: [{ fromRequires: [{ matchLabels: { env: 'prod' } }] }] }))),
    path: 'spec.ingress[0].fromRequires',
    fragment: 'deprecated',
    severity: 'warning',
  },
  {
    name: 'Kafka rules are deprecated',
    run: CNP(
      ingressPorts({ ports: [{ port: '9092', protocol: 'TCP' }], rules: { kafka: [{ role: 'produce', topic: 't' }] } }),
    ),
    path: 'spec.ingress[0].toPorts[0].rules.kafka',
    fragment: 'removed in Cilium 1.17',
    severity: 'warning',
  },
  {
    name: 'upper-case port name',
    run: CNP(ingressPorts({ ports: [{ port: 'HTTP' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'write "http"',
    severity: 'warning',
  },
  {
    name: 'octal-looking port',
    run: CNP(ingressPorts({ ports: [{ port: '010' }] })),
    path: 'spec.ingress[0].toPorts[0].ports[0].port',
    fragment: 'reads it as octal (8)',
    severity: 'warning',
  },
  {
    name: 'header without a space after the colon',
    run: CNP(
      ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ headers: ['X-Key:true'] }] } }),
    ),
    path: 'spec.ingress[0].toPorts[0].rules.http[0].headers[0]',
    fragment: 'write "X-Key: true"',
    severity: 'warning',
  },
  {
    name: 'DNS rules on a port other than 53',
    run: CNP(egressPorts({ ports: [{ port: '5353', protocol: 'UDP' }], rules: { dns: [{ matchPattern: '*' }] } })),
    path: 'spec.egress[0].toPorts[0].ports[0].port',
    fragment: 'DNS rules on port 5353',
    severity: 'warning',
  },
  {
    name: 'except removes the whole cidr',
    run: CNP(cnp(rule({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.0.0.0/8'] }] }] }))),
    path: 'spec.egress[0].toCIDRSet[0].except[0]',
    fragment: 'allows nothing',
    severity: 'warning',
  },
  {
    name: 'endpointSelector naming another namespace',
    run: CNP(
      cnp({
        endpointSelector: { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'prod' } },
        ingress: [{ fromEntities: ['world'] }],
      }),
    ),
    path: 'spec.endpointSelector.matchLabels["k8s:io.kubernetes.pod.namespace"]',
    fragment: 'does not reach namespace "prod"',
    severity: 'warning',
  },
  {
    name: 'field name in the wrong case',
    run: CNP(ingressPorts({ ports: [{ port: '80', protocol: 'TCP' }], rules: { HTTP: [{ path: '/' }] } })),
    path: 'spec.ingress[0].toPorts[0].rules.HTTP',
    fragment: 'write http',
    severity: 'warning',
  },
  {
    name: 'REPLACE without a value',
    run: CNP(
      ingressPorts({
        ports: [{ port: '80', protocol: 'TCP' }],
        rules: { http: [{ headerMatches: [{ name: 'X-A', mismatch: 'REPLACE' }] }] },
      }),
    ),
    path: 'spec.ingress[0].toPorts[0].rules.http[0].headerMatches[0].mismatch',
    fragment: 'neither value nor secret',
    severity: 'warning',
  },
];

describe('policy semantics: warnings', () => {
  for (const c of warnings) {
    it(c.name, () => {
      const issues = c.run();
      assertIssue(issues, c);
      assert.deepEqual(
        issues.filter((i) => i.severity === 'error'),
        [],
        'a warning case must not produce errors',
      );
    });
  }
});

describe('policy semantics: messages', () => {
  it('every message says what is wrong and what would be right', () => {
    for (const c of [...invalid, ...warnings]) {
      for (const i of c.run()) assert.match(i.message, /:|;/, `${c.name}: ${i.message}`);
    }
  });
  it('a key with dots is bracketed in the path', () => {
    const issues = policySemantics(
      'CiliumNetworkPolicy',
      cnp({ endpointSelector: { matchLabels: { 'k8s:bad.key!': 'x' } }, ingress: [{ fromEntities: ['world'] }] }),
    );
    assert.equal(issues[0]?.path, 'spec.endpointSelector.matchLabels["k8s:bad.key!"]');
  });
  it('app selector is untouched', () => assert.deepEqual(app, { matchLabels: { app: 'web' } }));
});
