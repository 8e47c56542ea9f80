// The per-key work queue: a failing key is retried with backoff and never holds up the others;
// a key is never run twice at once; adds while queued collapse into one run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from '../../src/lib/workqueue.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('one failing key does not block the others, and is retried with growing delays', async () => {
  const done: string[] = [];
  const badAttempts: number[] = [];
  const q = new WorkQueue(
    async (key) => {
      if (key === 'bad') {
        badAttempts.push(performance.now());
        throw new Error('apiserver said no');
      }
      await sleep(5);
      done.push(key);
    },
    { concurrency: 1, baseDelayMs: 20, maxDelayMs: 80 },
  );
  q.add('bad');
  for (let i = 0; i < 20; i++) q.add(`good-${i}`);
  await sleep(400);
  assert.equal(done.length, 20, 'the good keys were held up by the failing one');
  assert.ok(badAttempts.length >= 4, `only ${badAttempts.length} attempts`);
  const gaps = badAttempts.slice(1).map((t, i) => t - badAttempts[i]!);
  // 20, 40, 80, 80 …: doubling up to the cap (timers may fire a little late, never early)
  assert.ok(gaps[0]! >= 19 && gaps[1]! >= 39 && gaps[2]! >= 79, `gaps ${gaps.map((g) => g.toFixed(0))}`);
  assert.ok(q.failures('bad') >= 4);
  await q.stop();
});

test('a key that recovers is forgotten: its next failure starts from the base delay again', async () => {
  let fail = 2;
  const q = new WorkQueue(
    async () => {
      if (fail-- > 0) throw new Error('not yet');
    },
    { baseDelayMs: 10 },
  );
  q.add('k');
  await sleep(100);
  await q.idle();
  assert.equal(q.failures('k'), 0);
  await q.stop();
});

test('adds of a queued key collapse; an add during processing runs it once more afterwards, never concurrently', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  const q = new WorkQueue(
    async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      runs++;
      await sleep(30);
      running--;
    },
    { concurrency: 8 },
  );
  q.add('same');
  q.add('same'); // collapses: 'same' is queued... or already picked up; either way no parallel run
  await sleep(5);
  q.add('same'); // during processing: marks it dirty
  q.add('same');
  await sleep(10);
  await q.idle();
  assert.equal(maxRunning, 1);
  assert.equal(runs, 2);
  await q.stop();
});

test('addAfter debounces a burst into one run; stop() drops pending work', async () => {
  let runs = 0;
  const q = new WorkQueue(async () => {
    runs++;
  });
  for (let i = 0; i < 50; i++) q.addAfter('allocate', 30);
  await sleep(200);
  assert.equal(runs, 1);
  q.addAfter('allocate', 50);
  await q.stop();
  await sleep(150);
  assert.equal(runs, 1);
  q.add('allocate');
  await sleep(10);
  assert.equal(runs, 1, 'a stopped queue ran work');
});

test('a slow key does not stop other workers', async () => {
  const finished: string[] = [];
  const q = new WorkQueue(
    async (key) => {
      await sleep(key === 'slow' ? 400 : 5);
      finished.push(key);
    },
    { concurrency: 2 },
  );
  q.add('slow');
  for (let i = 0; i < 5; i++) q.add(`fast-${i}`);
  await sleep(150);
  assert.deepEqual(finished, ['fast-0', 'fast-1', 'fast-2', 'fast-3', 'fast-4']);
  await q.idle();
  assert.equal(finished.at(-1), 'slow');
  await q.stop();
});

test('addAfter keeps the earliest due time of a key', async () => {
  const ran: number[] = [];
  const t0 = performance.now();
  const q = new WorkQueue(async () => {
    ran.push(performance.now() - t0);
  });
  q.addAfter('k', 200);
  q.addAfter('k', 20); // sooner: replaces
  q.addAfter('k', 500); // later: ignored
  await sleep(300);
  assert.equal(ran.length, 1);
  assert.ok(ran[0]! < 150, `ran after ${ran[0]} ms`);
  await q.stop();
});
