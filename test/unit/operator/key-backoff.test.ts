// Per-object backoff inside allocation passes: a failing write waits, the others go ahead.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyBackoff, runPassWrites, type PassWrite } from '../../../src/controllers/context.ts';
import winston from 'winston';

test('a failing object is skipped until its doubling delay has passed; successes are forgotten', () => {
  const b = new KeyBackoff(100, 1_000);
  assert.equal(b.failed('Service a/poison', 0), 100);
  assert.equal(b.failed('Service a/poison', 100), 200);
  assert.equal(b.failed('Service a/poison', 300), 400);
  assert.equal(b.ready('Service a/poison', 699), false);
  assert.equal(b.ready('Service a/poison', 700), true);
  assert.equal(b.ready('Service a/fine', 0), true);
  assert.equal(b.nextIn(500), 200);
  for (let i = 0; i < 10; i++) b.failed('Service a/poison', 0);
  assert.equal(b.nextIn(0), 1_000, 'capped');
  b.succeeded('Service a/poison');
  assert.equal(b.nextIn(0), undefined);
});

test('runPassWrites: the poisoned write fails and waits, every other write lands, a retry pass is scheduled', async () => {
  const b = new KeyBackoff(50, 1_000);
  const landed: string[] = [];
  const scheduled: number[] = [];
  const writes: PassWrite[] = ['a', 'b', 'poison', 'c'].map((n) => ({
    what: `Service shop/${n}`,
    run: async () => {
      if (n === 'poison') throw new Error('denied');
      landed.push(n);
    },
  }));
  const log = winston.createLogger({ silent: true });
  await assert.rejects(
    runPassWrites(writes, b, { concurrency: 2, log, schedule: (ms) => scheduled.push(ms) }),
    /1 of 4 writes failed \(first: Service shop\/poison: denied\)/,
  );
  assert.deepEqual(landed.sort(), ['a', 'b', 'c']);
  assert.equal(scheduled.length, 1);
  assert.ok(scheduled[0]! <= 50);
  // The next pass right away skips the poisoned object (still in backoff) and fails nothing.
  landed.length = 0;
  await runPassWrites(writes, b, { concurrency: 2, log, schedule: (ms) => scheduled.push(ms) });
  assert.deepEqual(landed.sort(), ['a', 'b', 'c']);
  // An object that no longer needs a write is forgotten.
  await runPassWrites(
    writes.filter((w) => !w.what.endsWith('poison')),
    b,
    { concurrency: 2, log, schedule: () => {} },
  );
  assert.equal(b.nextIn(), undefined);
});
