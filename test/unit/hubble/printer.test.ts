// Flows built from datapath events, and printed as hubble prints them (compact, table, jsonpb),
// with our extension: the deciding policy rules.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compactLine, FlowPrinter, stampMilli, fmtIdentity, flowType } from '../../../src/hubble/printer.ts';
import {
  policyFromRule,
  ruleFromPolicy,
  tcpFlagsFromBits,
  tcpFlagsText,
  l4Summary,
  type Timestamp,
} from '../../../src/hubble/flow.ts';
import { messageToJson, rfc3339, jsonName } from '../../../src/hubble/proto.ts';
import { flow, denied } from './fixtures.ts';
import type { JsonFlowsResponse } from './jsonpb.ts';

const utc = (t: Timestamp | undefined) =>
  t ? new Date((t.seconds ?? 0) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString() : 'N/A';

test('a forwarded event becomes a to-endpoint trace flow with pods, labels, node and interface', () => {
  const f = flow({ at: 123, rules: ['CiliumNetworkPolicy/y/allow-a ingress[0]'] });
  assert.deepEqual(f.time, { seconds: 1764331200, nanos: 123_000_000 });
  assert.equal(f.verdict, 'FORWARDED');
  assert.deepEqual(f.IP, { source: '10.0.0.1', destination: '10.0.1.2', ipVersion: 'IPv4' });
  assert.deepEqual(f.l4, { TCP: { source_port: 51234, destination_port: 80, flags: { SYN: true } } });
  assert.deepEqual(f.source, {
    ID: 11,
    identity: 300,
    namespace: 'x',
    labels: ['k8s:app=a', 'k8s:io.kubernetes.pod.namespace=x'],
    pod_name: 'a-7d9f',
  });
  assert.equal(f.destination?.pod_name, 'b-5c4e');
  assert.deepEqual(f.event_type, { type: 4, sub_type: 0 });
  assert.equal(f.trace_observation_point, 'TO_ENDPOINT');
  assert.equal(f.traffic_direction, 'INGRESS');
  assert.deepEqual(f.is_reply, { value: false });
  assert.deepEqual(f.interface, { index: 5, name: 'lxc1234' });
  assert.equal(f.node_name, 'node-a');
  assert.equal(f.Summary, 'TCP Flags: SYN');
  assert.equal(f.ingress_allowed_by?.[0]?.name, 'allow-a');
  assert.equal(f.ingress_denied_by, undefined);
});

test('a dropped event becomes a drop flow with the reason by number and by Hubble name, and the denying rule', () => {
  const f = denied({ direction: 'egress' });
  assert.equal(f.verdict, 'DROPPED');
  assert.equal(f.drop_reason, 133);
  assert.equal(f.drop_reason_desc, 'POLICY_DENIED');
  assert.deepEqual(f.event_type, { type: 1, sub_type: 133 });
  assert.deepEqual(f.egress_denied_by, [
    {
      kind: 'CiliumNetworkPolicy',
      name: 'deny-a',
      namespace: 'y',
      labels: [
        'k8s:io.cilium.k8s.policy.derived-from=CiliumNetworkPolicy',
        'k8s:io.cilium.k8s.policy.name=deny-a',
        'k8s:io.cilium.k8s.policy.namespace=y',
        'cilium-ts:rule=ingressDeny[0]',
      ],
    },
  ]);
  assert.equal(flowType(f), 'Policy denied');
  assert.equal(flowType(denied({ dropReason: 181 })), 'Policy denied by denylist');
});

test('unknown ends keep their reserved identity as a label', () => {
  const f = flow({ dstIdentity: 2, daddr: '1.1.1.1', direction: 'egress' });
  assert.deepEqual(f.destination, { identity: 2, labels: ['reserved:world'] });
  assert.equal(fmtIdentity(2), '(world)');
  assert.equal(fmtIdentity(301), '(ID:301)');
});

test('rules round-trip through Hubble Policy, namespaced and cluster-wide', () => {
  for (const r of [
    'CiliumNetworkPolicy/x/deny-yb ingressDeny[0]',
    'CiliumClusterwideNetworkPolicy/lockdown egress[2]',
    'NetworkPolicy/y/np',
  ]) {
    assert.equal(ruleFromPolicy(policyFromRule(r)), r);
  }
  assert.equal(policyFromRule('CiliumClusterwideNetworkPolicy/lockdown egress[2]').namespace, undefined);
});

test('TCP flags and summaries read as Hubble writes them', () => {
  assert.deepEqual(tcpFlagsFromBits(2 | 16 | 1), { SYN: true, ACK: true, FIN: true });
  assert.equal(tcpFlagsText(tcpFlagsFromBits(1 | 2 | 4 | 8 | 16)), 'SYN, ACK, RST, FIN, PSH');
  assert.equal(l4Summary({ UDP: { source_port: 1, destination_port: 53 } }), 'UDP');
  assert.equal(l4Summary({ ICMPv4: { type: 8 } }), 'ICMPv4 EchoRequest');
  assert.equal(l4Summary({ ICMPv6: { type: 129 } }), 'ICMPv6 EchoReply');
});

test("compact line: hubble's format, plus the deciding rule", () => {
  const f = denied({ at: 1123 });
  assert.equal(
    compactLine({ flow: f }, { formatTime: utc }),
    '2025-11-28T12:00:01.123Z: x/a-7d9f:51234 (ID:300) -> y/b-5c4e:80 (ID:301) Policy denied DROPPED (TCP Flags: SYN) by CiliumNetworkPolicy/y/deny-a ingressDeny[0]',
  );
  const r = flow({
    ctState: 2,
    tcpFlags: 18,
    sport: 80,
    dport: 51234,
    saddr: '10.0.1.2',
    daddr: '10.0.0.1',
    srcIdentity: 301,
    dstIdentity: 300,
  });
  assert.equal(
    compactLine({ flow: r }, { formatTime: utc, nodeName: true }),
    '2025-11-28T12:00:00.000Z [node-a]: x/a-7d9f:51234 (ID:300) <- y/b-5c4e:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN, ACK)',
    'a reply is printed the other way round with <-',
  );
  const unknownDir = { ...flow(), is_reply: undefined };
  assert.match(compactLine({ flow: unknownDir }, { formatTime: utc }), / <> /);
  assert.match(
    compactLine({ flow: flow() }, { formatTime: utc, numeric: true }),
    /^\S+: 10\.0\.0\.1:51234 \(ID:300\) -> 10\.0\.1\.2:80/,
  );
  assert.equal(
    compactLine(
      {
        lost_events: { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: 7, cpu: { value: 1 } },
        time: { seconds: 1764331200, nanos: 0 },
      },
      { formatTime: utc },
    ),
    '2025-11-28T12:00:00.000Z EVENTS LOST: PERF_EVENT_RING_BUFFER CPU(1) 7',
  );
});

test('Go StampMilli in local time', () => {
  const t = { seconds: 1764331201, nanos: 5_000_000 };
  const d = new Date(1764331201005);
  assert.match(stampMilli(t), /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d\.005$/);
  assert.equal(stampMilli(t).slice(4, 6), String(d.getDate()).padStart(2, ' '));
});

test('jsonpb: proto field names, RFC 3339 times, enum names, defaults left out', () => {
  const f = denied({ at: 1500 });
  const j = messageToJson('observer.GetFlowsResponse', {
    flow: f,
    node_name: 'node-a',
    time: f.time,
  }) as JsonFlowsResponse;
  assert.equal(j.time, '2025-11-28T12:00:01.500Z');
  assert.equal(j.node_name, 'node-a');
  assert.equal(j.flow.verdict, 'DROPPED');
  assert.equal(j.flow.drop_reason_desc, 'POLICY_DENIED');
  assert.deepEqual(j.flow.l4, { TCP: { source_port: 51234, destination_port: 80, flags: { SYN: true } } });
  assert.equal(j.flow.is_reply, false, 'a BoolValue prints as its value');
  assert.equal(j.flow.ingress_denied_by?.[0]?.kind, 'CiliumNetworkPolicy');
  assert.equal('uuid' in j.flow, false);
  const lines: string[] = [];
  new FlowPrinter({ format: 'json' }, (s) => lines.push(s)).write({ flow: f, node_name: 'node-a', time: f.time });
  assert.deepEqual(JSON.parse(lines[0]!), j);
  const camel = messageToJson('flow.Flow', f as Record<string, unknown>, { camelCase: true }) as {
    dropReasonDesc?: string;
    IP?: { ipVersion?: string };
  };
  assert.equal(camel.dropReasonDesc, 'POLICY_DENIED');
  assert.equal(camel.IP?.ipVersion, 'IPv4');
  assert.equal(jsonName('node_name'), 'nodeName');
  assert.equal(rfc3339({ seconds: 0, nanos: 1 }), '1970-01-01T00:00:00.000000001Z');
  assert.equal(rfc3339({ seconds: 0, nanos: 1000 }), '1970-01-01T00:00:00.000001Z');
});

test('table: aligned columns, header once, printed at the end', () => {
  const out: string[] = [];
  const p = new FlowPrinter({ format: 'table', formatTime: utc }, (s) => out.push(s));
  p.write({ flow: flow() });
  p.write({ flow: denied() });
  assert.equal(out.length, 0);
  p.end();
  const lines = out.join('').trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^TIMESTAMP +SOURCE +DESTINATION +TYPE +VERDICT +SUMMARY$/);
  // every column starts where its header does, three spaces after the widest cell before it
  assert.equal(lines[1]!.indexOf('x/a-7d9f'), lines[0]!.indexOf('SOURCE'));
  assert.equal(lines[0]!.indexOf('SOURCE'), '2025-11-28T12:00:00.000Z'.length + 3);
  assert.equal(lines[2]!.indexOf('Policy denied'), lines[0]!.indexOf('TYPE'));
  assert.equal(lines[2]!.indexOf('DROPPED'), lines[0]!.indexOf('VERDICT'));
  assert.equal(lines[0]!.indexOf('VERDICT'), lines[0]!.indexOf('TYPE') + 'Policy denied'.length + 3);
  assert.match(lines[2]!, /TCP Flags: SYN by CiliumNetworkPolicy\/y\/deny-a ingressDeny\[0\]$/);
});
