// Real traffic: two pods (network namespaces + veth), bpf_lxc attached to the host-side
// veths, TCP connects allowed or refused exactly as the maps say, changed at run time by
// map writes, and surviving an agent restart (maps pinned, programs left attached).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawnSync, type ChildProcess } from 'node:child_process';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import {
  flowEventCodec,
  policyEntryFor,
  type FlowEvent,
  type PolicyEntry,
  type PolicyKey,
} from '../../src/datapath/codecs.ts';
import { DropReason, EndpointFlags, EnforcementMode, IpProto, Verdict } from '../../src/datapath/constants.ts';
import type { NativeRingBuffer } from '../../src/datapath/addon.ts';
import { requireDatapath } from './env.ts';
import {
  createPod,
  deletePod,
  openConnection,
  ping,
  setForwarding,
  startEchoServer,
  startServer,
  startUdpEcho,
  subnetBase,
  tryConnect,
  udpProbe,
  type Pod,
} from './netns.ts';

requireDatapath();

const CLIENT_ID = 51001,
  SERVER_ID = 51002,
  CLIENT_EP = 101,
  SERVER_EP = 102;

function allow(identity: number, port: number, deny = false, protocol: number = IpProto.TCP): [PolicyKey, PolicyEntry] {
  const key: PolicyKey = { identity, direction: 'ingress', protocol, port, portPrefixLen: 16 };
  return [key, policyEntryFor(key, { deny })];
}

/** `n` allow entries for identities nobody has: ballast that makes two policies differ. */
function ballast(firstIdentity: number, n: number): Array<[PolicyKey, PolicyEntry]> {
  return Array.from({ length: n }, (_, i) => allow(firstIdentity + i, 9000 + (i % 50), false, IpProto.UDP));
}

/** What an agent does when it starts: load (reusing the pinned maps), re-attach, exit. */
function agentProcess(pinRoot: string, ifindexes: number[]): void {
  const loader = new URL('../../src/datapath/loader.ts', import.meta.url).href;
  const script = `import { LxcDatapath } from ${JSON.stringify(loader)};
    const dp = LxcDatapath.load({ pinRoot: ${JSON.stringify(pinRoot)} });
    for (const i of ${JSON.stringify(ifindexes)}) dp.attach(i);
    dp.close();`;
  const r = spawnSync(
    process.execPath,
    ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, `agent process failed: ${r.stderr}`);
}

describe('bpf_lxc on real veths between two network namespaces', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-traffic-${process.pid}`;
  const pods: Pod[] = [];
  let client: Pod, server: Pod;
  const procs: ChildProcess[] = [];
  let dp: LxcDatapath;
  let rb: NativeRingBuffer | undefined;
  const events: FlowEvent[] = [];

  before(async () => {
    const base = subnetBase();
    client = createPod('c', base);
    pods.push(client);
    server = createPod('s', base + 1);
    pods.push(server);
    procs.push(await startServer(server, [8080, 8081]));
    procs.push(await startUdpEcho(server, [9000, 9001]));
    procs.push(await startEchoServer(server, 7000));

    dp = LxcDatapath.load({ pinRoot });
    rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
    rb.unref();
    dp.maps.ipcache.update(`${client.ip}/32`, { identity: CLIENT_ID, tunnelEndpoint: null, flags: 0 });
    dp.maps.ipcache.update(`${server.ip}/32`, { identity: SERVER_ID, tunnelEndpoint: null, flags: 0 });
    dp.maps.endpoints.update(client.hostIfindex, {
      epId: CLIENT_EP,
      identity: CLIENT_ID,
      flags: 0,
      mode: EnforcementMode.DEFAULT,
    });
    dp.maps.endpoints.update(server.hostIfindex, {
      epId: SERVER_EP,
      identity: SERVER_ID,
      flags: EndpointFlags.ENFORCE_INGRESS,
      mode: EnforcementMode.DEFAULT,
    });
    dp.replaceEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080)]);
    dp.attach(client.hostIfindex);
    dp.attach(server.hostIfindex);
  });

  after(() => {
    rb?.close();
    for (const p of procs) p.kill();
    for (const p of pods) deletePod(p);
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('connects on the allowed port and not on the other one', async () => {
    assert.equal(await tryConnect(client, server.ip, 8080), 'ok');
    assert.equal(await tryConnect(client, server.ip, 8081), 'timeout');
  });

  it('reports the drop as a flow event delivered through the event loop', async () => {
    events.length = 0;
    assert.equal(await tryConnect(client, server.ip, 8081, 500), 'timeout');
    await new Promise((r) => setTimeout(r, 50));
    const drop = events.find((e) => e.verdict === Verdict.DROPPED && e.dport === 8081);
    assert.ok(drop, `no drop event among ${events.length}`);
    assert.equal(drop.dropReason, DropReason.POLICY);
    assert.equal(drop.ifindex, server.hostIfindex);
    assert.equal(drop.epId, SERVER_EP);
    assert.equal(drop.srcIdentity, CLIENT_ID);
    assert.equal(drop.dstIdentity, SERVER_ID);
    assert.equal(drop.saddr, client.ip);
    assert.equal(drop.direction, 'ingress');
  });

  it('follows policy map writes at run time', async () => {
    const r = dp.syncEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080), allow(CLIENT_ID, 8081)]);
    assert.deepEqual(r, { added: 1, changed: 0, removed: 0, unchanged: 1 });
    assert.equal(await tryConnect(client, server.ip, 8081), 'ok');
    dp.syncEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080, true), allow(CLIENT_ID, 8081)]);
    assert.equal(await tryConnect(client, server.ip, 8080), 'timeout');
    assert.equal(await tryConnect(client, server.ip, 8081), 'ok');
    // Enforcement off for the endpoint: everything passes, no recompilation.
    dp.maps.endpoints.update(server.hostIfindex, {
      epId: SERVER_EP,
      identity: SERVER_ID,
      flags: 0,
      mode: EnforcementMode.DEFAULT,
    });
    assert.equal(await tryConnect(client, server.ip, 8080), 'ok');
    dp.maps.endpoints.update(server.hostIfindex, {
      epId: SERVER_EP,
      identity: SERVER_ID,
      flags: EndpointFlags.ENFORCE_INGRESS,
      mode: EnforcementMode.DEFAULT,
    });
  });

  it('judges UDP and ICMP by the maps too', async () => {
    dp.syncEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080), allow(CLIENT_ID, 9000, false, IpProto.UDP)]);
    assert.equal(await udpProbe(client, server.ip, 9000), 1);
    assert.equal(await udpProbe(client, server.ip, 9001, { timeoutMs: 500 }), 0);
    // L4 policy applies: ICMP echo is dropped until an ICMP rule (type 8) allows it.
    assert.equal(await ping(client, server.ip), false);
    dp.syncEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080), allow(CLIENT_ID, 8, false, IpProto.ICMP)]);
    assert.equal(await ping(client, server.ip), true);
    assert.equal(await udpProbe(client, server.ip, 9000, { timeoutMs: 500 }), 0);
  });

  it('swaps a whole policy atomically under continuous traffic without losing an allowed packet', async () => {
    // Two policies that both allow UDP 9000 but differ in everything else: every swap replaces
    // the endpoint's inner map. Each probe datagram is a new flow, judged by the policy.
    const a = [allow(CLIENT_ID, 9000, false, IpProto.UDP), ...ballast(60000, 200)];
    const b = [...ballast(70000, 200), allow(CLIENT_ID, 9000, false, IpProto.UDP)];
    dp.replaceEndpointPolicy(SERVER_EP, a);
    let stop = false,
      swaps = 0,
      sent = 0,
      answered = 0;
    const swapping = (async () => {
      while (!stop) {
        dp.replaceEndpointPolicy(SERVER_EP, swaps % 2 ? a : b);
        swaps++;
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      // Batches of new flows until the policy has been swapped at least 50 times under them.
      while (swaps < 50) {
        answered += await udpProbe(client, server.ip, 9000, { count: 500, concurrency: 8, timeoutMs: 2000 });
        sent += 500;
      }
    } finally {
      stop = true;
      await swapping;
    }
    assert.equal(answered, sent, `lost ${sent - answered} of ${sent} allowed datagrams over ${swaps} swaps`);
    // And a swap does change the verdict: a policy without the port drops the next probe. (The
    // probes' flows are forgotten first: the next probe's source port may be an old one's.)
    dp.maps.conntrack.deleteRaw(
      dp.maps.conntrack
        .rawEntries()
        .filter(([k]) => dp.maps.conntrack.keyCodec.decode(k).protocol === IpProto.UDP)
        .map(([k]) => k),
    );
    dp.replaceEndpointPolicy(SERVER_EP, ballast(60000, 200));
    assert.equal(await udpProbe(client, server.ip, 9000, { timeoutMs: 500 }), 0);
  });

  it('keeps enforcing, and keeps an established TCP connection, across an agent process restart', async () => {
    dp.syncEndpointPolicy(SERVER_EP, [allow(CLIENT_ID, 8080), allow(CLIENT_ID, 7000)]);
    const conn = await openConnection(client, server.ip, 7000);
    try {
      assert.equal(await conn.roundTrip('before'), true);
      rb?.close();
      rb = undefined;
      dp.close(); // this process lets go of every fd: tc keeps the programs, bpffs the maps
      assert.equal(await conn.roundTrip('agentless'), true);
      assert.equal(await tryConnect(client, server.ip, 8081), 'timeout');

      agentProcess(pinRoot, [client.hostIfindex, server.hostIfindex]); // a new agent starts and exits
      assert.equal(await conn.roundTrip('after-restart'), true);

      dp = LxcDatapath.load({ pinRoot });
      rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => events.push(flowEventCodec.decode(rec)));
      rb.unref();
      assert.equal(dp.maps.endpoints.lookup(server.hostIfindex)?.epId, SERVER_EP);
      assert.ok(dp.maps.conntrack.entries().some(([k]) => k.daddr === server.ip && k.dport === 7000));
      assert.equal(await tryConnect(client, server.ip, 8080), 'ok');
      assert.equal(await tryConnect(client, server.ip, 8081), 'timeout');
      assert.equal(await conn.roundTrip('reloaded'), true);
    } finally {
      conn.close();
    }
  });

  it('hands same-node traffic straight to the destination pod (no host forwarding)', async () => {
    setForwarding(client, false);
    setForwarding(server, false);
    try {
      // Without forwarding the host stack cannot route between the pods: only the redirect can.
      assert.equal(await tryConnect(client, server.ip, 8080, 800), 'timeout');
      const ep = (p: Pod, epId: number, identity: number, flags: number) =>
        dp.maps.endpoints.update(p.hostIfindex, {
          epId,
          identity,
          flags,
          mode: EnforcementMode.DEFAULT,
          mac: p.mac,
          nodeMac: p.hostMac,
        });
      ep(client, CLIENT_EP, CLIENT_ID, 0);
      ep(server, SERVER_EP, SERVER_ID, EndpointFlags.ENFORCE_INGRESS);
      dp.maps.endpointsByIp.update(client.ip, client.hostIfindex);
      dp.maps.endpointsByIp.update(server.ip, server.hostIfindex);
      assert.equal(await tryConnect(client, server.ip, 8080), 'ok');
      // The server's ingress policy is still enforced on the fast path: the drop is made by
      // the client's from-container program, on the server endpoint's behalf.
      events.length = 0;
      assert.equal(await tryConnect(client, server.ip, 8081, 800), 'timeout');
      await new Promise((r) => setTimeout(r, 50));
      const drop = events.find((e) => e.verdict === Verdict.DROPPED && e.dport === 8081);
      assert.ok(drop, 'no drop event');
      assert.deepEqual(
        [drop.epId, drop.ifindex, drop.direction, drop.dropReason],
        [SERVER_EP, client.hostIfindex, 'ingress', DropReason.POLICY],
      );
    } finally {
      dp.maps.endpointsByIp.delete(client.ip);
      dp.maps.endpointsByIp.delete(server.ip);
      setForwarding(client, true);
      setForwarding(server, true);
    }
  });

  it('detaches cleanly: traffic flows unfiltered afterwards', async () => {
    dp.detach(client.hostIfindex);
    dp.detach(server.hostIfindex);
    assert.equal(dp.addon.tcQuery(server.hostIfindex, 'egress', 1, 1), null);
    assert.equal(await tryConnect(client, server.ip, 8081), 'ok');
  });
});
