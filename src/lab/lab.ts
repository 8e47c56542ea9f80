// `cilium-ts lab`: the local cluster — a real control plane with our CRDs and sample objects —
// in the foreground until Ctrl-C, or detached in the background until `lab down`.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from './control-plane.ts';
import { runWebhook, type RunningWebhook } from '../webhooks/webhook.ts';
import { runOperator, configFrom, type RunningOperator } from '../operator.ts';
import { Agent } from '../agent/agent.ts';
import { addPod, deleteAllPods, labNodeName, labPodOptions, listPods } from './pods.ts';
import { formatMatrix, probeMatrix } from './probe.ts';
import { compactLine } from '../hubble/printer.ts';
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
/** The lab's datapath pins: its own, so a lab never touches a real agent's maps. */
export const LAB_PIN_ROOT = '/sys/fs/bpf/cilium-ts-lab';

async function applySamples(cp: ControlPlane): Promise<void> {
  const samples = await cp.kubectl(['apply', '--server-side', '--field-manager=cilium-ts-lab', '-k', join(repoRoot, 'config', 'samples')]);
  if (samples.code !== 0) throw new Error(`applying config/samples failed: ${samples.stderr}`);
  process.stdout.write(samples.stdout);
}

/**
 * `make run`'s demo: three pods in the demo namespace, the probe matrix on the backend's port
 * before any policy, then config/samples applied (real Cilium manifests) and the matrix again.
 */
async function demo(cp: ControlPlane, agent: Agent): Promise<void> {
  const o = labPodOptions();
  const ns = await cp.kubectl(['apply', '-f', join(repoRoot, 'config', 'samples', 'namespace.yaml')]);
  if (ns.code !== 0) throw new Error(`creating the demo namespace failed: ${ns.stderr}`);
  const port = { port: 8080, protocol: 'TCP' as const };
  await Promise.all([
    addPod(o, 'demo', 'frontend', { app: 'frontend' }, [port]),
    addPod(o, 'demo', 'backend', { app: 'backend' }, [port]),
    addPod(o, 'demo', 'intruder', { app: 'intruder' }, [port]),
  ]);
  const matrix = async (title: string) => {
    const m = await probeMatrix(listPods(o).filter((x) => x.namespace === 'demo'), 8080, 'TCP', 800);
    process.stdout.write(`\n${title}  (rows connect to columns on TCP 8080; . allowed, X denied)\n${formatMatrix(m)}\n`);
  };
  await matrix('Three pods, no policy yet: everyone reaches everyone');
  await applySamples(cp);
  const deadline = Date.now() + 15_000;
  while (!agent.policyRevisions.has('CiliumNetworkPolicy/demo/frontend-to-backend') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await agent.idle();
  await matrix('config/samples applied: only the frontend reaches the backend, whose egress is limited too');
  // What Hubble would show, plus the rule that decided (cilium-ts observe --verdict DROPPED).
  agent.flows?.drain();
  const drops = [...(agent.flows?.ring.oldestFirst() ?? [])].map((x) => x.flow)
    .filter((f) => f.verdict === 'DROPPED' && f.source?.namespace === 'demo' && f.l4?.TCP?.destination_port === 8080);
  const seen = new Set<string>();
  const lines = drops.map((f) => compactLine({ flow: f })).filter((l) => {
    const key = l.replace(/^\S+ +\S+ +\S+ +/, '').replace(/:\d+ \(/, ' (');
    return seen.has(key) ? false : (seen.add(key), true);
  });
  process.stdout.write(`\nDropped flows and the rule that decided (cilium-ts observe --verdict DROPPED):\n${lines.join('\n')}\n`);
}

export async function bootLab(p: LabPaths, opts: { demo?: boolean } = {}): Promise<{ cp: ControlPlane; shutdown: () => Promise<void> }> {
  const other = runningPid(p);
  if (other) throw new Error(`a lab is already running (pid ${other}, ${p.dir}); stop it with 'cilium-ts lab down'`);
  // Leftovers of a lab that died without cleaning up go; the detached boot log stays.
  mkdirSync(p.dir, { recursive: true });
  await deleteAllPods(labPodOptions()).catch(() => undefined);
  rmSync(LAB_PIN_ROOT, { recursive: true, force: true });
  for (const entry of readdirSync(p.dir)) if (join(p.dir, entry) !== p.logFile) rmSync(join(p.dir, entry), { recursive: true, force: true });
  writeFileSync(p.pidFile, `${process.pid}\n`);
  let cp: ControlPlane | undefined;
  let webhook: RunningWebhook | undefined;
  let operator: RunningOperator | undefined;
  let agent: Agent | undefined;
  const shutdown = async () => {
    log.info('shutting down');
    // Pods first, while the agent still answers their CNI DEL; then the agent and its pins.
    await deleteAllPods(labPodOptions()).catch((e: unknown) => log.warn('removing lab pods failed', { error: String(e) }));
    await agent?.stop();
    rmSync(LAB_PIN_ROOT, { recursive: true, force: true });
    await operator?.stop();
    await webhook?.stop();
    await cp?.stop();
    rmSync(p.dir, { recursive: true, force: true });
    log.info('lab stopped, state removed', { dir: p.dir });
  };
  try {
    cp = await startControlPlane({ dir: p.dir, keepDir: true, controllerManager: true, crds: [join(repoRoot, 'crds')] });
    // The admission webhook, registered by URL: from here on every policy is validated, samples too.
    webhook = await runWebhook({ kc: loadKubeConfig(cp.kubeconfig), namespace: 'kube-system', host: '127.0.0.1', port: 0, registerUrlHost: '127.0.0.1' });
    // The operator, in-process, configured as config/operator/configmap.yaml configures it in a cluster.
    operator = await runOperator({
      config: configFrom({ kubeconfig: cp.kubeconfig, 'health-port': '0', 'cluster-pool-ipv4-cidr': '10.0.0.0/8', 'cluster-pool-ipv4-mask-size': '24' }),
    });
    // The node: there is no kubelet, so the lab registers it; the agent on it serves the CNI
    // plugin on the lab's socket and waits for the operator to give its CiliumNode a pod CIDR.
    const node = labNodeName();
    const reg = await cp.kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Node\nmetadata: {name: ${node}, labels: {kubernetes.io/hostname: ${node}}}\n`);
    if (reg.code !== 0) throw new Error(`registering the lab node failed: ${reg.stderr}`);
    agent = await Agent.start({
      kc: loadKubeConfig(cp.kubeconfig), nodeName: node, stateDir: join(p.dir, 'agent'), socketPath: labPodOptions().cniSocket,
      pinRoot: LAB_PIN_ROOT, healthPort: 0, apiSocket: join(p.dir, 'agent.sock'), hubbleListen: '127.0.0.1:0', log: logger('agent'),
    });
    // `cilium-ts observe` finds the lab's observer here (one address per agent).
    writeFileSync(join(p.dir, 'hubble.addr'), `${agent.flows?.server?.address ?? ''}\n`);
    await agent.ready(30_000);
    if (opts.demo) await demo(cp, agent);
    else await applySamples(cp);
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
  const { cp, shutdown } = await bootLab(p, { demo: !opts.quiet });
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
