// `cilium-ts lab`: the local cluster — a real control plane with our CRDs and sample objects —
// in the foreground until Ctrl-C, or detached in the background until `lab down`.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { runWebhook, type RunningWebhook } from '../webhooks/webhook.ts';
import { loadKubeConfig } from '../lib/kube.ts';
import { logger } from '../lib/log.ts';
import { repoRoot } from '../lib/paths.ts';

const log = logger('lab');

export interface LabPaths {
  dir: string;
  kubeconfig: string;
  pidFile: string;
  readyFile: string;
  logFile: string;
}

export function labPaths(dir = process.env.CILIUM_TS_LAB_DIR ?? join(repoRoot, '.lab')): LabPaths {
  return {
    dir,
    kubeconfig: join(dir, 'kubeconfig'),
    pidFile: join(dir, 'lab.pid'),
    readyFile: join(dir, 'ready'),
    logFile: join(dir, 'lab.log'),
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function runningPid(p: LabPaths): number | null {
  if (!existsSync(p.pidFile)) return null;
  const pid = Number(readFileSync(p.pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 && alive(pid) ? pid : null;
}

/** Boot the lab and return once it is ready; `shutdown` undoes everything. */
export async function bootLab(p: LabPaths): Promise<{ cp: ControlPlane; shutdown: () => Promise<void> }> {
  const other = runningPid(p);
  if (other) throw new Error(`a lab is already running (pid ${other}, ${p.dir}); stop it with 'cilium-ts lab down'`);
  // Leftovers of a lab that died without cleaning up go; the detached boot log stays.
  mkdirSync(p.dir, { recursive: true });
  for (const entry of readdirSync(p.dir)) if (join(p.dir, entry) !== p.logFile) rmSync(join(p.dir, entry), { recursive: true, force: true });
  writeFileSync(p.pidFile, `${process.pid}\n`);
  let cp: ControlPlane | undefined;
  let webhook: RunningWebhook | undefined;
  const shutdown = async () => {
    log.info('shutting down');
    await webhook?.stop();
    await cp?.stop();
    rmSync(p.dir, { recursive: true, force: true });
    log.info('lab stopped, state removed', { dir: p.dir });
  };
  try {
    cp = await startControlPlane({ dir: p.dir, keepDir: true, controllerManager: true, crds: [join(repoRoot, 'crds')] });
    // The admission webhook, registered by URL: from here on every policy is validated, samples too.
    webhook = await runWebhook({ kc: loadKubeConfig(cp.kubeconfig), namespace: 'kube-system', host: '127.0.0.1', port: 0, registerUrlHost: '127.0.0.1' });
    const samples = await cp.kubectl(['apply', '--server-side', '--field-manager=cilium-ts-lab', '-k', join(repoRoot, 'config', 'samples')]);
    if (samples.code !== 0) throw new Error(`applying config/samples failed: ${samples.stderr}`);
    process.stdout.write(samples.stdout);
    writeFileSync(p.readyFile, new Date().toISOString());
    return { cp, shutdown };
  } catch (err) {
    await shutdown();
    throw err;
  }
}

async function show(cp: ControlPlane, title: string, args: string[]): Promise<void> {
  const r = await cp.kubectl(args);
  process.stdout.write(`\n$ kubectl ${args.join(' ')}   # ${title}\n${r.stdout}${r.stderr}`);
}

export async function labUp(opts: { detach: boolean; quiet?: boolean }): Promise<number> {
  const p = labPaths();
  if (opts.detach) return detach(p);
  const { cp, shutdown } = await bootLab(p);
  if (!opts.quiet) {
    await show(cp, 'our CRDs, generated from crds/schemas', ['get', 'crds']);
    await show(cp, 'sample policies from config/samples', ['get', 'cnp,ccnp', '-A']);
    await show(cp, 'sample LB IP pool', ['get', 'ippools']);
    process.stdout.write(
      `\nThe lab is up. In another shell:\n  export KUBECONFIG=${p.kubeconfig}\n  kubectl get cnp -A\n` +
        `Press Ctrl-C to stop it (state in ${p.dir} is removed).\n`,
    );
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  await shutdown();
  return 0;
}

async function detach(p: LabPaths): Promise<number> {
  const other = runningPid(p);
  if (other) {
    console.error(`a lab is already running (pid ${other}); kubeconfig: ${p.kubeconfig}`);
    return 1;
  }
  mkdirSync(p.dir, { recursive: true });
  const logPath = p.logFile;
  const fd = openSync(logPath, 'w');
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1]!, 'lab', 'up', '--quiet'], {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_FORMAT: 'json' },
  });
  closeSync(fd);
  child.unref();
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + 120_000;
  while (!existsSync(p.readyFile)) {
    if (exited !== null || Date.now() > deadline) {
      console.error(`the lab did not start (see ${logPath}):\n${readFileSync(logPath, 'utf8').split('\n').slice(-20).join('\n')}`);
      if (exited === null) process.kill(child.pid!, 'SIGTERM');
      return 1;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  console.log(p.kubeconfig);
  return 0;
}

export async function labDown(): Promise<number> {
  const p = labPaths();
  const pid = runningPid(p);
  if (!pid) {
    rmSync(p.dir, { recursive: true, force: true });
    console.log('no lab is running');
    return 0;
  }
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + 30_000;
  while (alive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      break;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  rmSync(p.dir, { recursive: true, force: true });
  console.log(`lab stopped (pid ${pid})`);
  return 0;
}
