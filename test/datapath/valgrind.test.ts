// The addon is memory-safe: every entry point, exercised under valgrind's memcheck, with no invalid
// access, no use of uninitialised memory and no definite leak (test/datapath/valgrind/run.sh).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';
import { requireDatapath } from './env.ts';

requireDatapath();

test('every addon entry point under valgrind: no memory errors, no leaks', () => {
  const r = spawnSync('bash', [join(repoRoot, 'test', 'datapath', 'valgrind', 'run.sh')], {
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, CILIUM_TS_NODE: process.execPath },
  });
  assert.equal(r.error, undefined, String(r.error));
  // run.sh makes valgrind exit 99 on any error it reports
  assert.equal(
    r.status,
    0,
    `valgrind reported problems (exit ${r.status}):\n${(r.stderr + r.stdout).split('\n').slice(-60).join('\n')}`,
  );
  assert.match(r.stdout, /all entry points called/, `the exercise did not run to its end:\n${r.stdout}`);
});
