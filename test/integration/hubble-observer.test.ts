// The Hubble observer API over real gRPC on 127.0.0.1: a server fed with synthetic flows, asked by
// our client (filters, last/first N, follow, since/until, status) and by `cilium-ts observe` run
// as a user runs it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { status as grpcStatus } from '@grpc/grpc-js';
import { FlowRing } from '../../src/hubble/flow-ring.ts';
import { startHubbleServer, type HubbleServer, type GetFlowsRequest } from '../../src/hubble/server.ts';
import { ObserverClient } from '../../src/hubble/client.ts';
import type { GetFlowsResponse } from '../../src/hubble/printer.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { flow, denied } from '../unit/hubble/fixtures.ts';
import { parseFlowsResponse } from '../unit/hubble/jsonpb.ts';
import { waitFor } from '../harness/wait.ts';

const run = promisify(execFile);
const cli = join(repoRoot, 'bin', 'cilium-ts');

let ring: FlowRing;
let server: HubbleServer;
let client: ObserverClient;

// 12 flows, 100 ms apart from 2025-11-28T12:00:00Z: every third one dropped by deny-a,
// the others x/a -> y/b:80 forwarded; sports 1000 + i identify them.
before(async () => {
  ring = new FlowRing(64);
  for (let i = 0; i < 12; i++)
    ring.push(i % 3 === 0 ? denied({ at: i * 100, sport: 1000 + i }) : flow({ at: i * 100, sport: 1000 + i }));
  server = await startHubbleServer({ ring, nodeName: 'node-a', listen: '127.0.0.1:0' });
  client = new ObserverClient(server.address);
});
after(async () => {
  client?.close();
  await server?.stop();
});

async function all(req: GetFlowsRequest, c = client): Promise<GetFlowsResponse[]> {
  const out: GetFlowsResponse[] = [];
  for await (const r of c.getFlows(req)) out.push(r);
  return out;
}
const sports = (rs: GetFlowsResponse[]) => rs.map((r) => r.flow?.l4?.TCP?.source_port ?? 'lost');

test('last N: the newest N in time order; first N: the oldest N', async () => {
  assert.deepEqual(sports(await all({ number: 3 })), [1009, 1010, 1011]);
  assert.deepEqual(sports(await all({ number: 2, first: true })), [1000, 1001]);
  assert.equal((await all({})).length, 12, 'no number, no follow: everything held');
  const [r] = await all({ number: 1 });
  assert.equal(r!.node_name, 'node-a');
  assert.deepEqual(r!.time, r!.flow!.time);
});

test('whitelist and blacklist filters are applied before counting', async () => {
  assert.deepEqual(sports(await all({ number: 2, whitelist: [{ verdict: ['DROPPED'] }] })), [1006, 1009]);
  assert.deepEqual(
    sports(await all({ number: 100, blacklist: [{ verdict: ['FORWARDED'] }] })),
    [1000, 1003, 1006, 1009],
  );
  assert.deepEqual(
    sports(await all({ number: 100, whitelist: [{ source_port: ['1001'] }, { source_port: ['1002'] }] })),
    [1001, 1002],
  );
  assert.equal(
    (await all({ number: 100, whitelist: [{ source_pod: ['x/'], destination_label: ['k8s:app=b'] }] })).length,
    12,
  );
  assert.equal((await all({ number: 100, whitelist: [{ destination_pod: ['x/'] }] })).length, 0);
  const dropped = (await all({ number: 1, whitelist: [{ verdict: ['DROPPED'] }] }))[0]!.flow!;
  assert.equal(dropped.drop_reason_desc, 'POLICY_DENIED');
  assert.equal(dropped.ingress_denied_by?.[0]?.name, 'deny-a', 'the deciding rule crosses the wire');
});

test('since/until select a time window', async () => {
  const at = (ms: number) => ({ seconds: 1764331200 + Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 });
  assert.deepEqual(sports(await all({ since: at(250), until: at(550) })), [1003, 1004, 1005]);
  assert.deepEqual(sports(await all({ since: at(1000) })), [1010, 1011]);
  assert.deepEqual(sports(await all({ number: 2, until: at(450) })), [1003, 1004]);
});

test("a bad filter is INVALID_ARGUMENT with Hubble's reason", async () => {
  await assert.rejects(
    all({ whitelist: [{ source_ip: ['10.0.0.300'] }] }),
    (e: { code: grpcStatus; details: string }) =>
      e.code === grpcStatus.INVALID_ARGUMENT && /invalid IP address/.test(e.details),
  );
  await assert.rejects(
    all({ first: true, follow: true }),
    (e: { code: grpcStatus }) => e.code === grpcStatus.INVALID_ARGUMENT,
  );
});

test('follow: the last N, then flows pushed while following, then lost events; cancel ends it', async () => {
  const ac = new AbortController();
  const got: GetFlowsResponse[] = [];
  const stream = client.getFlows({ number: 1, follow: true, whitelist: [{ destination_port: ['80'] }] }, ac.signal);
  const reading = (async () => {
    for await (const r of stream) {
      got.push(r);
      if (got.length === 4) ac.abort();
    }
  })();
  await waitFor('the last flow', () => got.length === 1);
  ring.push(flow({ at: 5000, sport: 2000 }));
  ring.push(flow({ at: 5001, sport: 2001, dport: 443 })); // filtered out
  ring.push(denied({ at: 5002, sport: 2002 }));
  await waitFor('the two followed flows that pass the filter', () => got.length === 3);
  ring.recordLost(9, 0);
  await reading;
  assert.deepEqual(sports(got), [1011, 2000, 2002, 'lost']);
  assert.deepEqual(
    { ...got[3]!.lost_events, first: undefined, last: undefined },
    { source: 'PERF_EVENT_RING_BUFFER', num_events_lost: 9, cpu: { value: 0 }, first: undefined, last: undefined },
  );
  await waitFor('the cancelled follower to leave the ring', () => ring.stats().followers === 0);
});

test('a follower that stops reading loses flows, told as HUBBLE_RING_BUFFER; the producer never waits', async () => {
  const r = new FlowRing(16);
  const s = await startHubbleServer({ ring: r, nodeName: 'node-c', listen: '127.0.0.1:0' });
  const c = new ObserverClient(s.address);
  try {
    const it = c.getFlows({ follow: true });
    const first = it.next();
    await waitFor('the client to follow the ring', () => r.stats().followers === 1);
    r.push(flow({ sport: 0 }));
    assert.equal((await first).value?.flow?.l4?.TCP?.source_port, 0);
    // the client reads nothing while 30k flows go by: gRPC flow control stops the server's writes
    const total = 30_000;
    for (let i = 1; i <= total; i++) {
      r.push(flow({ sport: i % 65536 }));
      if (i % 1000 === 0) await new Promise((res) => setImmediate(res));
    }
    assert.equal(r.stats().seen, total + 1, 'every push went through');
    let lost = 0;
    let lastPort = -1;
    while (lastPort !== total % 65536) {
      const { value, done } = await it.next();
      if (done) break;
      if (value.lost_events) {
        assert.equal(value.lost_events.source, 'HUBBLE_RING_BUFFER');
        lost += value.lost_events.num_events_lost ?? 0;
      } else lastPort = value.flow?.l4?.TCP?.source_port ?? -1;
    }
    await it.return(undefined);
    assert.equal(lastPort, total % 65536, 'the follower caught up with the newest flow');
    assert.ok(lost > 0, 'the lag was reported');
    assert.equal(r.stats().lostFollowers, lost);
  } finally {
    c.close();
    await s.stop();
  }
});

test('ServerStatus and GetNodes report the ring: held, capacity, seen', async () => {
  const r = new FlowRing(4);
  const s = await startHubbleServer({ ring: r, nodeName: 'node-b', listen: '127.0.0.1:0' });
  const c = new ObserverClient(s.address);
  try {
    for (let i = 0; i < 10; i++) r.push(flow({ sport: i, at: Date.now() - Number(1764331200000n) }));
    const st = await c.serverStatus();
    assert.equal(st.num_flows, 4);
    assert.equal(st.max_flows, 4);
    assert.equal(st.seen_flows, 10);
    assert.ok((st.uptime_ns ?? 0) > 0);
    assert.deepEqual(st.num_connected_nodes, { value: 1 });
    assert.deepEqual(st.num_unavailable_nodes ?? { value: 0 }, { value: 0 });
    assert.ok(Math.abs((st.flows_rate ?? 0) - 4 / 60) < 1e-9, `flows_rate ${st.flows_rate}`);
    assert.match(st.version ?? '', /cilium-ts/);
    assert.deepEqual(sports(await all({ number: 100 }, c)), [6, 7, 8, 9]);
  } finally {
    c.close();
    await s.stop();
  }
});

test('a unix socket works as well as TCP', async () => {
  const path = join('/tmp', `hubble-test-${process.pid}.sock`);
  const s = await startHubbleServer({ ring, nodeName: 'node-a', listen: `unix:${path}` });
  const c = new ObserverClient(`unix://${path}`);
  try {
    assert.equal(s.address, `unix:${path}`);
    assert.equal((await all({ number: 2 }, c)).length, 2);
  } finally {
    c.close();
    await s.stop();
  }
});

async function observe(...args: string[]): Promise<string[]> {
  const { stdout } = await run(cli, ['observe', ...args], { env: { ...process.env, TZ: 'UTC', LOG_LEVEL: 'error' } });
  return stdout.trimEnd().split('\n').filter(Boolean);
}

test('cilium-ts observe: compact lines with the deciding rule, filters from flags', async () => {
  const lines = await observe('--server', server.address, '--verdict', 'DROPPED', '--last', '2', '--to-port', '80');
  assert.deepEqual(lines, [
    'Nov 28 12:00:00.900: x/a-7d9f:1009 (ID:300) -> y/b-5c4e:80 (ID:301) Policy denied DROPPED (TCP Flags: SYN) by CiliumNetworkPolicy/y/deny-a ingressDeny[0]',
    'Nov 28 12:00:05.002: x/a-7d9f:2002 (ID:300) -> y/b-5c4e:80 (ID:301) Policy denied DROPPED (TCP Flags: SYN) by CiliumNetworkPolicy/y/deny-a ingressDeny[0]',
  ]);
  assert.equal(
    (await observe('--server', server.address, '--pod', 'x/a', '--not', '--verdict', 'DROPPED', '--last', '100'))
      .length,
    10,
  );
  assert.equal((await observe('--server', server.address, '-n', 'y', '--from-label', 'k8s:app=a', '--all')).length, 15);
  assert.equal((await observe('--server', server.address, '--protocol', 'udp')).length, 0);
  const json = (await observe('--server', server.address, '-o', 'json', '--last', '1', '--port', '1000')).map(
    parseFlowsResponse,
  );
  assert.equal(json.length, 1);
  assert.equal(json[0]?.flow.l4.TCP?.source_port, 1000);
  assert.equal(json[0]?.flow.ingress_denied_by?.[0]?.labels?.at(-1), 'cilium-ts:rule=ingressDeny[0]');
  assert.equal(json[0]?.time, '2025-11-28T12:00:00Z');
});

test('cilium-ts observe --follow prints flows as they arrive', async () => {
  const child = execFile(cli, ['observe', '--server', server.address, '-f', '--from-port', '3000'], {
    env: { ...process.env, TZ: 'UTC' },
  });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((res) => child.on('exit', (code) => res(code)));
  try {
    await waitFor('cilium-ts observe to follow the ring', () => ring.stats().followers > 0, 10_000);
    ring.push(flow({ at: 6000, sport: 3000 }));
    ring.push(flow({ at: 6001, sport: 3001 }));
    await waitFor('cilium-ts observe to print the flow from port 3000', () => out.includes(':3000 '));
  } finally {
    child.kill('SIGINT');
  }
  assert.equal(await exited, 0);
  assert.deepEqual(out.trimEnd().split('\n'), [
    'Nov 28 12:00:06.000: x/a-7d9f:3000 (ID:300) -> y/b-5c4e:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN)',
  ]);
});

test('cilium-ts observe across two agents merges by time and names the nodes', async () => {
  const r2 = new FlowRing(16);
  r2.push(flow({ at: 50, sport: 4000, node: 'node-b' }));
  r2.push(flow({ at: 950, sport: 4001, node: 'node-b' }));
  const s2 = await startHubbleServer({ ring: r2, nodeName: 'node-b', listen: '127.0.0.1:0' });
  try {
    const lines = await observe(
      '--server',
      `${server.address},${s2.address}`,
      '--since',
      '2025-11-28T12:00:00Z',
      '--until',
      '2025-11-28T12:00:00.250Z',
    );
    assert.deepEqual(
      lines.map((l) =>
        l
          .match(/^.{19} \[(node-\w)\]: \S+:(\d+)/)
          ?.slice(1)
          .join(' '),
      ),
      ['node-a 1000', 'node-b 4000', 'node-a 1001', 'node-a 1002'],
    );
    const last = await observe(
      '--server',
      server.address,
      '--server',
      s2.address,
      '--last',
      '2',
      '--to-port',
      '80',
      '--until',
      '2025-11-28T12:00:00.990Z',
    );
    assert.deepEqual(
      last.map((l) => l.match(/:(\d+) \(ID:300\)/)?.[1]),
      ['1009', '4001'],
    );
    const status = await observe('status', '--server', `${server.address},${s2.address}`);
    assert.match(status.join('\n'), /Connected Nodes: 2\/2/);
  } finally {
    await s2.stop();
  }
});

test('cilium-ts observe: an unreachable agent is reported, the command fails only if all are', async () => {
  await assert.rejects(
    run(cli, ['observe', '--server', '127.0.0.1:1'], { env: { ...process.env, LOG_LEVEL: 'error' } }),
    (e: { code: number; stderr: string }) => e.code === 1 && /127\.0\.0\.1:1/.test(e.stderr),
  );
  const lines = await observe('--server', `127.0.0.1:1,${server.address}`, '--last', '1');
  assert.equal(lines.length, 1);
});
