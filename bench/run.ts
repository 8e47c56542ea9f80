// `make bench`: every bench/*.bench.ts, one after another, each printing its own table.
import { readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync } from 'node:child_process';

const dir = dirname(fileURLToPath(import.meta.url));
const only = process.argv.slice(2);
let failed = 0;
for (const f of readdirSync(dir)
  .filter((n) => n.endsWith('.bench.ts'))
  .sort()) {
  if (only.length && !only.some((o) => f.includes(o))) continue;
  console.log(`\n=== ${f}`);
  // A benchmark's logs (stderr) would bury its table: shown only when it fails.
  const r = spawnSync(process.execPath, ['--disable-warning=ExperimentalWarning', join(dir, f)], {
    stdio: ['inherit', 'inherit', 'pipe'],
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.status !== 0) {
    failed++;
    console.log(`${f} failed (exit ${r.status}):\n${r.stderr.toString().split('\n').slice(-30).join('\n')}`);
  }
}
process.exitCode = failed ? 1 : 0;
