// The small rules the table is built from, each as a table: endpoint conditions, port matching and
// targetPort resolution, Cilium's traffic-policy table, and which backends a new flow may pick.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointState } from '../../../src/services/endpoints.ts';
import { parseProtocol, resolveTargetPort, slicePortFor } from '../../../src/services/ports.ts';
import { selectableBackends } from '../../../src/services/selectable-backends.ts';
import { affinityTimeout, skipReason, sourceRanges } from '../../../src/services/service-entries.ts';
import { scopesFor, usesLocalBackends } from '../../../src/services/traffic-policy.ts';
import type { Backend, BackendState, FrontendScope, FrontendType } from '../../../src/services/types.ts';
import { pod, svc } from './fixtures.ts';

test('endpointState: kube-proxy reading of EndpointSlice conditions', () => {
  const rows: [{ ready?: boolean; serving?: boolean; terminating?: boolean } | undefined, string | undefined][] = [
    [undefined, 'active'],
    [{}, 'active'],
    [{ ready: true }, 'active'],
    [{ ready: true, serving: true, terminating: true }, 'active'],
    [{ ready: false }, undefined],
    [{ ready: false, serving: true }, undefined],
    [{ ready: false, serving: true, terminating: true }, 'terminating'],
    [{ ready: false, terminating: true }, 'terminating'],
    [{ ready: false, serving: false, terminating: true }, undefined],
    [{ ready: false, serving: false, terminating: false }, undefined],
  ];
  for (const [cond, want] of rows) assert.equal(endpointState(cond), want, JSON.stringify(cond));
});

test('parseProtocol: absent is TCP; only TCP, UDP, SCTP', () => {
  const rows: [string | undefined, string | undefined][] = [
    [undefined, 'TCP'],
    ['', 'TCP'],
    ['TCP', 'TCP'],
    ['UDP', 'UDP'],
    ['SCTP', 'SCTP'],
    ['tcp', undefined],
    ['ICMP', undefined],
  ];
  for (const [p, want] of rows) assert.equal(parseProtocol(p), want, String(p));
});

test('slicePortFor: by name and protocol', () => {
  const ports = [
    { name: 'http', port: 8080 },
    { name: 'dns', port: 53, protocol: 'UDP' },
    { port: 9000 },
    { name: 'bad', port: 70000 },
  ];
  const rows: [{ name?: string; protocol?: string; port: number }, number | undefined][] = [
    [{ name: 'http', port: 80 }, 8080],
    [{ name: 'http', port: 80, protocol: 'UDP' }, undefined],
    [{ name: 'dns', port: 53, protocol: 'UDP' }, 53],
    [{ name: 'dns', port: 53 }, undefined],
    [{ port: 1 }, 9000],
    [{ name: '', port: 1 }, 9000],
    [{ name: 'missing', port: 1 }, undefined],
    [{ name: 'bad', port: 1 }, undefined],
  ];
  for (const [sp, want] of rows) assert.equal(slicePortFor(sp, ports), want, JSON.stringify(sp));
});

test("resolveTargetPort: the EndpointSlice controller's FindPort", () => {
  const p = pod('d', 'p', {
    ports: [
      { name: 'http', containerPort: 8080 },
      { name: 'dns', containerPort: 5353, protocol: 'UDP' },
    ],
    initPorts: [{ name: 'side', containerPort: 9000 }],
  });
  const rows: [{ port: number; targetPort?: number | string; protocol?: string }, number | undefined][] = [
    [{ port: 80 }, 80],
    [{ port: 80, targetPort: 0 }, 80],
    [{ port: 80, targetPort: 9376 }, 9376],
    [{ port: 80, targetPort: 'http' }, 8080],
    [{ port: 80, targetPort: 'http', protocol: 'UDP' }, undefined],
    [{ port: 53, targetPort: 'dns', protocol: 'UDP' }, 5353],
    [{ port: 90, targetPort: 'side' }, 9000],
    [{ port: 80, targetPort: 'nope' }, undefined],
    [{ port: 80, targetPort: 70000 }, undefined],
  ];
  for (const [sp, want] of rows) assert.equal(resolveTargetPort(sp, p), want, JSON.stringify(sp));
});

test("traffic policies: Cilium's table of scopes and node-local backends", () => {
  const P = (e: boolean, i: boolean) => ({ externalLocal: e, internalLocal: i });
  assert.deepEqual(scopesFor(P(false, false)), ['external']);
  assert.deepEqual(scopesFor(P(true, true)), ['external']);
  assert.deepEqual(scopesFor(P(true, false)), ['external', 'internal']);
  assert.deepEqual(scopesFor(P(false, true)), ['external', 'internal']);
  // [type, scope, eTP Local, iTP Local, local only?]
  const rows: [FrontendType, FrontendScope, boolean, boolean, boolean][] = [
    ['ClusterIP', 'external', true, false, false],
    ['ClusterIP', 'external', false, true, true],
    ['NodePort', 'external', true, false, true],
    ['NodePort', 'internal', true, false, false],
    ['NodePort', 'external', false, true, false],
    ['NodePort', 'internal', false, true, true],
    ['NodePort', 'external', true, true, true],
    ['LoadBalancer', 'external', true, false, true],
    ['LoadBalancer', 'internal', false, true, true],
    ['ExternalIP', 'external', true, false, true],
    ['ExternalIP', 'external', false, true, false],
    ['HostPort', 'external', true, true, false],
  ];
  for (const [type, scope, e, i, want] of rows) {
    assert.equal(usesLocalBackends(type, scope, P(e, i)), want, `${type}/${scope} eTP=${e} iTP=${i}`);
  }
});

test('selectableBackends: active ones; terminating only when none is active; else none', () => {
  const b = (address: string, state: BackendState): Backend => ({ address, port: 80, protocol: 'TCP', state });
  const names = (bs: Backend[]): string[] => bs.map((x) => x.address);
  const rows: [Backend[], string[]][] = [
    [[], []],
    [[b('a', 'active'), b('t', 'terminating')], ['a']],
    [
      [b('t1', 'terminating'), b('t2', 'terminating')],
      ['t1', 't2'],
    ],
    [[b('q', 'quarantined'), b('t', 'terminating')], ['t']],
    [[b('q', 'quarantined'), b('m', 'maintenance')], []],
    [[b('m', 'maintenance'), b('a', 'active')], ['a']],
  ];
  for (const [bs, want] of rows) assert.deepEqual(names(selectableBackends(bs)), want);
});

test('skipReason, affinityTimeout, sourceRanges on single Services', () => {
  assert.equal(skipReason(svc('d', 'a')), undefined);
  assert.equal(skipReason(svc('d', 'a', { clusterIP: 'None' })), 'headless');
  assert.equal(skipReason(svc('d', 'a', { type: 'ExternalName' })), 'ExternalName');
  assert.equal(
    skipReason(svc('d', 'a', { labels: { 'service.kubernetes.io/service-proxy-name': 'x' } })),
    'service-proxy-name',
  );
  assert.equal(affinityTimeout(svc('d', 'a')), undefined);
  assert.equal(affinityTimeout(svc('d', 'a', { affinity: 'ClientIP', affinityTimeout: 5 })), 5);
  assert.deepEqual(sourceRanges(svc('d', 'a', { sourceRanges: ['fd00::/8', '10.0.0.1/32', '10.0.0.0/8'] })), [
    '10.0.0.0/8',
    '10.0.0.1/32',
    'fd00::/8',
  ]);
  assert.deepEqual(sourceRanges(svc('d', 'a')), []);
});
