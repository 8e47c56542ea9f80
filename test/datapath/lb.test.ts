// East-west service translation in bpf_lxc, driven with BPF_PROG_TEST_RUN and hand-built packets
// (test_run runs the programs with skb->ifindex = 1, so the client endpoint is registered at
// ifindex 1), and the LB map writer (src/datapath/lb.ts) against the real maps.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import type { NativeRingBuffer } from '../../src/datapath/addon.ts';
import { flowEventCodec, policyEntryFor, type FlowEvent, type PolicyKey } from '../../src/datapath/codecs.ts';
import {
  BackendStateCode,
  DEFAULT_MAGLEV_TABLE_SIZE,
  DropReason,
  EndpointFlags,
  EnforcementMode,
  IpProto,
  SvcFlags,
  SvcFlags2,
  TcAction,
  Verdict,
} from '../../src/datapath/constants.ts';
import { LbMaps, type LbBackend, type LbService } from '../../src/datapath/lb.ts';
import { syncMap } from '../../src/datapath/map-sync.ts';
import { ipToBytes } from '../../src/datapath/ip.ts';
import { requireDatapath } from './env.ts';
import * as pk from './packets.ts';

requireDatapath();

const POD = '10.200.0.10',
  B1 = '10.200.0.21',
  B2 = '10.200.0.22',
  B3 = '10.200.0.23';
const POD6 = 'fd00:200::10',
  B6 = 'fd00:200::21';
const VIP = '10.96.0.10',
  VIP6 = 'fd00:96::10',
  LBIP = '192.0.2.100';
const POD_ID = 1000,
  B1_ID = 2001,
  B2_ID = 2002,
  B3_ID = 2003,
  EP_ID = 42,
  LO = 1;
const WORLD = 2;

// --- checksums of hand-built frames ----------------------------------------------------------

function sum16(buf: Buffer, sum = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  return sum;
}
const fold = (sum: number): number => {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
};

interface L4View {
  pseudo: Buffer;
  l4: Buffer;
  l4Off: number;
  csumOff: number;
}
function l4View(frame: Buffer): L4View {
  const v6 = frame.readUInt16BE(12) === 0x86dd;
  const l3 = frame.subarray(14);
  const proto = v6 ? l3[6]! : l3[9]!;
  const hl = v6 ? 40 : (l3[0]! & 0xf) * 4;
  const len = v6 ? l3.readUInt16BE(4) : l3.readUInt16BE(2) - hl;
  const l4 = l3.subarray(hl, hl + len);
  const pseudo = Buffer.alloc(v6 ? 40 : 12);
  if (v6) {
    l3.copy(pseudo, 0, 8, 40);
    pseudo.writeUInt32BE(len, 32);
    pseudo[39] = proto;
  } else {
    l3.copy(pseudo, 0, 12, 20);
    pseudo[9] = proto;
    pseudo.writeUInt16BE(len, 10);
  }
  const csumOff = proto === 6 ? 16 : proto === 17 ? 6 : 2;
  return { pseudo: proto === 1 ? Buffer.alloc(0) : pseudo, l4, l4Off: 14 + hl, csumOff };
}
/** The frame with its L4 (TCP/UDP/ICMP) checksum filled in. */
function withL4Csum(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const v = l4View(out);
  v.l4.writeUInt16BE(0, v.csumOff);
  v.l4.writeUInt16BE(~fold(sum16(v.l4, sum16(v.pseudo))) & 0xffff, v.csumOff);
  return out;
}
/** 0 when the L4 checksum (pseudo-header included) is valid. */
const l4CsumResidue = (frame: Buffer): number => {
  const v = l4View(frame);
  return ~fold(sum16(v.l4, sum16(v.pseudo))) & 0xffff;
};
const ipv4CsumResidue = (frame: Buffer): number => pk.ipv4Checksum(frame.subarray(14, 34));

const ip4 = (b: Buffer, off: number): string => [...b.subarray(off, off + 4)].join('.');
const dst4 = (f: Buffer) => ({ addr: ip4(f, 30), port: f.readUInt16BE(36) });
const src4 = (f: Buffer) => ({ addr: ip4(f, 26), port: f.readUInt16BE(34) });

// --- services -----------------------------------------------------------------------------------

const be = (
  id: number,
  address: string,
  port = 8080,
  state: LbBackend['state'] = 'active',
  protocol: LbBackend['protocol'] = 'TCP',
): LbBackend => ({ id, address, port, protocol, state });
function clusterIp(
  id: number,
  backends: LbBackend[],
  extra: Partial<LbService> = {},
  port = 80,
  protocol: LbBackend['protocol'] = 'TCP',
): LbService {
  return {
    id,
    frontend: { address: VIP, port, protocol, type: 'ClusterIP', scope: 'external' },
    backends,
    sourceRanges: [],
    ...extra,
  };
}

describe('east-west service translation in bpf_lxc', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-lb-${process.pid}`;
  let dp: LxcDatapath;
  let lb: LbMaps;
  let rb: NativeRingBuffer;
  const events: FlowEvent[] = [];
  let sport = 30000;

  const run = (prog: number, data: Buffer) => dp.addon.progTestRun(prog, data);
  const egress = (data: Buffer) => run(dp.progs.fromContainer, data);
  const ingress = (data: Buffer) => run(dp.progs.toContainer, data);
  const drain = (): FlowEvent[] => {
    events.length = 0;
    rb.consume();
    return [...events];
  };
  const syn = (dst = VIP, dport = 80, from = sport++) => withL4Csum(pk.tcp4(POD, dst, from, dport));

  function endpoint(flags: number): void {
    dp.maps.endpoints.update(LO, { epId: EP_ID, identity: POD_ID, flags, mode: EnforcementMode.DEFAULT });
  }
  function egressPolicy(identity: number, port: number): void {
    const key: PolicyKey = { identity, direction: 'egress', protocol: IpProto.TCP, port, portPrefixLen: 16 };
    dp.replaceEndpointPolicy(EP_ID, [[key, policyEntryFor(key)]]);
  }

  before(() => {
    dp = LxcDatapath.load({ pinRoot });
    lb = new LbMaps(dp);
    rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
    rb.unref();
    const info = (identity: number) => ({ identity, tunnelEndpoint: null, flags: 0 });
    syncMap(dp.maps.ipcache, [
      [`${POD}/32`, info(POD_ID)],
      [`${B1}/32`, info(B1_ID)],
      [`${B2}/32`, info(B2_ID)],
      [`${B3}/32`, info(B3_ID)],
      [`${POD6}/128`, info(POD_ID)],
      [`${B6}/128`, info(B1_ID)],
    ]);
  });

  after(() => {
    rb?.close();
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  beforeEach(() => {
    syncMap(dp.maps.conntrack, []);
    syncMap(dp.lb.conntrack, []);
    syncMap(dp.lb.v4.affinity, []);
    endpoint(0);
    drain();
  });

  it('translates a TCP SYN to a ClusterIP into one to a backend, checksums valid', () => {
    lb.sync([clusterIp(1, [be(11, B1), be(12, B2)])]);
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const r = egress(syn());
      assert.equal(r.retval, TcAction.OK);
      const d = dst4(r.data);
      assert.ok([B1, B2].includes(d.addr), `went to ${d.addr}`);
      assert.equal(d.port, 8080);
      assert.equal(src4(r.data).addr, POD);
      assert.equal(ipv4CsumResidue(r.data), 0, 'IPv4 header checksum');
      assert.equal(l4CsumResidue(r.data), 0, 'TCP checksum');
      seen.add(d.addr);
    }
    assert.equal(seen.size, 2, 'random selection reaches both backends');
    // The flow event and the conntrack entry carry the backend, not the frontend.
    const ev = drain().find((e) => e.verdict === Verdict.FORWARDED);
    assert.ok(ev && [B1, B2].includes(ev.daddr) && ev.dport === 8080);
    assert.ok([B1_ID, B2_ID].includes(ev.dstIdentity));
  });

  it('judges egress policy by the backend identity and port', () => {
    lb.sync([clusterIp(1, [be(11, B1)])]);
    endpoint(EndpointFlags.ENFORCE_EGRESS);
    egressPolicy(B1_ID, 8080);
    assert.equal(egress(syn()).retval, TcAction.OK);
    egressPolicy(WORLD, 80); // what a policy judging the frontend address would have needed
    assert.equal(egress(syn()).retval, TcAction.SHOT);
    const [ev] = drain().filter((e) => e.verdict === Verdict.DROPPED);
    assert.deepEqual([ev?.dropReason, ev?.dstIdentity, ev?.daddr, ev?.dport], [DropReason.POLICY, B1_ID, B1, 8080]);
  });

  it('reverse-translates the reply and keeps the flow on its backend', () => {
    lb.sync([clusterIp(1, [be(11, B1), be(12, B2)])]);
    const port = sport++;
    const out = egress(syn(VIP, 80, port)).data;
    const backend = dst4(out).addr;
    const reply = withL4Csum(pk.tcp4(backend, POD, 8080, port, pk.TCP_SYN | pk.TCP_ACK));
    const r = ingress(reply);
    assert.equal(r.retval, TcAction.OK);
    assert.deepEqual(src4(r.data), { addr: VIP, port: 80 });
    assert.deepEqual(dst4(r.data), { addr: POD, port });
    assert.equal(ipv4CsumResidue(r.data), 0);
    assert.equal(l4CsumResidue(r.data), 0);
    for (let i = 0; i < 10; i++) {
      const ack = egress(withL4Csum(pk.tcp4(POD, VIP, port, 80, pk.TCP_ACK))).data;
      assert.equal(dst4(ack).addr, backend, 'an established flow keeps its backend');
    }
  });

  it('translates UDP both ways (a zero UDP checksum stays zero)', () => {
    lb.sync([clusterIp(2, [be(21, B1, 5353, 'active', 'UDP')], {}, 53, 'UDP')]);
    const r = egress(withL4Csum(pk.udp4(POD, VIP, 40000, 53)));
    assert.equal(r.retval, TcAction.OK);
    assert.deepEqual(dst4(r.data), { addr: B1, port: 5353 });
    assert.equal(l4CsumResidue(r.data), 0);
    const back = ingress(withL4Csum(pk.udp4(B1, POD, 5353, 40000)));
    assert.deepEqual(src4(back.data), { addr: VIP, port: 53 });
    assert.equal(l4CsumResidue(back.data), 0);
    const noCsum = egress(pk.udp4(POD, VIP, 40001, 53));
    assert.equal(noCsum.data.readUInt16BE(14 + 20 + 6), 0);
    // TCP to the UDP frontend is not service traffic: it passes untranslated.
    assert.equal(dst4(egress(syn(VIP, 53)).data).addr, VIP);
  });

  it('reverse-translates an ICMP error about a translated flow', () => {
    lb.sync([clusterIp(2, [be(21, B1, 5353, 'active', 'UDP')], {}, 53, 'UDP')]);
    const sent = egress(withL4Csum(pk.udp4(POD, VIP, 40002, 53))).data;
    const about = sent.subarray(14);
    const err = withL4Csum(pk.unreach4(B1, POD, about));
    const r = ingress(err);
    assert.equal(r.retval, TcAction.OK);
    const inner = r.data.subarray(14 + 20 + 8);
    assert.deepEqual([ip4(inner, 16), inner.readUInt16BE(20 + 2)], [VIP, 53], 'inner destination is the frontend');
    assert.equal(pk.ipv4Checksum(inner.subarray(0, 20)), 0, 'inner IPv4 checksum');
    assert.equal(src4(r.data).addr, VIP, 'the backend sent it: the outer source is the frontend');
    assert.equal(ipv4CsumResidue(r.data), 0);
    assert.equal(l4CsumResidue(r.data), 0, 'ICMP checksum');
  });

  it('drops traffic to a frontend without backends with NO_SERVICE and answers port unreachable', () => {
    lb.sync([clusterIp(3, [])]);
    const sent = syn();
    const r = egress(sent);
    const [ev] = drain();
    assert.deepEqual(
      [ev?.verdict, ev?.dropReason, ev?.daddr, ev?.dport],
      [Verdict.DROPPED, DropReason.NO_SERVICE, VIP, 80],
    );
    // IPv4: the packet comes back as an ICMP port unreachable from the frontend, sent toward the pod.
    assert.equal(r.retval, TcAction.REDIRECT);
    assert.equal(r.data.length, 14 + 20 + 8 + 28);
    assert.deepEqual([ip4(r.data, 26), ip4(r.data, 30), r.data[14 + 9]], [VIP, POD, 1]);
    assert.deepEqual([r.data[34], r.data[35]], [3, 3]);
    assert.equal(r.data.subarray(0, 6).equals(sent.subarray(6, 12)), true, 'MACs swapped');
    assert.equal(r.data.subarray(42).equals(sent.subarray(14, 14 + 28)), true, 'quotes the packet');
    assert.equal(ipv4CsumResidue(r.data), 0);
    assert.equal(l4CsumResidue(r.data), 0, 'ICMP checksum');
    // IPv6 is dropped without an answer.
    lb.sync([
      {
        ...clusterIp(3, []),
        frontend: { address: VIP6, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      },
    ]);
    assert.equal(egress(withL4Csum(pk.tcp6(POD6, VIP6, 41001, 80))).retval, TcAction.SHOT);
  });

  it('sends new flows to terminating backends only when none is active', () => {
    lb.sync([clusterIp(4, [be(31, B1), be(33, B3, 8080, 'terminating')])]);
    for (let i = 0; i < 30; i++) assert.equal(dst4(egress(syn()).data).addr, B1);
    lb.sync([clusterIp(4, [be(33, B3, 8080, 'terminating')])]);
    assert.equal(dst4(egress(syn()).data).addr, B3);
    assert.equal(dp.lb.v4.backends.lookup(33)?.state, BackendStateCode.terminating);
  });

  it('keeps a client on its backend with session affinity', () => {
    lb.sync([clusterIp(5, [be(41, B1), be(42, B2), be(43, B3)], { affinityTimeoutSec: 100 })]);
    const first = dst4(egress(syn()).data).addr;
    for (let i = 0; i < 30; i++) assert.equal(dst4(egress(syn()).data).addr, first);
    const affinity = dp.lb.v4.affinity.entries();
    assert.equal(affinity.length, 1);
    assert.deepEqual([affinity[0]?.[0].client, affinity[0]?.[0].revNatId], [POD, 5]);
    assert.ok([41, 42, 43].includes(affinity[0]?.[1].backendId ?? 0));
    // The affinity backend leaves the service: the client moves on.
    const rest = [be(41, B1), be(42, B2), be(43, B3)].filter((b) => b.address !== first);
    lb.sync([clusterIp(5, rest, { affinityTimeoutSec: 100 })]);
    const next = dst4(egress(syn()).data).addr;
    assert.notEqual(next, first);
    for (let i = 0; i < 10; i++) assert.equal(dst4(egress(syn()).data).addr, next);
  });

  it('finishes established flows on a removed backend; new flows avoid it', () => {
    lb.sync([clusterIp(6, [be(51, B1), be(52, B2)])]);
    const flows = Array.from({ length: 20 }, () => {
      const port = sport++;
      return { port, backend: dst4(egress(syn(VIP, 80, port)).data).addr };
    });
    const gone = flows[0]!.backend;
    const stays = gone === B1 ? B2 : B1;
    lb.sync([clusterIp(6, [gone === B1 ? be(52, B2) : be(51, B1)])]);
    for (const f of flows) {
      const ack = egress(withL4Csum(pk.tcp4(POD, VIP, f.port, 80, pk.TCP_ACK))).data;
      assert.equal(dst4(ack).addr, f.backend, 'established flow keeps its backend');
      const reply = ingress(withL4Csum(pk.tcp4(f.backend, POD, 8080, f.port, pk.TCP_ACK))).data;
      assert.deepEqual(src4(reply), { addr: VIP, port: 80 });
    }
    for (let i = 0; i < 20; i++) assert.equal(dst4(egress(syn()).data).addr, stays);
    // A new connection reusing a tuple of the removed backend goes to the remaining one.
    const reused = flows.find((f) => f.backend === gone)!;
    assert.equal(dst4(egress(syn(VIP, 80, reused.port)).data).addr, stays);
  });

  it('picks the internal scope of a two-scope frontend for pods', () => {
    const ext: LbService = {
      ...clusterIp(7, [be(61, B1)]),
      frontend: { address: VIP, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
    };
    const int: LbService = {
      ...clusterIp(8, [be(62, B2)]),
      frontend: { address: VIP, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'internal' },
    };
    lb.sync([ext, int]);
    const master = dp.lb.v4.services.lookup({ address: VIP, port: 80, slot: 0, protocol: 6, scope: 'external' });
    assert.ok(master && master.flags2 & SvcFlags2.TWO_SCOPES);
    for (let i = 0; i < 10; i++) assert.equal(dst4(egress(syn()).data).addr, B2);
  });

  it('checks loadBalancerSourceRanges on a LoadBalancer frontend', () => {
    const svc = (ranges: string[]): LbService => ({
      id: 9,
      frontend: { address: LBIP, port: 80, protocol: 'TCP', type: 'LoadBalancer', scope: 'external' },
      backends: [be(71, B1)],
      sourceRanges: ranges,
    });
    lb.sync([svc(['10.200.0.0/24', 'fd00::/8'])]);
    assert.equal(dst4(egress(syn(LBIP)).data).addr, B1);
    lb.sync([svc(['198.51.100.0/24'])]);
    drain();
    assert.equal(egress(syn(LBIP)).retval, TcAction.SHOT);
    assert.equal(drain()[0]?.dropReason, DropReason.NOT_IN_SRC_RANGE);
    lb.sync([svc(['fd00::/8'])]); // no range of the frontend's family: nobody is admitted
    assert.equal(egress(syn(LBIP)).retval, TcAction.SHOT);
  });

  it('translates IPv6 both ways with valid checksums', () => {
    lb.sync([
      {
        ...clusterIp(10, [be(81, B6)]),
        frontend: { address: VIP6, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      },
    ]);
    const r = egress(withL4Csum(pk.tcp6(POD6, VIP6, 41000, 80)));
    assert.equal(r.retval, TcAction.OK);
    assert.equal(r.data.subarray(14 + 24, 14 + 40).equals(ipToBytes(B6)), true);
    assert.equal(r.data.readUInt16BE(14 + 40 + 2), 8080);
    assert.equal(l4CsumResidue(r.data), 0);
    const back = ingress(withL4Csum(pk.tcp6(B6, POD6, 8080, 41000, pk.TCP_SYN | pk.TCP_ACK)));
    assert.equal(back.data.subarray(14 + 8, 14 + 24).equals(ipToBytes(VIP6)), true);
    assert.equal(back.data.readUInt16BE(14 + 40), 80);
    assert.equal(l4CsumResidue(back.data), 0);
  });
});

describe('LbMaps writer', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-lbw-${process.pid}`;
  let dp: LxcDatapath;
  let lb: LbMaps;

  before(() => {
    dp = LxcDatapath.load({ pinRoot, maglevTableSize: 1021 });
    lb = new LbMaps(dp);
  });
  after(() => {
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  const nodePort = (id: number, backends: LbBackend[]): LbService => ({
    id,
    frontend: { address: '192.0.2.10', port: 30080, protocol: 'TCP', type: 'NodePort', scope: 'external' },
    backends,
    sourceRanges: [],
    externalTrafficLocal: false,
    internalTrafficLocal: false,
  });

  it('writes by difference and reports per frontend', () => {
    const a = clusterIp(1, [be(1, B1), be(2, B2)], { externalTrafficLocal: false, internalTrafficLocal: false });
    assert.deepEqual(lb.sync([a]), { added: 1, changed: 0, removed: 0, unchanged: 0, maglevReplaced: 0 });
    assert.deepEqual(lb.sync([a]), { added: 0, changed: 0, removed: 0, unchanged: 1, maglevReplaced: 0 });
    const b = { ...a, backends: [be(1, B1)] };
    assert.deepEqual(lb.sync([b]), { added: 0, changed: 1, removed: 0, unchanged: 0, maglevReplaced: 0 });
    assert.equal(dp.lb.v4.backends.lookup(2), undefined);
    assert.deepEqual(lb.sync([]), { added: 0, changed: 0, removed: 1, unchanged: 0, maglevReplaced: 0 });
    assert.equal(
      dp.lb.v4.services.entries().length + dp.lb.v4.backends.entries().length + dp.lb.v4.reverseNat.entries().length,
      0,
    );
  });

  it("builds Maglev tables of the loader's size and swaps them whole", () => {
    lb.sync([nodePort(20, [be(1, B1), be(2, B2)])]);
    const t1 = lb.maglevTableOf(4, 20);
    assert.equal(t1.length, 1021);
    assert.deepEqual(new Set(t1), new Set([1, 2]));
    const id1 = dp.lb.v4.maglev.lookup(20);
    assert.equal(lb.sync([nodePort(20, [be(1, B1), be(2, B2)])]).maglevReplaced, 0);
    assert.equal(lb.sync([nodePort(20, [be(1, B1), be(2, B2), be(3, B3)])]).maglevReplaced, 1);
    assert.notEqual(dp.lb.v4.maglev.lookup(20), id1, 'a new inner map replaced the old one');
    assert.deepEqual(new Set(lb.maglevTableOf(4, 20)), new Set([1, 2, 3]));
    // A fresh writer (an agent restart) finds the table already right and leaves it.
    assert.equal(new LbMaps(dp).sync([nodePort(20, [be(1, B1), be(2, B2), be(3, B3)])]).maglevReplaced, 0);
    lb.sync([]);
    assert.equal(dp.lb.v4.maglev.entries().length, 0);
  });

  it('restores the services, ids and flags from the pinned maps', () => {
    const services: LbService[] = [
      clusterIp(3, [be(5, B1), be(6, B2, 8080, 'terminating')], {
        affinityTimeoutSec: 300,
        externalTrafficLocal: false,
        internalTrafficLocal: false,
      }),
      { ...nodePort(4, [be(5, B1)]), externalTrafficLocal: true, sourceRanges: ['10.0.0.0/8'] },
      {
        ...clusterIp(7, [be(8, B6)], { externalTrafficLocal: false, internalTrafficLocal: true }),
        frontend: { address: VIP6, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      },
    ];
    lb.sync(services);
    const restored = new LbMaps(dp).restore();
    assert.deepEqual(restored, services);
    const master = dp.lb.v4.services.lookup({ address: VIP, port: 80, slot: 0, protocol: 6, scope: 'external' });
    assert.deepEqual(master, { backendId: 300, count: 1, revNatIndex: 3, flags: SvcFlags.AFFINITY, flags2: 0 });
    lb.sync([]);
  });

  it('keeps one backend in two states behind two Services: the most usable state in the map', () => {
    const other = { ...clusterIp(2, []).frontend, port: 81 };
    lb.sync([
      clusterIp(1, [be(1, B1, 8080, 'terminating'), be(2, B2)]),
      { ...clusterIp(2, [be(1, B1)]), frontend: other },
    ]);
    assert.equal(dp.lb.v4.backends.lookup(1)?.state, BackendStateCode.active);
    const slot1 = dp.lb.v4.services.lookup({ address: VIP, port: 80, slot: 1, protocol: 6, scope: 'external' });
    assert.equal(slot1?.backendId, 2, 'behind the first Service the terminating backend is still not picked');
    lb.sync([]);
  });

  it('refuses a backend id used for two different backends', () => {
    assert.throws(
      () =>
        lb.sync([
          clusterIp(1, [be(1, B1)]),
          { ...clusterIp(2, [be(1, B2)]), frontend: { ...clusterIp(2, []).frontend, port: 81 } },
        ]),
      /two different values/,
    );
  });
});

describe('numbers shared by bpf/lib/lb.h and src/datapath agree', () => {
  const libDir = fileURLToPath(new URL('../../bpf/lib/', import.meta.url));
  const defines = new Map<string, number>();
  for (const f of readdirSync(libDir)) {
    for (const m of readFileSync(libDir + f, 'utf8').matchAll(/^#define\s+(\w+)\s+(0x[0-9a-fA-F]+|\d+)\b/gm))
      defines.set(m[1]!, Number(m[2]));
  }
  it('service flags, backend states, Maglev size', () => {
    for (const [k, v] of Object.entries(SvcFlags)) assert.equal(defines.get(`SVC_FLAG_${k}`), v, k);
    for (const [k, v] of Object.entries(SvcFlags2)) assert.equal(defines.get(`SVC_FLAG_${k}`), v, k);
    for (const [k, v] of Object.entries(BackendStateCode))
      assert.equal(defines.get(`BE_STATE_${k.toUpperCase()}`), v, k);
    assert.equal(defines.get('LB_MAGLEV_LUT_SIZE'), DEFAULT_MAGLEV_TABLE_SIZE);
  });
});
