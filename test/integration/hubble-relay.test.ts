// Hubble Relay over real gRPC on 127.0.0.1: three agents' observer servers (our real server, flow
// rings filled with synthetic flows of three nodes), the peer service on one of them listing all
// three, and the relay discovering them through it. Asked by our client and by the real `hubble`
// CLI (.tools/bin/hubble, Cilium v1.20.2): merged order, the newest N of the cluster, follow across
// nodes, ServerStatus and GetNodes, and one agent stopped (then back) while the others stream on.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { FlowRing } from '../../src/hubble/flow-ring.ts';
import { startHubbleServer, type HubbleServer, type GetFlowsRequest } from '../../src/hubble/server.ts';
import { ObserverClient } from '../../src/hubble/client.ts';
import { PeerNotifier, type PeerChange } from '../../src/hubble/peer-service.ts';
import { PeerWatcher } from '../../src/hubble/relay/peer-watcher.ts';
import { startRelay, type Relay } from '../../src/hubble/relay/relay-server.ts';
import { timestampFromMs } from '../../src/hubble/flow.ts';
import type { GetFlowsResponse } from '../../src/hubble/printer.ts';
import { logger } from '../../src/lib/log.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { flow } from '../unit/hubble/fixtures.ts';
import { parseFlowsResponse } from '../unit/hubble/jsonpb.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);
const hubble = join(repoRoot, '.tools', 'bin', 'hubble');
const env = { ...process.env, TZ: 'UTC', LOG_LEVEL: 'error', HUBBLE_CONFIG: '/dev/null' };
const nodes = ['node-a', 'node-b', 'node-c'] as const;

const rings = new Map<string, FlowRing>();
const servers = new Map<string, HubbleServer>();
const peers = new PeerNotifier();
let relay: Relay;
let client: ObserverClient;

async function startNode(name: string, listen = '127.0.0.1:0'): Promise<HubbleServer> {
  const server = await startHubbleServer({ ring: rings.get(name)!, nodeName: name, listen, peers });
  servers.set(name, server);
  return server;
}

// 12 flows, 100 ms apart, dealt round-robin to the three nodes: sport 2000 + i at i × 100 ms on
// nodes[i % 3], so the cluster's time order is the sport order.
before(async () => {
  for (const n of nodes) rings.set(n, new FlowRing(64));
  for (let i = 0; i < 12; i++) {
    const node = nodes[i % 3]!;
    rings.get(node)!.push(flow({ at: i * 100, sport: 2000 + i, node }));
  }
  for (const n of nodes) await startNode(n);
  peers.set(nodes.map((name) => ({ name, address: servers.get(name)!.address })));
  relay = await startRelay({
    peerService: servers.get('node-a')!.address,
    listen: '127.0.0.1:0',
    backoff: { initialMs: 100, maxMs: 500 },
    sortBuffer: { drainMs: 50 },
    log: logger('hubble-relay-test'),
  });
  client = new ObserverClient(relay.address);
  await waitFor('the relay to connect to the three agents', async () => {
    const s = await client.serverStatus();
    return s.num_connected_nodes?.value === 3;
  });
});
after(async () => {
  client?.close();
  await relay?.stop();
  for (const s of servers.values()) await s.stop();
});

async function all(req: GetFlowsRequest): Promise<GetFlowsResponse[]> {
  const out: GetFlowsResponse[] = [];
  for await (const r of client.getFlows(req)) out.push(r);
  return out;
}
const flowsOf = (rs: GetFlowsResponse[]) => rs.filter((r) => r.flow);
const sports = (rs: GetFlowsResponse[]) => flowsOf(rs).map((r) => r.flow!.l4!.TCP!.source_port);
const at = (ms: number) => ({ seconds: 1764331200 + Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });

test('the peer service lists every agent, then each change (PEER_ADDED, PEER_UPDATED, PEER_DELETED)', async () => {
  const seen: PeerChange[] = [];
  const watcher = new PeerWatcher({
    address: servers.get('node-b')!.address,
    onChange: (c) => seen.push(c),
    log: logger('peer-watcher-test'),
  });
  watcher.start();
  try {
    await waitFor('the three peers', () => seen.length >= 3);
    assert.deepEqual(
      seen.map((c) => [c.type, c.peer.name, c.peer.address]),
      nodes.map((n) => ['PEER_ADDED', n, servers.get(n)!.address]),
    );
    peers.upsert({ name: 'node-d', address: '127.0.0.1:1' });
    peers.upsert({ name: 'node-d', address: '127.0.0.1:2' });
    peers.remove('node-d');
    await waitFor('three changes of node-d', () => seen.length >= 6);
    assert.deepEqual(
      seen.slice(3).map((c) => [c.type, c.peer.address]),
      [
        ['PEER_ADDED', '127.0.0.1:1'],
        ['PEER_UPDATED', '127.0.0.1:2'],
        ['PEER_DELETED', '127.0.0.1:2'],
      ],
    );
  } finally {
    await watcher.stop();
  }
  await waitFor('the relay to drop node-d', () => relay.pool.list().length === 3);
});

test('GetFlows merges the nodes by time and says which nodes answered', async () => {
  const rs = await all({});
  assert.deepEqual(rs[0]?.node_status?.state_change, 'NODE_CONNECTED');
  assert.deepEqual(rs[0]?.node_status?.node_names, [...nodes]);
  assert.deepEqual(
    sports(rs),
    Array.from({ length: 12 }, (_, i) => 2000 + i),
  );
  assert.deepEqual(
    flowsOf(rs).map((r) => r.node_name),
    Array.from({ length: 12 }, (_, i) => nodes[i % 3]),
  );
});

test('last N is the newest N of the cluster; first N, filters and since/until go down to every node', async () => {
  assert.deepEqual(sports(await all({ number: 4 })), [2008, 2009, 2010, 2011]);
  assert.deepEqual(sports(await all({ number: 2, first: true })), [2000, 2001]);
  assert.deepEqual(sports(await all({ number: 5, whitelist: [{ node_name: ['node-b'] }] })), [2001, 2004, 2007, 2010]);
  assert.deepEqual(
    sports(await all({ number: 100, whitelist: [{ source_port: ['2004'] }, { source_port: ['2009'] }] })),
    [2004, 2009],
  );
  assert.deepEqual(sports(await all({ since: at(250), until: at(650) })), [2003, 2004, 2005, 2006]);
  assert.deepEqual(sports(await all({ number: 2, until: at(450) })), [2003, 2004]);
  await assert.rejects(all({ whitelist: [{ experimental: { cel_expression: ['true'] } }] as never }), /cel/i);
});

test('ServerStatus sums the nodes; GetNodes lists each CONNECTED with its version and address', async () => {
  const s = await client.serverStatus();
  assert.equal(s.num_flows, 12);
  assert.equal(s.max_flows, 3 * 64);
  assert.equal(s.seen_flows, 12);
  assert.equal(s.num_connected_nodes?.value, 3);
  assert.equal(s.num_unavailable_nodes?.value, 0);
  const { stdout } = await run(hubble, ['list', 'nodes', '--server', relay.address, '-o', 'json'], { env });
  const listed = JSON.parse(stdout) as { name: string; state: string; address: string; version: string }[];
  assert.deepEqual(
    listed.map((n) => [n.name, n.state, n.address]),
    nodes.map((n) => [n, 'NODE_CONNECTED', servers.get(n)!.address]),
  );
  assert.ok(listed.every((n) => n.version));
});

async function followUntil(
  req: GetFlowsRequest,
  done: (got: GetFlowsResponse[]) => boolean,
  push: () => void,
): Promise<GetFlowsResponse[]> {
  const abort = new AbortController();
  const got: GetFlowsResponse[] = [];
  const reading = (async () => {
    for await (const r of client.getFlows(req, abort.signal)) {
      got.push(r);
      if (done(got)) abort.abort();
    }
  })();
  const followers = () => [...rings.values()].filter((r) => servers.size && r.stats().followers > 0).length;
  await waitFor('the relay to follow every live node', () => followers() >= servers.size);
  push();
  await Promise.race([reading, waitFor('the followed flows', () => done(got), 10_000).then(() => reading)]);
  return got;
}

test('follow: the newest N of the cluster first, then new flows from every node, in time order', async () => {
  const now = Date.now();
  const got = await followUntil(
    { number: 2, follow: true },
    (g) => flowsOf(g).length >= 5,
    () => {
      // pushed out of node order; the sort buffer puts them in time order
      rings.get('node-c')!.push({ ...flow({ sport: 3002, node: 'node-c' }), time: timestampFromMs(now + 20) });
      rings.get('node-a')!.push({ ...flow({ sport: 3000, node: 'node-a' }), time: timestampFromMs(now) });
      rings.get('node-b')!.push({ ...flow({ sport: 3001, node: 'node-b' }), time: timestampFromMs(now + 10) });
    },
  );
  assert.deepEqual(sports(got), [2010, 2011, 3000, 3001, 3002]);
  assert.deepEqual(
    flowsOf(got)
      .slice(2)
      .map((r) => r.node_name),
    [...nodes],
  );
});

test('the real hubble CLI reads the relay: status, observe across nodes', async () => {
  const status = (await run(hubble, ['status', '--server', relay.address], { env })).stdout;
  assert.match(status, /Healthcheck \(via .*\): Ok/);
  assert.match(status, /Connected Nodes: 3\/3/);
  const { stdout, stderr } = await run(hubble, ['observe', '--server', relay.address, '-o', 'json', '--last', '6'], {
    env,
  });
  const lines = stdout.trimEnd().split('\n');
  assert.equal(lines.length, 6, stderr);
  const names = lines.map((l) => (JSON.parse(l) as { flow: { node_name: string } }).flow.node_name);
  assert.deepEqual(new Set(names), new Set(nodes));
  assert.equal(parseFlowsResponse(lines[5]!).flow.l4.TCP?.source_port, 3002, 'the newest flow of the cluster last');
  const compact = (await run(hubble, ['observe', '--server', relay.address, '--last', '3'], { env })).stdout;
  assert.equal(compact.trimEnd().split('\n').length, 3);
});

test("cilium-ts observe uses the lab's relay (relay.addr) before fanning out over its agents (hubble.addr)", async () => {
  const labDir = mkdtempSync(join(tmpdir(), 'relay-lab-'));
  try {
    // hubble.addr names one agent only: flows of all three prove the relay answered
    writeFileSync(join(labDir, 'hubble.addr'), `${servers.get('node-a')!.address}\n`);
    writeFileSync(join(labDir, 'relay.addr'), `${relay.address}\n`);
    const labEnv = { ...env, CILIUM_TS_LAB_DIR: labDir };
    const cli = join(repoRoot, 'bin', 'cilium-ts');
    const { stdout } = await run(cli, ['observe', '-o', 'json', '--last', '6'], { env: labEnv });
    const names = stdout
      .trimEnd()
      .split('\n')
      .map((l) => (JSON.parse(l) as { flow: { node_name: string } }).flow.node_name);
    assert.equal(names.length, 6, 'node status events are not printed as flows');
    assert.deepEqual(new Set(names), new Set(nodes));
    const compact = (await run(cli, ['observe', '--last', '1'], { env: labEnv })).stdout;
    assert.match(compact, / \[node-[abc]\]: /, 'the node of each flow is shown');
    const status = (await run(cli, ['observe', 'status'], { env: labEnv })).stdout;
    assert.match(status, /Healthcheck \(via 127\.0\.0\.1:\d+\): Ok/);
    assert.match(status, /Connected Nodes: 3\/3/);
  } finally {
    rmSync(labDir, { recursive: true, force: true });
  }
});

test('a stopped agent shows as unavailable while the others keep streaming, and comes back', async () => {
  const c = servers.get('node-c')!;
  const port = c.port;
  const abort = new AbortController();
  const got: GetFlowsResponse[] = [];
  const reading = (async () => {
    try {
      for await (const r of client.getFlows({ follow: true }, abort.signal)) got.push(r);
    } catch {
      // cancelled at the end
    }
  })();
  try {
    await waitFor('the relay to follow the three nodes', () =>
      [...rings.values()].every((r) => r.stats().followers > 0),
    );
    await c.stop();
    servers.delete('node-c');
    const s = await waitFor('node-c to be unavailable', async () => {
      const st = await client.serverStatus();
      return st.num_unavailable_nodes?.value === 1 && st;
    });
    assert.equal(s.num_connected_nodes?.value, 2);
    assert.deepEqual(s.unavailable_nodes, ['node-c']);
    const status = (await run(hubble, ['status', '--server', relay.address], { env })).stdout;
    assert.match(status, /Connected Nodes: 2\/3/);
    const listed = JSON.parse(
      (await run(hubble, ['list', 'nodes', '--server', relay.address, '-o', 'json'], { env })).stdout,
    ) as { name: string; state: string }[];
    assert.deepEqual(
      listed.map((n) => [n.name, n.state]),
      [
        ['node-a', 'NODE_CONNECTED'],
        ['node-b', 'NODE_CONNECTED'],
        ['node-c', 'NODE_UNAVAILABLE'],
      ],
    );
    // the follow that was open keeps streaming the others, and said node-c left
    rings.get('node-a')!.push({ ...flow({ sport: 4000, node: 'node-a' }), time: timestampFromMs(Date.now()) });
    rings.get('node-b')!.push({ ...flow({ sport: 4001, node: 'node-b' }), time: timestampFromMs(Date.now() + 1) });
    await waitFor('flows of node-a and node-b after node-c stopped', () => sports(got).includes(4001));
    assert.ok(
      got.some((r) => r.node_status?.state_change === 'NODE_UNAVAILABLE' && r.node_status.node_names?.[0] === 'node-c'),
    );
    // a new request still answers from the two that are up
    assert.deepEqual(
      new Set(flowsOf(await all({ number: 100 })).map((r) => r.node_name)),
      new Set(['node-a', 'node-b']),
    );

    // node-c back on the same address: connected again without anyone calling it, and followed again
    await startNode('node-c', `127.0.0.1:${port}`);
    await waitFor(
      'node-c to be connected again',
      async () => (await client.serverStatus()).num_connected_nodes?.value === 3,
    );
    await waitFor('the open follow to follow node-c again', () => rings.get('node-c')!.stats().followers > 0);
    rings.get('node-c')!.push({ ...flow({ sport: 4002, node: 'node-c' }), time: timestampFromMs(Date.now()) });
    await waitFor('node-c flows in the open follow', () => sports(got).includes(4002));
  } finally {
    abort.abort();
    await reading;
  }
});
