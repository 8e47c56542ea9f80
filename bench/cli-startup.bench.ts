// How long a person waits for `cilium-ts status`, `endpoint list` and `policy get` (issue 11 asks
// under 0.3 s wall), next to a bare `node -e 0`: every command is run as a user runs it
// (bin/cilium-ts, a fresh process each time) against a fake agent socket served by this process
// (bench/cli-startup-agent.ts), samples interleaved so machine noise spreads over all rows. Also
// shown: the bash wrapper's share (main.ts run directly), the compile cache's share (cache off),
// and how many of the project's modules each command loads (a load hook, in a separate run).
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/lib/paths.ts';
import { startFakeAgent } from './cli-startup-agent.ts';

const SAMPLES = Number(process.env.BENCH_CLI_SAMPLES ?? 15);
const TARGET_MS = 300;

const node = process.execPath;
const cli = join(repoRoot, 'bin', 'cilium-ts');
const main = join(repoRoot, 'src', 'cli', 'main.ts');
const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-cli-bench-'));
const socket = join(dir, 'agent.sock');
// A cache of its own, warmed by the first run of each command: what a user's second run sees.
const cache = join(dir, 'cache');
const env: NodeJS.ProcessEnv = { ...process.env, CILIUM_TS_AGENT_SOCKET: socket, CILIUM_TS_CACHE: cache };
delete env.NODE_COMPILE_CACHE;

interface Row {
  name: string;
  cmd: string;
  args: string[];
  env?: Record<string, string>;
  /** one of the commands the 0.3 s target is about */
  target?: boolean;
  /** what its output must contain, so a broken command is not timed as a fast one */
  expect?: RegExp;
}

const rows: Row[] = [
  { name: 'node -e 0', cmd: node, args: ['-e', '0'] },
  { name: 'cilium-ts --help', cmd: cli, args: ['--help'], expect: /usage: cilium-ts/ },
  { name: 'cilium-ts status', cmd: cli, args: ['status'], target: true, expect: /Hubble:\s+Ok\s+Current\/Max Flows/ },
  { name: 'cilium-ts endpoint list', cmd: cli, args: ['endpoint', 'list'], target: true, expect: /k8s:app=db/ },
  { name: 'cilium-ts policy get', cmd: cli, args: ['policy', 'get'], target: true, expect: /db-from-web/ },
  {
    name: 'status: node main.ts, no bash wrapper',
    cmd: node,
    args: ['--disable-warning=ExperimentalWarning', main, 'status'],
    // the wrapper's cache, so that only the wrapper differs
    env: { NODE_COMPILE_CACHE: join(cache, 'node-compile-cache') },
  },
  { name: 'status: compile cache off', cmd: cli, args: ['status'], env: { NODE_DISABLE_COMPILE_CACHE: '1' } },
];

interface Run {
  ms: number;
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(r: Row, extraArgs: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const args = r.cmd === node ? [...extraArgs, ...r.args] : r.args;
    // the wrapper takes no node flags: they go through NODE_OPTIONS
    const viaEnv = r.cmd === cli && extraArgs.length ? { NODE_OPTIONS: extraArgs.join(' ') } : {};
    const envs = { ...env, ...r.env, ...viaEnv };
    const child = spawn(r.cmd, args, { env: envs, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '',
      stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ ms: performance.now() - t0, code, stdout, stderr }));
  });
}

// Counts the project's modules (file: URLs) a command loads and their source bytes.
const counter = `data:text/javascript,${encodeURIComponent(`
import { registerHooks } from 'node:module';
import { writeSync } from 'node:fs';
let n = 0, bytes = 0;
registerHooks({ load(url, context, next) {
  const r = next(url, context);
  if (url.startsWith('file:') && !url.includes('/node_modules/')) { n++; bytes += r.source?.length ?? 0; }
  return r;
} });
process.on('exit', () => writeSync(2, '\\nMODULES ' + n + ' ' + bytes + '\\n'));
`)}`;

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((s.length - 1) * p))]!;
};

const agent = await startFakeAgent(socket);
try {
  const times = new Map<Row, number[]>(rows.map((r) => [r, []]));
  const modules = new Map<Row, string>();
  for (const r of rows) {
    const first = await run(r); // warms the compile cache and checks the command works
    if (first.code !== 0 || (r.expect && !r.expect.test(first.stdout))) {
      throw new Error(`${r.name} failed (exit ${first.code}):\n${first.stdout}${first.stderr}`);
    }
    if (r.cmd !== node || r.args[0] !== '-e') {
      const counted = await run(r, [`--import=${counter}`]);
      const m = /MODULES (\d+) (\d+)/.exec(counted.stderr);
      modules.set(r, m ? `${m[1]} (${(Number(m[2]) / 1024).toFixed(0)} KiB)` : '?');
    }
  }
  for (let i = 0; i < SAMPLES; i++) for (const r of rows) times.get(r)!.push((await run(r)).ms);

  const base = percentile(times.get(rows[0]!)!, 0.5);
  const table = rows.map((r) => {
    const t = times.get(r)!;
    const p50 = percentile(t, 0.5);
    return [
      r.name,
      `${p50.toFixed(0)} ms`,
      `${Math.min(...t).toFixed(0)} ms`,
      `${(p50 / base).toFixed(1)}×`,
      modules.get(r) ?? '-',
      r.target ? (p50 < TARGET_MS ? 'yes' : 'NO') : '',
    ];
  });
  const head = ['command', 'p50', 'min', 'vs node -e 0', 'project modules', `< ${TARGET_MS} ms`];
  const w = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
  console.log(`\nCLI start-up, wall time of a fresh process, ${SAMPLES} samples each (fake agent socket)`);
  for (const row of [head, ...table]) {
    console.log(`  ${row.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('   ')}`.trimEnd());
  }
} finally {
  await agent.close();
  rmSync(dir, { recursive: true, force: true });
}
