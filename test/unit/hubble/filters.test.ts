// Hubble's FlowFilter semantics, table-driven: each filter kind alone, then whitelist/blacklist
// combinations (any whitelist filter, no blacklist filter; all fields of one filter; any value).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  compileFilter,
  compileFilters,
  parseSelector,
  FilterError,
  type FlowFilter,
} from '../../../src/hubble/filters.ts';
import type { Flow } from '../../../src/hubble/flow.ts';
import { flow, denied } from './fixtures.ts';

// x/a-7d9f (300, 10.0.0.1:51234) -> y/b-5c4e (301, 10.0.1.2:80), TCP SYN, ingress, forwarded
const fwd = flow();
const drop = denied();
const udp = flow({
  protocol: 17,
  sport: 40000,
  dport: 53,
  srcIdentity: 302,
  saddr: '10.0.1.3',
  dstIdentity: 2,
  daddr: '1.1.1.1',
  direction: 'egress',
});
const icmp6 = flow({
  protocol: 58,
  family: 6,
  saddr: 'fd00::1',
  daddr: 'fd00::1:2',
  icmpType: 128,
  sport: 0,
  dport: 0,
});
const reply = flow({ ctState: 2, tcpFlags: 16 | 2 });
const http: Flow = {
  ...flow(),
  l7: { type: 'REQUEST', http: { code: 503, method: 'GET', url: 'http://b/api/v1' } },
  source_names: ['api.example.com'],
};

const cases: [string, FlowFilter, Flow, boolean][] = [
  ['source_ip exact', { source_ip: ['10.0.0.1'] }, fwd, true],
  ['source_ip other', { source_ip: ['10.0.0.2'] }, fwd, false],
  ['source_ip CIDR', { source_ip: ['10.0.0.0/24'] }, fwd, true],
  ['destination_ip CIDR miss', { destination_ip: ['10.0.0.0/24'] }, fwd, false],
  ['destination_ip any of', { destination_ip: ['9.9.9.9', '10.0.1.0/24'] }, fwd, true],
  ['IPv6 CIDR', { destination_ip: ['fd00::/112'] }, icmp6, false],
  ['IPv6 CIDR hit', { destination_ip: ['fd00::1:0/112'] }, icmp6, true],
  ['IPv4 CIDR never matches IPv6', { source_ip: ['0.0.0.0/0'] }, icmp6, false],
  ['source_pod ns/prefix', { source_pod: ['x/a-'] }, fwd, true],
  ['source_pod namespace only', { source_pod: ['x/'] }, fwd, true],
  ['source_pod wrong ns', { source_pod: ['y/a-'] }, fwd, false],
  ['source_pod bare name is in default', { source_pod: ['a-'] }, fwd, false],
  ['destination_pod', { destination_pod: ['y/b'] }, fwd, true],
  ['destination_pod: world has no pod', { destination_pod: ['y/'] }, udp, false],
  ['source_label k8s:app=a', { source_label: ['k8s:app=a'] }, fwd, true],
  ['source_label app=a (any source)', { source_label: ['app=a'] }, fwd, true],
  ['source_label other source', { source_label: ['container:app=a'] }, fwd, false],
  ['destination_label set-based', { destination_label: ['app in (b, c), tier'] }, fwd, true],
  ['destination_label notin', { destination_label: ['app notin (b)'] }, fwd, false],
  ['destination_label !key', { destination_label: ['!tier'] }, fwd, false],
  ['destination_label !=', { destination_label: ['app!=c'] }, fwd, true],
  ['destination_label reserved:world', { destination_label: ['reserved:world'] }, udp, true],
  ['source_identity', { source_identity: [300] }, fwd, true],
  ['destination_identity miss', { destination_identity: [300] }, fwd, false],
  ['verdict', { verdict: ['DROPPED'] }, drop, true],
  ['verdict miss', { verdict: ['DROPPED'] }, fwd, false],
  ['drop_reason_desc', { drop_reason_desc: ['POLICY_DENIED'] }, drop, true],
  ['event_type drop', { event_type: [{ type: 1 }] }, drop, true],
  ['event_type trace:to-endpoint', { event_type: [{ type: 4, match_sub_type: true, sub_type: 0 }] }, fwd, true],
  ['event_type trace:from-endpoint', { event_type: [{ type: 4, match_sub_type: true, sub_type: 5 }] }, fwd, false],
  ['protocol tcp', { protocol: ['TCP'] }, fwd, true],
  ['protocol udp', { protocol: ['udp'] }, fwd, false],
  ['protocol icmp covers v6', { protocol: ['icmp'] }, icmp6, true],
  ['protocol icmpv4 not v6', { protocol: ['icmpv4'] }, icmp6, false],
  ['protocol http', { protocol: ['http'] }, http, true],
  ['destination_port', { destination_port: ['80'] }, fwd, true],
  ['source_port', { source_port: ['80'] }, fwd, false],
  ['port on ICMP never matches', { destination_port: ['0'] }, icmp6, false],
  ['node_name exact', { node_name: ['node-a'] }, fwd, true],
  ['node_name glob', { node_name: ['node-*'] }, fwd, true],
  ['node_name cluster/glob', { node_name: ['default/node-*'] }, fwd, true],
  ['node_name other cluster', { node_name: ['mesh2/node-a'] }, fwd, false],
  ['traffic_direction', { traffic_direction: ['EGRESS'] }, udp, true],
  ['traffic_direction miss', { traffic_direction: ['EGRESS'] }, fwd, false],
  ['tcp_flags SYN', { tcp_flags: [{ SYN: true }] }, fwd, true],
  ['tcp_flags SYN+ACK needs both', { tcp_flags: [{ SYN: true, ACK: true }] }, fwd, false],
  ['tcp_flags any of', { tcp_flags: [{ FIN: true }, { SYN: true }] }, fwd, true],
  ['reply true', { reply: [true] }, reply, true],
  ['reply false', { reply: [false] }, fwd, true],
  ['ip_version', { ip_version: ['IPv6'] }, icmp6, true],
  ['ip_version miss', { ip_version: ['IPv6'] }, fwd, false],
  ['interface by name', { interface: [{ name: 'lxc1234' }] }, fwd, true],
  ['source_fqdn glob', { source_fqdn: ['*.example.com'] }, http, true],
  ['http_status_code 5+', { http_status_code: ['5+'] }, http, true],
  ['http_method', { http_method: ['get'] }, http, true],
  ['http_path regex', { http_path: ['^/api/'] }, http, true],
  ['uuid', { uuid: ['nope'] }, fwd, false],
  ['all fields must match (hit)', { source_pod: ['x/'], verdict: ['FORWARDED'], destination_port: ['80'] }, fwd, true],
  [
    'all fields must match (one misses)',
    { source_pod: ['x/'], verdict: ['DROPPED'], destination_port: ['80'] },
    fwd,
    false,
  ],
  ['empty filter matches all', {}, fwd, true],
];

for (const [name, ff, f, want] of cases) {
  test(`filter ${name}`, () => assert.equal(compileFilter(ff)(f), want));
}

test('whitelist: any filter; blacklist: none; both together', () => {
  const flows = [fwd, drop, udp, icmp6];
  const run = (w: FlowFilter[], b: FlowFilter[]) => flows.map(compileFilters(w, b));
  assert.deepEqual(run([], []), [true, true, true, true]);
  assert.deepEqual(run([{ verdict: ['DROPPED'] }, { protocol: ['udp'] }], []), [false, true, true, false]);
  assert.deepEqual(run([], [{ verdict: ['DROPPED'] }]), [true, false, true, true]);
  assert.deepEqual(run([{ source_identity: [300] }], [{ verdict: ['DROPPED'] }]), [true, false, false, true]);
  assert.deepEqual(run([], [{ protocol: ['tcp'] }, { protocol: ['udp'] }]), [false, false, false, true]);
});

test('bad values are FilterErrors, not silent mismatches', () => {
  for (const ff of [
    { source_ip: ['10.0.0.300'] },
    { destination_ip: ['10.0.0.0/33'] },
    { destination_port: ['http'] },
    { destination_port: ['70000'] },
    { protocol: ['quic'] },
    { source_pod: [''] },
    { source_label: ['app in (a'] },
    { node_name: ['a/b/c'] },
    { http_path: ['('] },
    { http_status_code: ['99'] },
  ] as FlowFilter[]) {
    assert.throws(() => compileFilter(ff), FilterError, JSON.stringify(ff));
  }
  assert.throws(
    () => compileFilter({ experimental: { cel_expression: ['true'] } }),
    (e: FilterError) => e.unimplemented,
  );
});

test('label selectors parse like hubble: keys without a source match any source', () => {
  assert.deepEqual(parseSelector('app=a'), [{ source: 'any', key: 'app', op: '=', values: ['a'] }]);
  assert.deepEqual(parseSelector('k8s:app==a, !k8s:debug'), [
    { source: 'k8s', key: 'app', op: '=', values: ['a'] },
    { source: 'k8s', key: 'debug', op: '!exists', values: [] },
  ]);
  assert.deepEqual(parseSelector('k8s:io.kubernetes.pod.namespace in (x,y)'), [
    { source: 'k8s', key: 'io.kubernetes.pod.namespace', op: 'in', values: ['x', 'y'] },
  ]);
});
