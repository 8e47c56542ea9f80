// bpf_lxc.o driven with BPF_PROG_TEST_RUN and hand-built packets. test_run runs the tc
// programs with skb->ifindex = 1 (lo), so the endpoint under test is registered at ifindex 1
// and reconfigured per test; maps are pinned under a private pin root removed afterwards.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import type { NativeRingBuffer } from '../../src/datapath/addon.ts';
import {
  flowEventCodec,
  policyEntryFor,
  portRangeToPrefixes,
  type FlowEvent,
  type PolicyEntry,
  type PolicyKey,
} from '../../src/datapath/codecs.ts';
import {
  CtState,
  DropReason,
  EndpointFlags,
  EnforcementMode,
  IpProto,
  TcAction,
  Verdict,
} from '../../src/datapath/constants.ts';
import { syncMap } from '../../src/datapath/map-sync.ts';
import { gcConntrack } from '../../src/datapath/conntrack-gc.ts';
import { requireDatapath } from './env.ts';
import * as pk from './packets.ts';

function fixTotLen4(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  out.writeUInt16BE(out.length - 14, 14 + 2);
  return out;
}

function fixPayloadLen6(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  out.writeUInt16BE(out.length - 14 - 40, 14 + 4);
  return out;
}

requireDatapath();

const POD = '10.200.0.10',
  PEER = '10.200.0.20',
  OTHER = '10.200.0.30',
  OUTSIDE = '192.0.2.1';
const POD6 = 'fd00:200::10',
  PEER6 = 'fd00:200::20';
const POD_ID = 1000,
  PEER_ID = 2000,
  OTHER_ID = 3000,
  EP_ID = 42;
const LO = 1;

describe('bpf_lxc under BPF_PROG_TEST_RUN', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-${process.pid}`;
  let dp: LxcDatapath;
  let rb: NativeRingBuffer;
  const events: FlowEvent[] = [];

  const run = (prog: number, data: Buffer): number => dp.addon.progTestRun(prog, data).retval;
  const egress = (data: Buffer): number => run(dp.progs.fromContainer, data);
  const ingress = (data: Buffer): number => run(dp.progs.toContainer, data);
  const drain = (): FlowEvent[] => {
    events.length = 0;
    rb.consume();
    return [...events];
  };

  function endpoint(flags: number, mode: number = EnforcementMode.DEFAULT): void {
    dp.maps.endpoints.update(LO, { epId: EP_ID, identity: POD_ID, flags, mode });
  }
  function rule(
    identity: number,
    direction: 'ingress' | 'egress',
    protocol: number,
    port: number,
    opts: { deny?: boolean; portPrefixLen?: number } = {},
  ): [PolicyKey, PolicyEntry] {
    const key: PolicyKey = {
      identity,
      direction,
      protocol,
      port,
      portPrefixLen: opts.portPrefixLen ?? (protocol === 0 ? 0 : port === 0 ? 0 : 16),
    };
    return [key, policyEntryFor(key, { deny: opts.deny ?? false })];
  }
  function policy(...entries: Array<[PolicyKey, PolicyEntry]>): void {
    dp.replaceEndpointPolicy(EP_ID, entries);
  }

  before(() => {
    dp = LxcDatapath.load({ pinRoot });
    rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
    rb.unref();
    syncMap(dp.maps.ipcache, [
      [`${POD}/32`, { identity: POD_ID, tunnelEndpoint: null, flags: 0 }],
      [`${PEER}/32`, { identity: PEER_ID, tunnelEndpoint: null, flags: 0 }],
      [`${OTHER}/32`, { identity: OTHER_ID, tunnelEndpoint: null, flags: 0 }],
      [`${POD6}/128`, { identity: POD_ID, tunnelEndpoint: null, flags: 0 }],
      [`${PEER6}/128`, { identity: PEER_ID, tunnelEndpoint: null, flags: 0 }],
    ]);
  });

  after(() => {
    rb?.close();
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  beforeEach(() => {
    syncMap(dp.maps.conntrack, []);
    drain();
  });

  it('is accepted by the verifier (both programs loaded as tc programs)', () => {
    const SCHED_CLS = 3;
    assert.deepEqual(
      [dp.addon.progInfo(dp.progs.fromContainer).type, dp.addon.progInfo(dp.progs.toContainer).type],
      [SCHED_CLS, SCHED_CLS],
    );
    assert.equal(dp.addon.progInfo(dp.progs.fromContainer).name, 'cil_from_contai'); // kernel names keep 15 chars
  });

  it('passes traffic of an endpoint without enforcement, and traffic of unknown interfaces', () => {
    dp.maps.endpoints.delete(LO);
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80)), TcAction.OK);
    endpoint(0);
    dp.deleteEndpointPolicy(EP_ID);
    assert.equal(egress(pk.tcp4(POD, PEER, 40001, 80)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40002, 80)), TcAction.OK);
  });

  it('enforces with no policy map as default deny (DROP_POLICY)', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    dp.deleteEndpointPolicy(EP_ID);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40000, 80)), TcAction.SHOT);
    const [ev] = drain();
    assert.equal(ev?.dropReason, DropReason.POLICY);
  });

  it('allows by identity and port, drops other identities and ports', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80));
    assert.equal(ingress(pk.tcp4(PEER, POD, 40000, 80)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40000, 81)), TcAction.SHOT);
    assert.equal(ingress(pk.tcp4(OTHER, POD, 40000, 80)), TcAction.SHOT);
    assert.equal(ingress(pk.udp4(PEER, POD, 40000, 80)), TcAction.SHOT);
    // World (not in the ipcache) is identity 2.
    assert.equal(ingress(pk.tcp4(OUTSIDE, POD, 40000, 80)), TcAction.SHOT);
  });

  it('does not apply ingress rules to egress and vice versa', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS | EndpointFlags.ENFORCE_EGRESS);
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80));
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80)), TcAction.SHOT);
    policy(rule(PEER_ID, 'egress', IpProto.TCP, 80));
    assert.equal(egress(pk.tcp4(POD, PEER, 40001, 80)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40002, 80)), TcAction.SHOT);
  });

  it('matches port ranges as LPM prefixes', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy(
      ...portRangeToPrefixes(8000, 8099).map((p) =>
        rule(PEER_ID, 'ingress', IpProto.TCP, p.port, { portPrefixLen: p.portPrefixLen }),
      ),
    );
    for (const port of [8000, 8001, 8050, 8063, 8064, 8099]) {
      assert.equal(ingress(pk.tcp4(PEER, POD, 41000 + (port % 1000), port)), TcAction.OK, `port ${port}`);
    }
    for (const port of [7999, 8100, 8128, 80]) {
      assert.equal(ingress(pk.tcp4(PEER, POD, 42000, port)), TcAction.SHOT, `port ${port}`);
    }
  });

  it('honours wildcard identity, wildcard port and wildcard protocol entries', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy(rule(0, 'ingress', IpProto.TCP, 443));
    assert.equal(ingress(pk.tcp4(OTHER, POD, 40000, 443)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(OUTSIDE, POD, 40001, 443)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(OTHER, POD, 40002, 444)), TcAction.SHOT);
    policy(rule(PEER_ID, 'ingress', IpProto.UDP, 0));
    assert.equal(ingress(pk.udp4(PEER, POD, 40003, 53)), TcAction.OK);
    assert.equal(ingress(pk.udp4(PEER, POD, 40004, 5353)), TcAction.OK);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40005, 53)), TcAction.SHOT);
    policy(rule(PEER_ID, 'ingress', IpProto.ANY, 0));
    assert.equal(ingress(pk.tcp4(PEER, POD, 40006, 1)), TcAction.OK);
    assert.equal(ingress(pk.udp4(PEER, POD, 40007, 9)), TcAction.OK);
    assert.equal(ingress(pk.echo4(PEER, POD, 7)), TcAction.OK);
  });

  it('lets deny beat allow, whichever is more specific (DROP_POLICY_DENY)', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    // Broad deny for PEER, narrow allow for PEER:80 -> denied.
    policy(rule(PEER_ID, 'ingress', IpProto.ANY, 0, { deny: true }), rule(PEER_ID, 'ingress', IpProto.TCP, 80));
    assert.equal(ingress(pk.tcp4(PEER, POD, 40000, 80)), TcAction.SHOT);
    assert.equal(drain()[0]?.dropReason, DropReason.POLICY_DENY);
    // Wildcard-identity deny on port 22 beats an identity allow-all.
    policy(rule(0, 'ingress', IpProto.TCP, 22, { deny: true }), rule(PEER_ID, 'ingress', IpProto.ANY, 0));
    assert.equal(ingress(pk.tcp4(PEER, POD, 40001, 22)), TcAction.SHOT);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40002, 23)), TcAction.OK);
    // A deny range covering an allowed port.
    policy(
      ...portRangeToPrefixes(0, 1023).map((p) =>
        rule(PEER_ID, 'ingress', IpProto.TCP, p.port, { deny: true, portPrefixLen: p.portPrefixLen }),
      ),
      rule(PEER_ID, 'ingress', IpProto.TCP, 80),
      rule(PEER_ID, 'ingress', IpProto.TCP, 8080),
    );
    assert.equal(ingress(pk.tcp4(PEER, POD, 40003, 80)), TcAction.SHOT);
    assert.equal(ingress(pk.tcp4(PEER, POD, 40004, 8080)), TcAction.OK);
  });

  it('passes replies and established packets through conntrack', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS | EndpointFlags.ENFORCE_EGRESS);
    policy(rule(PEER_ID, 'egress', IpProto.TCP, 80));
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80)), TcAction.OK);
    // The reply enters the pod although no ingress rule allows PEER.
    assert.equal(ingress(pk.tcp4(PEER, POD, 80, 40000, pk.TCP_SYN | pk.TCP_ACK)), TcAction.OK);
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80, pk.TCP_ACK)), TcAction.OK);
    // Another connection from PEER is not a reply.
    assert.equal(ingress(pk.tcp4(PEER, POD, 80, 40001, pk.TCP_SYN | pk.TCP_ACK)), TcAction.SHOT);
    const ct = dp.maps.conntrack.lookup({
      family: 4,
      saddr: POD,
      daddr: PEER,
      sport: 40000,
      dport: 80,
      protocol: 6,
      dir: 'egress',
    });
    assert.ok(ct);
    assert.equal(ct.packets, 3n);
    assert.equal(ct.srcIdentity, POD_ID);
    assert.equal(ct.tcpFlagsSeen, pk.TCP_SYN | pk.TCP_ACK);
    // The established flow keeps passing after the policy is removed.
    policy();
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80, pk.TCP_ACK)), TcAction.OK);
    assert.equal(egress(pk.tcp4(POD, PEER, 40009, 80)), TcAction.SHOT);
  });

  it('expires conntrack entries from the agent side by protocol and TCP state', () => {
    endpoint(0);
    egress(pk.udp4(POD, PEER, 5000, 53));
    egress(pk.tcp4(POD, PEER, 40000, 80, pk.TCP_SYN));
    egress(pk.tcp4(POD, PEER, 40001, 80, pk.TCP_SYN));
    egress(pk.tcp4(POD, PEER, 40001, 80, pk.TCP_ACK));
    egress(pk.tcp4(POD, PEER, 40002, 80, pk.TCP_SYN));
    egress(pk.tcp4(POD, PEER, 40002, 80, pk.TCP_ACK | pk.TCP_FIN));
    const last = dp.maps.conntrack.entries().reduce((m, [, e]) => (e.lastSeen > m ? e.lastSeen : m), 0n);
    const s = 1_000_000_000n;
    assert.deepEqual(gcConntrack(dp.maps.conntrack, { now: last + 5n * s }), { scanned: 4, deleted: 0 });
    assert.deepEqual(gcConntrack(dp.maps.conntrack, { now: last + 11n * s }), { scanned: 4, deleted: 1 }); // FIN seen
    assert.deepEqual(gcConntrack(dp.maps.conntrack, { now: last + 61n * s }), { scanned: 3, deleted: 2 }); // UDP, SYN only
    const left = dp.maps.conntrack.entries().map(([k]) => k.sport);
    assert.deepEqual(left, [40001]); // established TCP stays for hours
  });

  it('drops ICMP once L4 policy applies unless related or allowed', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS | EndpointFlags.ENFORCE_EGRESS);
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80), rule(PEER_ID, 'egress', IpProto.TCP, 80));
    assert.equal(ingress(pk.echo4(PEER, POD, 9)), TcAction.SHOT);
    assert.equal(drain()[0]?.dropReason, DropReason.POLICY);
    // An ICMP error about a tracked connection is related and passes.
    const syn = pk.ipv4(POD, PEER, 6, pk.tcp(40000, 80, pk.TCP_SYN));
    assert.equal(egress(pk.eth(0x0800, syn)), TcAction.OK);
    assert.equal(ingress(pk.unreach4(PEER, POD, syn)), TcAction.OK);
    // The same error about an unknown connection is not.
    const stray = pk.ipv4(POD, PEER, 6, pk.tcp(40001, 80, pk.TCP_SYN));
    assert.equal(ingress(pk.unreach4(PEER, POD, stray)), TcAction.SHOT);
    // An ICMP rule (type 8 = echo request) allows echo; the reply goes back through conntrack.
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80), rule(PEER_ID, 'ingress', IpProto.ICMP, 8));
    assert.equal(ingress(pk.echo4(PEER, POD, 10)), TcAction.OK);
    assert.equal(egress(pk.echo4(POD, PEER, 10, true)), TcAction.OK);
    assert.equal(egress(pk.echo4(POD, PEER, 11, true)), TcAction.SHOT);
  });

  it('enforces IPv6 and always passes neighbour discovery and multicast listener reports', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80));
    assert.equal(ingress(pk.tcp6(PEER6, POD6, 40000, 80)), TcAction.OK);
    assert.equal(ingress(pk.tcp6(PEER6, POD6, 40000, 81)), TcAction.SHOT);
    assert.equal(ingress(pk.echo6(PEER6, POD6, 3)), TcAction.SHOT);
    const ns = pk.eth(0x86dd, pk.ipv6('fe80::1', 'ff02::1:ff00:10', 58, pk.icmp6(135, 0, Buffer.alloc(20))));
    assert.equal(ingress(ns), TcAction.OK);
    // The host's MLDv2 report to ff02::16 from its link-local address (unknown to the ipcache: world)
    const mld = pk.eth(0x86dd, pk.ipv6('fe80::2', 'ff02::16', 58, pk.icmp6(143, 0, Buffer.alloc(20))));
    assert.equal(ingress(mld), TcAction.OK);
    policy(rule(PEER_ID, 'ingress', IpProto.ICMPV6, 128));
    assert.equal(ingress(pk.echo6(PEER6, POD6, 4)), TcAction.OK);
    assert.equal(egress(pk.echo6(POD6, PEER6, 4, true)), TcAction.OK);
    // Packet Too Big about a tracked connection is related (PMTU discovery keeps working).
    const syn6 = pk.ipv6(POD6, PEER6, 6, pk.tcp(40010, 443, pk.TCP_SYN));
    assert.equal(egress(pk.eth(0x86dd, syn6)), TcAction.OK);
    const ptb = (about: Buffer) => pk.eth(0x86dd, pk.ipv6(PEER6, POD6, 58, pk.icmp6(2, 0, about.subarray(0, 48))));
    assert.equal(ingress(ptb(syn6)), TcAction.OK);
    assert.equal(ingress(ptb(pk.ipv6(POD6, PEER6, 6, pk.tcp(40011, 443, pk.TCP_SYN)))), TcAction.SHOT);
  });

  it('drops truncated and malformed packets safely with Cilium reasons', () => {
    endpoint(0, EnforcementMode.NEVER);
    const full = pk.tcp4(PEER, POD, 40000, 80);
    const cases: Array<[string, Buffer, number]> = [
      [
        'IPv4 options cut',
        pk.eth(0x0800, pk.ipv4(PEER, POD, 6, pk.tcp(1, 2, 2), { ihl: 15 })).subarray(0, 14 + 40),
        DropReason.INVALID,
      ],
      ['TCP header cut', full.subarray(0, 14 + 20 + 6), DropReason.INVALID],
      ['TCP header cut, length fixed', fixTotLen4(full.subarray(0, 14 + 20 + 6)), DropReason.CT_INVALID_HDR],
      ['bad IHL', pk.eth(0x0800, pk.ipv4(PEER, POD, 6, pk.tcp(1, 2, 2), { ihl: 3 })), DropReason.INVALID],
      ['IPv6 TCP header cut', pk.tcp6(PEER6, POD6, 1, 2).subarray(0, 14 + 40 + 10), DropReason.INVALID],
      [
        'IPv6 TCP header cut, length fixed',
        fixPayloadLen6(pk.tcp6(PEER6, POD6, 1, 2).subarray(0, 14 + 40 + 10)),
        DropReason.CT_INVALID_HDR,
      ],
      [
        'non-first fragment',
        pk.eth(0x0800, pk.ipv4(PEER, POD, 6, Buffer.alloc(8), { fragOffset: 10 })),
        DropReason.FRAG_NOSUPPORT,
      ],
      ['unknown ethertype', pk.eth(0x88b5, Buffer.alloc(46)), DropReason.UNKNOWN_L3],
      [
        'length field beyond packet',
        Buffer.concat([full.subarray(0, 16), Buffer.from([0xff, 0xff]), full.subarray(18)]),
        DropReason.INVALID,
      ],
    ];
    for (const [name, data, reason] of cases) {
      drain();
      assert.equal(ingress(data), TcAction.SHOT, name);
      assert.equal(drain()[0]?.dropReason, reason, name);
    }
    // Shorter than the minimum L3 header: the kernel itself refuses such a test packet (and
    // never hands one to tc), so there is nothing for the program to see.
    assert.throws(() => ingress(full.subarray(0, 14 + 10)), { code: 'EINVAL', syscall: 'bpf_prog_test_run_opts' });
    // ARP is not ours to judge.
    assert.equal(ingress(pk.eth(0x0806, Buffer.alloc(28))), TcAction.OK);
  });

  it('emits flow events with verdict, reason, identities, tuple, ifindex and TCP flags', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy(rule(PEER_ID, 'ingress', IpProto.TCP, 80));
    ingress(pk.tcp4(PEER, POD, 40000, 80));
    ingress(pk.tcp4(OTHER, POD, 40001, 81));
    const evs = drain();
    assert.equal(evs.length, 2);
    const [fwd, drop] = evs;
    assert.deepEqual(
      { ...fwd, timestamp: 0n },
      {
        timestamp: 0n,
        srcIdentity: PEER_ID,
        dstIdentity: POD_ID,
        ifindex: LO,
        epId: EP_ID,
        family: 4,
        saddr: PEER,
        daddr: POD,
        sport: 40000,
        dport: 80,
        protocol: 6,
        verdict: Verdict.FORWARDED,
        dropReason: 0,
        direction: 'ingress',
        tcpFlags: pk.TCP_SYN,
        ctState: CtState.NEW,
        icmpType: 0,
        len: 54,
      },
    );
    assert.ok((fwd?.timestamp ?? 0n) > 0n);
    assert.equal(drop?.verdict, Verdict.DROPPED);
    assert.equal(drop?.dropReason, DropReason.POLICY);
    assert.equal(drop?.srcIdentity, OTHER_ID);
    assert.equal(drop?.dport, 81);
    // Established packets are counted, not reported.
    ingress(pk.tcp4(PEER, POD, 40000, 80, pk.TCP_ACK));
    assert.equal(drain().length, 0);
  });

  it('counts verdicts per (reason, direction) in the per-CPU metrics map', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy();
    const key = { reason: DropReason.POLICY, direction: 'ingress' as const };
    const before = dp.maps.metrics.lookup(key)?.count ?? 0n;
    ingress(pk.tcp4(PEER, POD, 40000, 80));
    ingress(pk.tcp4(PEER, POD, 40001, 80));
    assert.equal(dp.maps.metrics.lookup(key)?.count, before + 2n);
  });

  it('counts the flow events a full ring buffer had no room for', () => {
    endpoint(EndpointFlags.ENFORCE_INGRESS);
    policy();
    drain();
    const before = dp.eventsLost();
    // Every run drops and emits one 72-byte event; 4 MiB of ring holds fewer than 60,000.
    const runs = 80_000;
    dp.addon.progTestRun(dp.progs.toContainer, pk.tcp4(PEER, POD, 40000, 80), { repeat: runs });
    const lost = dp.eventsLost() - before;
    const delivered = drain().length;
    assert.ok(lost > 0, 'no event was counted as lost');
    assert.equal(lost + delivered, runs, `${lost} lost + ${delivered} delivered != ${runs} emitted`);
  });

  it('hands same-node traffic to the destination pod after both policies pass', () => {
    const DST_IFINDEX = 4242,
      DST_EP = 43;
    const dstInfo = {
      epId: DST_EP,
      identity: PEER_ID,
      flags: EndpointFlags.ENFORCE_INGRESS,
      mode: EnforcementMode.DEFAULT,
      mac: '02:00:00:00:00:2b',
      nodeMac: '02:00:00:00:00:fe',
    };
    endpoint(0);
    dp.maps.endpoints.update(DST_IFINDEX, dstInfo);
    dp.maps.endpointsByIp.update(PEER, DST_IFINDEX);
    try {
      // The destination's ingress policy is applied here: nothing allows POD yet.
      dp.replaceEndpointPolicy(DST_EP, []);
      assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80)), TcAction.SHOT);
      const [ev] = drain().filter((e) => e.verdict === Verdict.DROPPED);
      assert.deepEqual([ev?.epId, ev?.direction, ev?.dropReason], [DST_EP, 'ingress', DropReason.POLICY]);

      dp.replaceEndpointPolicy(DST_EP, [rule(POD_ID, 'ingress', IpProto.TCP, 80)]);
      const r = dp.addon.progTestRun(dp.progs.fromContainer, pk.tcp4(POD, PEER, 40001, 80));
      assert.equal(r.retval, TcAction.REDIRECT);
      assert.equal(r.data.subarray(0, 6).toString('hex'), '02000000002b');
      assert.equal(r.data.subarray(6, 12).toString('hex'), '0200000000fe');
      assert.equal(r.data[14 + 8], 63);
      assert.equal(pk.ipv4Checksum(r.data.subarray(14, 34)), 0, 'IPv4 checksum still valid after the TTL change');
      // The reply goes back through both conntrack entries without any policy for it.
      dp.maps.endpointsByIp.update(POD, LO);
      const reply = dp.addon.progTestRun(
        dp.progs.fromContainer,
        pk.tcp4(PEER, POD, 80, 40001, pk.TCP_SYN | pk.TCP_ACK),
      );
      assert.equal(reply.retval, TcAction.REDIRECT);
      // IPv6: hop limit decremented, no checksum in the IPv6 header.
      dp.maps.endpointsByIp.update(PEER6, DST_IFINDEX);
      const r6 = dp.addon.progTestRun(dp.progs.fromContainer, pk.tcp6(POD6, PEER6, 40005, 80));
      assert.equal(r6.retval, TcAction.REDIRECT);
      assert.equal(r6.data[14 + 7], 63);
      assert.equal(r6.data.subarray(0, 6).toString('hex'), '02000000002b');
      // TTL about to expire: left to the stack, which answers with ICMP time exceeded.
      assert.equal(
        egress(pk.eth(0x0800, pk.ipv4(POD, PEER, 6, pk.tcp(40002, 80, pk.TCP_SYN), { ttl: 1 }))),
        TcAction.OK,
      );
    } finally {
      dp.maps.endpointsByIp.delete(PEER);
      dp.maps.endpointsByIp.delete(PEER6);
      dp.maps.endpointsByIp.delete(POD);
      dp.maps.endpoints.delete(DST_IFINDEX);
      dp.deleteEndpointPolicy(DST_EP);
    }
  });

  it('enforcement mode always/never overrides the flags', () => {
    policy();
    endpoint(0, EnforcementMode.ALWAYS);
    assert.equal(egress(pk.tcp4(POD, PEER, 40000, 80)), TcAction.SHOT);
    endpoint(EndpointFlags.ENFORCE_EGRESS, EnforcementMode.NEVER);
    assert.equal(egress(pk.tcp4(POD, PEER, 40001, 80)), TcAction.OK);
  });
});
