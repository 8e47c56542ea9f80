// Real traffic between two nodes (network namespaces joined by an underlay veth), a pod on each:
// tunnel mode carries pod A's identity in the VXLAN VNI and node 2 judges it by that identity even
// though its ipcache does not know pod A's address; native mode routes the same connection without
// encapsulation and node 2 names the source from its ipcache.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { OverlayDatapath } from '../../src/datapath/overlay.ts';
import {
  flowEventCodec,
  policyEntryFor,
  type FlowEvent,
  type PolicyEntry,
  type PolicyKey,
} from '../../src/datapath/codecs.ts';
import {
  DropReason,
  EndpointFlags,
  EnforcementMode,
  IpProto,
  ReservedIdentity,
  TUNNEL_OVERHEAD,
  Verdict,
} from '../../src/datapath/constants.ts';
import type { NativeRingBuffer } from '../../src/datapath/addon.ts';
import { waitFor } from '../harness/wait.ts';
import { requireDatapath } from './env.ts';
import { startServer, tryConnect } from './netns.ts';
import {
  addNativeRoutes,
  attachInNode,
  captureVxlan,
  createTwoNodes,
  removeNativeRoutes,
  sendBytes,
  startSink,
  type Node,
  type TwoNodes,
} from './overlay-nodes.ts';

requireDatapath();

const A_ID = 52001,
  B_ID = 52002,
  OTHER_ID = 52003,
  A_EP = 201,
  B_EP = 202;

function allow(identity: number, port: number): [PolicyKey, PolicyEntry] {
  const key: PolicyKey = { identity, direction: 'ingress', protocol: IpProto.TCP, port, portPrefixLen: 16 };
  return [key, policyEntryFor(key, { deny: false })];
}

interface NodeDp {
  node: Node;
  lxc: LxcDatapath;
  overlay: OverlayDatapath;
  rb: NativeRingBuffer;
  events: FlowEvent[];
}

function openNode(node: Node, identity: number, epId: number, flags: number): NodeDp {
  const lxc = LxcDatapath.load({ pinRoot: node.pinRoot });
  const overlay = OverlayDatapath.load({ pinRoot: node.pinRoot });
  const events: FlowEvent[] = [];
  const rb = new lxc.addon.RingBuffer(lxc.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
  rb.unref();
  const p = node.pod;
  lxc.maps.endpoints.update(node.lxcIfindex, {
    epId,
    identity,
    flags,
    mode: EnforcementMode.DEFAULT,
    mac: p.mac,
    nodeMac: p.hostMac,
  });
  lxc.maps.endpointsByIp.update(p.ip, node.lxcIfindex);
  lxc.maps.ipcache.update(`${p.ip}/32`, { identity, tunnelEndpoint: null, flags: 0 });
  return { node, lxc, overlay, rb, events };
}

describe('two nodes: VXLAN with the identity in the VNI, and native routing', () => {
  let nodes: TwoNodes;
  let a: NodeDp, b: NodeDp;
  const procs: ChildProcess[] = [];

  /** Node 2's flow events for pod B's port, after the ring buffer was drained. */
  const eventsAtB = async (port: number, verdict: number): Promise<FlowEvent> => {
    let found: FlowEvent | undefined;
    await waitFor(`a flow event for port ${port} on node 2`, () => {
      b.rb.consume();
      found = b.events.find((e) => e.dport === port && e.verdict === verdict);
      return found !== undefined;
    });
    return found!;
  };

  before(async () => {
    nodes = createTwoNodes(1500 - TUNNEL_OVERHEAD);
    a = openNode(nodes.n1, A_ID, A_EP, 0);
    b = openNode(nodes.n2, B_ID, B_EP, EndpointFlags.ENFORCE_INGRESS);
    // Each node knows the other's pod CIDR behind its tunnel endpoint (identity world, as Cilium's
    // ipcache has it): node 2 does NOT know pod A's own address and identity.
    a.lxc.maps.ipcache.update(nodes.n2.podCidr, {
      identity: ReservedIdentity.WORLD,
      tunnelEndpoint: nodes.n2.underlayIp,
      flags: 0,
    });
    b.lxc.maps.ipcache.update(nodes.n1.podCidr, {
      identity: ReservedIdentity.WORLD,
      tunnelEndpoint: nodes.n1.underlayIp,
      flags: 0,
    });
    b.lxc.replaceEndpointPolicy(B_EP, [allow(A_ID, 8080), allow(A_ID, 9100)]);
    a.overlay.setRoutingMode('tunnel', nodes.n1.vxlanIfindex);
    b.overlay.setRoutingMode('tunnel', nodes.n2.vxlanIfindex);
    attachInNode(nodes.n1);
    attachInNode(nodes.n2);
    procs.push(await startServer(nodes.n2.pod, [8080, 8081]));
    procs.push(await startSink(nodes.n2.pod, 9100));
  });

  after(() => {
    for (const p of procs) p.kill();
    for (const n of [a, b]) {
      n?.rb.close();
      n?.lxc.close();
      n?.overlay.close();
    }
    nodes?.destroy();
    for (const n of [nodes?.n1, nodes?.n2]) if (n) rmSync(n.pinRoot, { recursive: true, force: true });
  });

  it('tunnel: pod A reaches pod B, the VNI on the underlay is pod A identity', async () => {
    const cap = await captureVxlan(nodes.n2, nodes.n1.pod.ip);
    try {
      assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8080, 3000), 'ok');
      const seen = await cap.result;
      assert.ok(seen, 'no VXLAN packet from pod A on the underlay');
      assert.deepEqual(seen, { vni: A_ID, innerSrc: nodes.n1.pod.ip, innerDst: nodes.n2.pod.ip });
    } finally {
      cap.stop();
    }
    // The forwarded flow was judged on node 2 by cil_from_overlay with the VNI's identity.
    const ev = await eventsAtB(8080, Verdict.FORWARDED);
    assert.deepEqual([ev.srcIdentity, ev.dstIdentity, ev.epId, ev.ifindex], [A_ID, B_ID, B_EP, nodes.n2.vxlanIfindex]);
  });

  it('tunnel: node 2 enforces its ingress policy on the identity from the VNI', async () => {
    b.events.length = 0;
    assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8081, 800), 'timeout');
    const drop = await eventsAtB(8081, Verdict.DROPPED);
    assert.deepEqual([drop.srcIdentity, drop.dropReason, drop.direction], [A_ID, DropReason.POLICY, 'ingress']);
    // A policy for another identity only: pod A's connections are dropped, with pod A's identity.
    b.lxc.syncEndpointPolicy(B_EP, [allow(OTHER_ID, 8080)]);
    try {
      b.events.length = 0;
      assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8080, 800), 'timeout');
      const d = await eventsAtB(8080, Verdict.DROPPED);
      assert.equal(d.srcIdentity, A_ID);
    } finally {
      b.lxc.syncEndpointPolicy(B_EP, [allow(A_ID, 8080), allow(A_ID, 9100)]);
    }
  });

  it('tunnel: 5 MB pass with the pod MTU lowered by the tunnel overhead', async () => {
    const bytes = 5 * 1024 * 1024;
    assert.equal(await sendBytes(nodes.n1.pod, nodes.n2.pod.ip, 9100, bytes), String(bytes));
  });

  it('native: the same connection over routes, node 2 naming the source from its ipcache', async () => {
    a.overlay.setRoutingMode('native');
    b.overlay.setRoutingMode('native');
    addNativeRoutes(nodes);
    try {
      // Without pod A in node 2's ipcache the source is world there: not allowed.
      b.events.length = 0;
      assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8080, 800), 'timeout');
      const drop = await eventsAtB(8080, Verdict.DROPPED);
      assert.deepEqual([drop.srcIdentity, drop.ifindex], [ReservedIdentity.WORLD, nodes.n2.lxcIfindex]);

      b.lxc.maps.ipcache.update(`${nodes.n1.pod.ip}/32`, { identity: A_ID, tunnelEndpoint: null, flags: 0 });
      b.events.length = 0;
      const cap = await captureVxlan(nodes.n2, nodes.n1.pod.ip, 2);
      try {
        assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8080, 3000), 'ok');
      } finally {
        cap.stop();
      }
      assert.equal(await cap.result, null, 'native mode must not encapsulate');
      const ev = await eventsAtB(8080, Verdict.FORWARDED);
      assert.deepEqual([ev.srcIdentity, ev.ifindex], [A_ID, nodes.n2.lxcIfindex]);
      assert.equal(await tryConnect(nodes.n1.pod, nodes.n2.pod.ip, 8081, 800), 'timeout');
      const bytes = 5 * 1024 * 1024;
      assert.equal(await sendBytes(nodes.n1.pod, nodes.n2.pod.ip, 9100, bytes), String(bytes));
    } finally {
      b.lxc.maps.ipcache.delete(`${nodes.n1.pod.ip}/32`);
      removeNativeRoutes(nodes);
      a.overlay.setRoutingMode('tunnel', nodes.n1.vxlanIfindex);
      b.overlay.setRoutingMode('tunnel', nodes.n2.vxlanIfindex);
    }
  });
});
