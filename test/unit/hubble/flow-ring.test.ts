// The flow ring: fixed capacity, oldest flows overwritten, counters for what was seen and lost,
// and followers that read behind the writer without slowing it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowRing, type FollowEvent } from '../../../src/hubble/flow-ring.ts';
import { flow } from './fixtures.ts';

const ports = (r: FlowRing) => [...r.oldestFirst()].map(({ flow: f }) => f.l4?.TCP?.source_port);

test('holds the last `capacity` flows and counts the ones overwritten', () => {
  const r = new FlowRing(4);
  assert.deepEqual(r.stats(), {
    capacity: 4,
    size: 0,
    seen: 0,
    overwritten: 0,
    lostKernel: 0,
    lostFollowers: 0,
    followers: 0,
  });
  for (let i = 1; i <= 3; i++) r.push(flow({ sport: i }));
  assert.deepEqual(ports(r), [1, 2, 3]);
  for (let i = 4; i <= 10; i++) r.push(flow({ sport: i }));
  assert.deepEqual(ports(r), [7, 8, 9, 10]);
  assert.deepEqual(
    [...r.newestFirst()].map(({ flow: f }) => f.l4?.TCP?.source_port),
    [10, 9, 8, 7],
  );
  const s = r.stats();
  assert.equal(s.size, 4);
  assert.equal(s.seen, 10);
  assert.equal(s.overwritten, 6);
  assert.equal(r.oldestSeq, 6);
  assert.equal(r.at(5), undefined, 'an overwritten position reads as gone');
  assert.equal(r.at(6)?.l4?.TCP?.source_port, 7);
  assert.equal(r.at(10), undefined, 'a future position reads as gone');
});

test('rejects a capacity that is not a positive integer', () => {
  assert.throws(() => new FlowRing(0), /positive integer/);
  assert.throws(() => new FlowRing(2.5), /positive integer/);
});

test('recordLost counts what the kernel ring dropped and ignores non-positive numbers', () => {
  const r = new FlowRing(8);
  r.recordLost(5);
  r.recordLost(0);
  r.recordLost(-3);
  r.recordLost(2, 1);
  assert.equal(r.stats().lostKernel, 7);
});

async function take(it: AsyncGenerator<FollowEvent, void, undefined>, n: number): Promise<FollowEvent[]> {
  const out: FollowEvent[] = [];
  while (out.length < n) {
    const { value, done } = await it.next();
    if (done) break;
    out.push(value);
  }
  return out;
}

test('a follower gets flows pushed after it started, in order, and leaves when aborted', async () => {
  const r = new FlowRing(16);
  r.push(flow({ sport: 1 }));
  const ac = new AbortController();
  const it = r.follow({ signal: ac.signal });
  const got = take(it, 3);
  await new Promise((res) => setImmediate(res));
  assert.equal(r.stats().followers, 1);
  for (let i = 2; i <= 4; i++) r.push(flow({ sport: i }));
  const evs = await got;
  assert.deepEqual(
    evs.map((e) => ('flow' in e ? e.flow.l4?.TCP?.source_port : 'lost')),
    [2, 3, 4],
  );
  const waiting = it.next();
  ac.abort();
  assert.deepEqual(await waiting, { value: undefined, done: true });
  assert.equal(r.stats().followers, 0);
});

test('a follower can start from an earlier position (history, then live)', async () => {
  const r = new FlowRing(16);
  for (let i = 1; i <= 3; i++) r.push(flow({ sport: i }));
  const it = r.follow({ fromSeq: 1 });
  const got = take(it, 3);
  setImmediate(() => r.push(flow({ sport: 4 })));
  assert.deepEqual(
    (await got).map((e) => ('flow' in e ? e.flow.l4?.TCP?.source_port : 'lost')),
    [2, 3, 4],
  );
  await it.return(undefined);
});

test('the producer never waits: a follower that lags more than the capacity is told how many it lost', async () => {
  const r = new FlowRing(4);
  const it = r.follow();
  const first = it.next(); // parks the follower
  for (let i = 1; i <= 10; i++) r.push(flow({ sport: i })); // 10 pushes while the reader sleeps
  const evs = [(await first).value as FollowEvent, ...(await take(it, 4))];
  assert.deepEqual(evs[0], {
    lost: { ...(evs[0] as { lost: object }).lost, source: 'HUBBLE_RING_BUFFER', num_events_lost: 6 },
  });
  assert.deepEqual(
    evs.slice(1).map((e) => ('flow' in e ? e.flow.l4?.TCP?.source_port : 'lost')),
    [7, 8, 9, 10],
  );
  assert.equal(r.stats().lostFollowers, 6);
  await it.return(undefined);
});

test('kernel losses reach followers as PERF_EVENT_RING_BUFFER lost events', async () => {
  const r = new FlowRing(4);
  const it = r.follow();
  const next = it.next();
  r.recordLost(12, 1);
  const ev = (await next).value as FollowEvent;
  assert.ok('lost' in ev);
  assert.equal(ev.lost.source, 'PERF_EVENT_RING_BUFFER');
  assert.equal(ev.lost.num_events_lost, 12);
  assert.deepEqual(ev.lost.cpu, { value: 1 });
  await it.return(undefined);
});

test('pushing 200k flows with two parked followers stays O(1) per flow', () => {
  const r = new FlowRing(4096);
  const its = [r.follow(), r.follow()];
  void its.map((it) => it.next());
  const f = flow();
  const t0 = performance.now();
  for (let i = 0; i < 200_000; i++) r.push(f);
  const ms = performance.now() - t0;
  assert.equal(r.stats().seen, 200_000);
  assert.ok(ms < 1000, `200k pushes took ${ms.toFixed(0)} ms`);
  for (const it of its) void it.return(undefined);
});
