// bpf_lxc's tunnel hook and bpf_overlay.o under BPF_PROG_TEST_RUN (test_run runs tc programs with
// skb->ifindex = 1, so the endpoint under test sits at ifindex 1), and the overlay loader's options.
// What needs a real tunnel device (reading the key on receive, the VNI on the wire) is in
// overlay-traffic.test.ts.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { createTunnelDevice, NO_GENEVE, OverlayDatapath, tunnelProtocolSupported } from '../../src/datapath/overlay.ts';
import { flowEventCodec, type FlowEvent } from '../../src/datapath/codecs.ts';
import { DropReason, EnforcementMode, ReservedIdentity, TcAction, Verdict } from '../../src/datapath/constants.ts';
import type { NativeRingBuffer } from '../../src/datapath/addon.ts';
import { syncMap } from '../../src/datapath/map-sync.ts';
import { requireDatapath } from './env.ts';
import * as pk from './packets.ts';

requireDatapath();

const POD = '10.223.0.10',
  LOCAL_PEER = '10.223.0.20',
  REMOTE = '10.223.1.20',
  NOWHERE = '198.51.100.7',
  REMOTE_NODE = '192.0.2.9';
const POD_ID = 53001,
  EP_ID = 42,
  LO = 1,
  TUNNEL_IFINDEX = 1;

describe('tunnel encapsulation under BPF_PROG_TEST_RUN', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-overlay-${process.pid}`;
  let dp: LxcDatapath;
  let ov: OverlayDatapath;
  let rb: NativeRingBuffer;
  const events: FlowEvent[] = [];
  const egress = (data: Buffer): number => dp.addon.progTestRun(dp.progs.fromContainer, data).retval;
  const drain = (): FlowEvent[] => {
    events.length = 0;
    rb.consume();
    return [...events];
  };
  const endpoint = (identity: number): void =>
    dp.maps.endpoints.update(LO, { epId: EP_ID, identity, flags: 0, mode: EnforcementMode.DEFAULT });

  before(() => {
    dp = LxcDatapath.load({ pinRoot });
    ov = OverlayDatapath.load({ pinRoot });
    rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
    rb.unref();
    syncMap(dp.maps.ipcache, [
      [`${POD}/32`, { identity: POD_ID, tunnelEndpoint: null, flags: 0 }],
      [`${LOCAL_PEER}/32`, { identity: 53002, tunnelEndpoint: null, flags: 0 }],
      ['10.223.1.0/24', { identity: ReservedIdentity.WORLD, tunnelEndpoint: REMOTE_NODE, flags: 0 }],
    ]);
  });

  after(() => {
    rb?.close();
    ov?.close();
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  beforeEach(() => {
    syncMap(dp.maps.conntrack, []);
    endpoint(POD_ID);
    drain();
  });

  it('bpf_overlay.o shares the pinned config with bpf_lxc.o; all zeros is native mode', () => {
    assert.deepEqual(ov.routingMode(), { mode: 'native', tunnelIfindex: 0 });
    ov.setRoutingMode('tunnel', 7);
    assert.deepEqual(ov.routingMode(), { mode: 'tunnel', tunnelIfindex: 7 });
    assert.throws(() => ov.setRoutingMode('tunnel'), /tunnel device ifindex/);
    ov.setRoutingMode('native');
    assert.deepEqual(ov.routingMode(), { mode: 'native', tunnelIfindex: 0 });
  });

  it('native mode: a packet for another node goes to the stack', () => {
    assert.equal(egress(pk.tcp4(POD, REMOTE, 40000, 80)), TcAction.OK);
  });

  it('tunnel mode: a packet for a tunnel endpoint is redirected into the tunnel device', () => {
    ov.setRoutingMode('tunnel', TUNNEL_IFINDEX);
    try {
      assert.equal(egress(pk.tcp4(POD, REMOTE, 40001, 80)), TcAction.REDIRECT);
      const [ev] = drain();
      assert.deepEqual([ev?.verdict, ev?.srcIdentity, ev?.direction], [Verdict.FORWARDED, POD_ID, 'egress']);
      // No tunnel endpoint (outside the cluster, or a same-node address not yet an endpoint): the stack.
      assert.equal(egress(pk.tcp4(POD, NOWHERE, 40002, 80)), TcAction.OK);
      assert.equal(egress(pk.tcp4(POD, LOCAL_PEER, 40003, 80)), TcAction.OK);
    } finally {
      ov.setRoutingMode('native');
    }
  });

  it('tunnel mode: an identity wider than the VNI cannot be carried and is dropped', () => {
    ov.setRoutingMode('tunnel', TUNNEL_IFINDEX);
    try {
      endpoint(0x1000000 + 5);
      assert.equal(egress(pk.tcp4(POD, REMOTE, 40004, 80)), TcAction.SHOT);
      const drop = drain().find((e) => e.verdict === Verdict.DROPPED);
      assert.equal(drop?.dropReason, DropReason.INVALID_IDENTITY);
    } finally {
      ov.setRoutingMode('native');
    }
  });

  it('cil_from_overlay passes a packet that came without a tunnel key to the stack', () => {
    const r = dp.addon.progTestRun(ov.progs.fromOverlay, pk.tcp4(REMOTE, POD, 40005, 80));
    assert.equal(r.retval, TcAction.OK);
    assert.equal(drain().length, 0);
  });

  it('tunnelProtocol geneve: refused with the reason where the kernel has no Geneve', () => {
    if (tunnelProtocolSupported('geneve')) {
      OverlayDatapath.load({ pinRoot, tunnelProtocol: 'geneve' }).close();
      return;
    }
    assert.throws(() => OverlayDatapath.load({ pinRoot, tunnelProtocol: 'geneve' }), new RegExp(NO_GENEVE));
    assert.throws(() => createTunnelDevice({ protocol: 'geneve', name: `ctsg${process.pid % 10000}` }), /no Geneve/);
  });
});
