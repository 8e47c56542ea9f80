// The endpoint regeneration queue: bursts coalesce, a failure is retried with backoff without
// holding up the others, and idle() does not wait for an endpoint that keeps failing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RegenerationQueue } from '../../../src/agent/regeneration-queue.ts';

test('a burst of changes regenerates each endpoint once', async () => {
  const runs: number[] = [];
  const q = new RegenerationQueue({ regenerate: async (id) => void runs.push(id) });
  for (let i = 0; i < 50; i++) q.add([1, 2, 3]);
  q.add([2]);
  await q.idle();
  assert.deepEqual(runs.sort(), [1, 2, 3]);
  await q.stop();
});

test('a change during a regeneration runs that endpoint again afterwards', async () => {
  const runs: number[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const q = new RegenerationQueue({
    regenerate: async (id) => {
      runs.push(id);
      if (runs.length === 1) await gate;
    },
  });
  q.add([7]);
  await new Promise((r) => setImmediate(r));
  q.add([7]);
  await new Promise((r) => setImmediate(r));
  release();
  await q.idle();
  assert.deepEqual(runs, [7, 7]);
  await q.stop();
});

test('a failed regeneration is retried with backoff until it succeeds; the others are not held up', async () => {
  const attempts: number[] = [];
  const failures: Array<{ id: number; attempts: number; retryInMs: number }> = [];
  const done: number[] = [];
  let succeeded!: () => void;
  const recovered = new Promise<void>((r) => (succeeded = r));
  const q = new RegenerationQueue({
    baseDelayMs: 10,
    concurrency: 1,
    regenerate: async (id) => {
      if (id === 1) {
        attempts.push(performance.now());
        if (attempts.length < 4) throw new Error('apiserver unavailable');
        succeeded();
      }
      done.push(id);
    },
    onFailure: (id, _err, retryInMs, n) => failures.push({ id, attempts: n, retryInMs }),
  });
  q.add([1, 2, 3]);
  await recovered;
  await q.idle();
  assert.deepEqual(done.sort(), [1, 2, 3]);
  assert.deepEqual(
    failures.map((f) => [f.id, f.attempts, f.retryInMs]),
    [
      [1, 1, 10],
      [1, 2, 20],
      [1, 3, 40],
    ],
  );
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
  assert.ok(gaps[0]! >= 9 && gaps[1]! >= 19 && gaps[2]! >= 39, `gaps ${gaps.map((g) => g.toFixed(0)).join(', ')}`);
  assert.equal(q.failures(1), 0, 'the success resets the failure count');
  await q.stop();
});

test('idle() resolves while a failing endpoint waits for its retry; a new change retries it at once', async () => {
  let fail = true;
  const runs: number[] = [];
  const q = new RegenerationQueue({
    baseDelayMs: 60_000,
    regenerate: async (id) => {
      runs.push(id);
      if (fail) throw new Error('map full');
    },
  });
  q.add([5]);
  await q.idle();
  assert.deepEqual(runs, [5]);
  assert.equal(q.failures(5), 1);
  fail = false;
  q.add([5]); // new information: no need to sit out the backoff
  await q.idle();
  assert.deepEqual(runs, [5, 5]);
  assert.equal(q.failures(5), 0);
  await q.stop();
});

test('after stop() nothing runs and idle() resolves', async () => {
  const runs: number[] = [];
  const q = new RegenerationQueue({ regenerate: async (id) => void runs.push(id) });
  await q.stop();
  q.add([1]);
  await q.idle();
  assert.deepEqual(runs, []);
});
