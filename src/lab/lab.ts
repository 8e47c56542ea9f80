// `cilium-ts lab`: the local cluster — a real control plane with our CRDs and sample objects —
// in the foreground until Ctrl-C, or detached in the background until `lab down`.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join, relative } from 'node:path';
import { installCrds, startControlPlane, type ControlPlane } from './control-plane.ts';
import { runWebhook, type RunningWebhook } from '../webhooks/webhook.ts';
import { runOperator, configFrom, type RunningOperator } from '../operator.ts';
import { Agent } from '../agent/agent.ts';
import { addPod, deleteAllPods, labPodOptions, listPods, podOptionsOn } from './pods.ts';
import { labNodeName, registerLabNode } from './node.ts';
import { Progress } from './progress.ts';
import { formatMatrix, probeMatrix } from './probe.ts';
import { compactLine } from '../hubble/printer.ts';
import { loadKubeConfig } from '../lib/kube.ts';
import { logger, logToFiles } from '../lib/log.ts';
import { repoRoot } from '../lib/paths.ts';
import { LAB_CGROUP, LAB_FORWARDED_POOL, OUTSIDE_HOST_IFNAME, labPaths, type LabPaths } from './paths.ts';
import { createOutside, removeOutside, type OutsideHost } from './outside.ts';
import { startClusterDns, type ClusterDns } from './dns.ts';
import { ensureLabCgroups, removeLabCgroups } from './cgroup.ts';
import { detachSocketLb } from '../datapath/socket-lb.ts';
import type { Relay } from '../hubble/relay/relay-server.ts';
import { SERVICE_CIDR_V4 } from './control-plane.ts';
import { podCidrInfo } from '../agent/endpoint-state.ts';
import type { LabNodeRecord } from './nodes-file.ts';
import { symlinkSync } from 'node:fs';
import type { Server } from 'node:net';
import { APISERVER_RELAY_PORT, relayKubeconfig, startRelay as startApiRelay } from './dns.ts';
import {
  createUnderlay,
  existingNodeNetns,
  NODE_HUBBLE_PORT,
  nodeRecord,
  nodeSpec,
  removeMultiNode,
  routePodCidrs,
  startAgentProcess,
  stopAgentProcess,
  waitAgentReady,
  type RoutingMode,
} from './multi-node.ts';
import { UNDERLAY_ADDR, UNDERLAY_BRIDGE } from './paths.ts';

const log = logger('lab');

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

/** The lab's datapath pins: its own, so a lab never touches a real agent's maps. */
export const LAB_PIN_ROOT = '/sys/fs/bpf/cilium-ts-lab';
/** The operator's cluster pool: every node's pod CIDR is carved from it. */
export const LAB_CLUSTER_POOL = LAB_FORWARDED_POOL;

/** LoadBalancer ranges of config/samples' IP pools, which the outside host routes via the node. */
function sampleLbRanges(): string[] {
  try {
    const text = readFileSync(join(repoRoot, 'config', 'samples', 'lb-pool.yaml'), 'utf8');
    const cidrs = [...text.matchAll(/^\s*-?\s*cidr:\s*["']?([0-9.]+\/\d+)/gm)].map((m) => m[1]!);
    // start/stop blocks: every address of the range, as /32s (the samples' ranges are a few addresses).
    const hosts: string[] = [];
    for (const m of text.matchAll(/start:\s*["']?([0-9.]+)["']?\s*\n\s*stop:\s*["']?([0-9.]+)/g)) {
      const toNum = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
      const toAddr = (n: number) => [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
      for (let n = toNum(m[1]!); n <= toNum(m[2]!) && hosts.length < 256; n++) hosts.push(`${toAddr(n)}/32`);
    }
    return [...cidrs, ...hosts];
  } catch {
    return [];
  }
}

/** config/samples, applied server-side as `kubectl apply -k` (kustomize is kubectl's); returns kubectl's lines. */
async function applySamples(cp: ControlPlane): Promise<string> {
  const samples = await cp.kubectl([
    'apply',
    '--server-side',
    '--field-manager=cilium-ts-lab',
    '-k',
    join(repoRoot, 'config', 'samples'),
  ]);
  if (samples.code !== 0) throw new Error(`applying config/samples failed: ${samples.stderr}`);
  return samples.stdout;
}

function indent(text: string): string {
  return (
    text
      .trimEnd()
      .split('\n')
      .map((l) => `    ${l}`)
      .join('\n') + '\n'
  );
}

/** Waits until `cond` holds, polling: the agent's policy revisions are in-process state, not events. */
async function until(what: string, cond: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * `make run`'s demo: three pods in the demo namespace, the probe matrix on the backend's port
 * before any policy, then config/samples applied (real Cilium manifests) and the matrix again.
 */
async function demo(cp: ControlPlane, on: Agent | MultiNodeLab, progress: Progress): Promise<void> {
  const multi = on instanceof Agent ? undefined : on;
  const o = labPodOptions();
  const port = { port: 8080, protocol: 'TCP' as const };
  const names = ['frontend', 'backend', 'intruder'];
  await progress.step(`3 pods in namespace demo (${names.join(', ')})`, async () => {
    const ns = await cp.kubectl(['apply', '-f', join(repoRoot, 'config', 'samples', 'namespace.yaml')]);
    if (ns.code !== 0) throw new Error(`creating the demo namespace failed: ${ns.stderr}`);
    // Across nodes: each pod on the next node, so the matrix crosses them.
    if (multi) for (const n of names) await addPod(podOptionsOn(undefined, o), 'demo', n, { app: n }, [port]);
    else await Promise.all(names.map((n) => addPod(o, 'demo', n, { app: n }, [port])));
  });
  const matrix = async (title: string) => {
    const m = await probeMatrix(
      listPods(o).filter((x) => x.namespace === 'demo'),
      8080,
      'TCP',
      800,
    );
    progress.say(`\n${title}  (rows connect to columns on TCP 8080; . allowed, X denied)\n${formatMatrix(m)}`);
  };
  await matrix('Three pods, no policy yet: everyone reaches everyone');
  const applied = await progress.step('config/samples applied (server-side)', () => applySamples(cp));
  progress.say(indent(applied));
  await progress.step('policies in the kernel', async () => {
    if (multi) return multi.policyTaken('CiliumNetworkPolicy', 'demo', 'frontend-to-backend', 15_000);
    const agent = on as Agent;
    await until(
      'the agent to take CiliumNetworkPolicy demo/frontend-to-backend',
      () => agent.policyRevisions.has('CiliumNetworkPolicy/demo/frontend-to-backend'),
      15_000,
    );
    await agent.idle();
  });
  await matrix('config/samples applied: only the frontend reaches the backend, whose egress is limited too');
  if (multi) {
    progress.say('\nDropped flows of every node: cilium-ts observe --namespace demo --verdict DROPPED\n');
    return;
  }
  const agent = on as Agent;
  // What Hubble would show, plus the rule that decided (cilium-ts observe --verdict DROPPED).
  agent.flows?.drain();
  const drops = [...(agent.flows?.ring.oldestFirst() ?? [])]
    .map((x) => x.flow)
    .filter((f) => f.verdict === 'DROPPED' && f.source?.namespace === 'demo' && f.l4?.TCP?.destination_port === 8080);
  const seen = new Set<string>();
  const lines = drops
    .map((f) => compactLine({ flow: f }))
    .filter((l) => {
      const key = l.replace(/^\S+ +\S+ +\S+ +/, '').replace(/:\d+ \(/, ' (');
      return seen.has(key) ? false : (seen.add(key), true);
    });
  progress.say(
    `\nDropped flows and the rule that decided (cilium-ts observe --verdict DROPPED):\n${lines.join('\n')}\n`,
  );
}

export interface RunningLab {
  cp: ControlPlane;
  outside: OutsideHost;
  /** undefined with --no-dns */
  dns: ClusterDns | undefined;
  /** the agent's Hubble observer, host:port */
  hubble: string;
  /** Hubble Relay (the whole cluster's flows), host:port */
  relay: string;
  nodeName: string;
  nodeIP: string;
  /** every node (one, the machine, unless --nodes N ≥ 2) */
  nodes: LabNodeRecord[];
  shutdown: () => Promise<void>;
}

export interface LabUpOptions {
  /** nodes (default 1: the machine itself, with the agent in-process) */
  nodes?: number;
  routingMode?: RoutingMode;
  clusterPoolCidr?: string;
  clusterPoolMaskSize?: number;
}

/** Boot the lab and return once it is ready; `shutdown` undoes everything. */
/** What every lab runs in the root namespace, whatever its nodes: filled as each piece starts. */
interface LabCore {
  cp?: ControlPlane;
  webhook?: RunningWebhook;
  operator?: RunningOperator;
}

/** Refuses a second lab, clears a crashed one's leftovers, claims the folder, logs to .lab/logs. */
async function claimLab(p: LabPaths): Promise<void> {
  const other = runningPid(p);
  if (other) throw new Error(`a lab is already running (pid ${other}, ${p.dir}); stop it with 'cilium-ts lab down'`);
  // Leftovers of a lab that died without cleaning up go; the detached boot log stays.
  mkdirSync(p.dir, { recursive: true });
  await cleanLeftovers(p);
  writeFileSync(p.pidFile, `${process.pid}\n`);
  // The terminal is for the person; every component's JSON events go to .lab/logs/<component>.log,
  // beside etcd's, kube-apiserver's and kube-controller-manager's.
  logToFiles(join(p.dir, 'logs'));
}

/** The control plane, our CRDs, the admission webhook and the operator, each a timed step. */
async function startCore(
  p: LabPaths,
  progress: Progress,
  core: LabCore,
  pool: string,
  maskSize: number,
): Promise<ControlPlane> {
  const started = await progress.step('control plane (etcd, kube-apiserver, kube-controller-manager)', () =>
    startControlPlane({ dir: p.dir, keepDir: true, controllerManager: true }),
  );
  core.cp = started;
  await progress.step(
    'our CRDs, established',
    () => installCrds(started, [join(repoRoot, 'crds')]),
    (names) => `our CRDs (${names.length}), established`,
  );
  // The admission webhook, registered by URL: from here on every policy is validated, samples too.
  core.webhook = await progress.step('admission webhook, registered', () =>
    runWebhook({
      kc: loadKubeConfig(started.kubeconfig),
      namespace: 'kube-system',
      host: '127.0.0.1',
      port: 0,
      registerUrlHost: '127.0.0.1',
    }),
  );
  // The operator, in-process, configured as config/operator/configmap.yaml configures it in a cluster.
  core.operator = await progress.step(`operator (LB-IPAM, pod CIDRs from ${pool}, policy status, GC)`, () =>
    runOperator({
      config: configFrom({
        kubeconfig: started.kubeconfig,
        'health-port': '0',
        'cluster-pool-ipv4-cidr': pool,
        'cluster-pool-ipv4-mask-size': String(maskSize),
      }),
    }),
  );
  return started;
}

/** Stops what startCore started and removes the lab's folder (a failed boot keeps its log, which says why). */
async function stopCore(p: LabPaths, core: LabCore, keepLog: boolean): Promise<void> {
  await core.operator?.stop();
  await core.webhook?.stop();
  await core.cp?.stop();
  if (!keepLog) rmSync(p.dir, { recursive: true, force: true });
  else
    for (const e of readdirSync(p.dir))
      if (join(p.dir, e) !== p.logFile) rmSync(join(p.dir, e), { recursive: true, force: true });
  log.info('lab stopped, state removed', { dir: p.dir });
}

export async function bootLab(
  p: LabPaths,
  opts: { demo?: boolean; progress?: Progress; dns?: boolean } & LabUpOptions = {},
): Promise<RunningLab> {
  if ((opts.nodes ?? 1) >= 2) return bootMultiNodeLab(p, { ...opts, nodes: opts.nodes! });
  const progress = opts.progress ?? new Progress();
  await claimLab(p);
  const core: LabCore = {};
  let agent: Agent | undefined;
  let dns: ClusterDns | undefined;
  let relay: Relay | undefined;
  const shutdown = async (keepLog = false) => {
    log.info('shutting down');
    // Pods first, while the agent still answers their CNI DEL; then the agent and its pins.
    await deleteAllPods(labPodOptions()).catch((e: unknown) =>
      log.warn('removing lab pods failed', { error: String(e) }),
    );
    await relay?.stop();
    await dns?.stop();
    // The agent's stop() leaves its programs attached (a restarted agent goes on translating);
    // the lab takes them off the machine: socket-LB from the lab's cgroup, bpf_host from cts-outside.
    agent?.detachPrograms();
    detachLabSocketLb();
    await removeOutside(p).catch((e: unknown) => log.warn('removing the outside host failed', { error: String(e) }));
    removeLabCgroups();
    await agent?.stop();
    rmSync(LAB_PIN_ROOT, { recursive: true, force: true });
    await stopCore(p, core, keepLog);
  };
  try {
    const started = await startCore(
      p,
      progress,
      core,
      opts.clusterPoolCidr ?? LAB_CLUSTER_POOL,
      opts.clusterPoolMaskSize ?? 24,
    );
    const nodeName = labNodeName();
    const nodeIP = await progress.step(
      `node ${nodeName}`,
      () => registerLabNode(started.kubeconfig, nodeName),
      (ip) => `node ${nodeName} (InternalIP ${ip})`,
    );
    const outside = await progress.step(
      'outside host',
      () =>
        createOutside(p, [
          ...new Set([opts.clusterPoolCidr ?? LAB_CLUSTER_POOL, SERVICE_CIDR_V4, ...sampleLbRanges()]),
        ]),
      (o) => `outside host (netns ${o.netns}, ${o.address} via ${o.hostIfname})`,
    );
    // The agent on it serves the CNI plugin on the lab's socket and waits for the operator to give
    // its CiliumNode a pod CIDR. Services are ours (kube-proxy replacement): socket-LB on the lab's
    // cgroup (node and pod processes), north-south on the outside host's link, whose node-side
    // address is then a NodePort address.
    const cgroups = ensureLabCgroups();
    const a = await progress.step('agent (eBPF datapath, CNI, Services, Hubble observer)', async () => {
      agent = await Agent.start({
        kc: loadKubeConfig(started.kubeconfig),
        nodeName,
        stateDir: join(p.dir, 'agent'),
        socketPath: labPodOptions().cniSocket,
        pinRoot: LAB_PIN_ROOT,
        healthPort: 0,
        apiSocket: join(p.dir, 'agent.sock'),
        hubbleListen: '127.0.0.1:0',
        ...(cgroups ? { socketLb: { cgroupPath: LAB_CGROUP } } : {}),
        devices: [OUTSIDE_HOST_IFNAME],
        log: logger('agent'),
      });
      await agent.ready(30_000);
      return agent;
    });
    // `cilium-ts observe` finds the lab's observer here (one address per agent).
    const hubble = a.flows?.server?.address ?? '';
    writeFileSync(join(p.dir, 'hubble.addr'), `${hubble}\n`);
    // Hubble Relay finds the agents through the agent's peer service; `cilium-ts observe` and the
    // hubble CLI go through it (relay.addr).
    relay = await progress.step(
      'Hubble Relay',
      async () => {
        const { startRelay } = await import('../hubble/relay/relay-server.ts');
        return startRelay({ listen: '127.0.0.1:0', peerService: hubble, log: logger('hubble-relay') });
      },
      (r) => `Hubble Relay (${r.address})`,
    );
    writeFileSync(join(p.dir, 'relay.addr'), `${relay.address}\n`);
    const nodes: LabNodeRecord[] = [{ name: nodeName, internalIP: nodeIP }];
    writeFileSync(p.nodesFile, JSON.stringify(nodes, null, 2) + '\n');
    if (opts.dns !== false) {
      const cidr = await started.kubectl(['get', 'ciliumnode', nodeName, '-o', 'jsonpath={.spec.ipam.podCIDRs[0]}']);
      if (cidr.code !== 0 || !cidr.stdout.trim())
        throw new Error(`no pod CIDR on CiliumNode ${nodeName}: ${cidr.stderr}`);
      dns = await progress.step(
        'cluster DNS (CoreDNS as kube-system/coredns, Service kube-dns)',
        () => startClusterDns(started, p, labPodOptions(), podCidrInfo(cidr.stdout.trim()).routerIp),
        (d) => `cluster DNS (CoreDNS kube-system/coredns ${d.pod.ip}, Service kube-dns ${d.ip})`,
      );
    }
    if (opts.demo) await demo(started, a, progress);
    else progress.say(indent(await progress.step('config/samples applied (server-side)', () => applySamples(started))));
    writeFileSync(p.readyFile, new Date().toISOString());
    return {
      cp: started,
      outside,
      dns,
      hubble,
      relay: relay.address,
      nodeName,
      nodeIP,
      nodes,
      shutdown: () => shutdown(),
    };
  } catch (err) {
    await shutdown(true);
    throw err;
  }
}

/** What a crashed lab (one node or several) left: pods, socket-LB links, pins, node namespaces, bridge. */
async function cleanLeftovers(p: LabPaths): Promise<void> {
  mkdirSync(p.dir, { recursive: true });
  await deleteAllPods(labPodOptions()).catch(() => undefined);
  await removeMultiNode(LAB_PIN_ROOT).catch((e: unknown) =>
    log.warn('removing old lab nodes failed', { error: String(e) }),
  );
  // A crashed lab's socket-LB links are pinned under its pin root: detached before the pins go.
  detachLabSocketLb();
  rmSync(LAB_PIN_ROOT, { recursive: true, force: true });
  for (const entry of readdirSync(p.dir))
    if (join(p.dir, entry) !== p.logFile) rmSync(join(p.dir, entry), { recursive: true, force: true });
}

/** A multi-node lab as the demo and the caller see it. */
export interface MultiNodeLab {
  nodes: LabNodeRecord[];
  /** resolves once every node's agent holds the policy */
  policyTaken(kind: string, namespace: string, name: string, timeoutMs: number): Promise<void>;
}

async function policyOnEveryNode(nodes: LabNodeRecord[], key: string, timeoutMs: number): Promise<void> {
  const { agentGet } = await import('../cli/agent-client.ts');
  const has = async (n: LabNodeRecord) => {
    const r = await agentGet<{ policies: Array<{ kind: string; namespace?: string; name: string }> }>(
      '/v1/policy',
      n.apiSocket,
    ).catch(() => ({ policies: [] }));
    return r.policies.some((x) => `${x.kind}/${x.namespace ?? ''}/${x.name}` === key);
  };
  const deadline = Date.now() + timeoutMs;
  while (!(await Promise.all(nodes.map(has))).every(Boolean)) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for every agent to take ${key}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `lab up --nodes N` (N ≥ 2): the control plane, webhook and operator in this process as for one
 * node; then the underlay, one namespace and one agent process per node, the apiserver relay on the
 * bridge address (agents and CoreDNS reach the apiserver through it), the outside host routed to
 * the nodes, cluster DNS on node-1 and Hubble Relay with node-1's agent as its peer service.
 */
async function bootMultiNodeLab(
  p: LabPaths,
  opts: { demo?: boolean; progress?: Progress; dns?: boolean } & LabUpOptions & { nodes: number },
): Promise<RunningLab> {
  const progress = opts.progress ?? new Progress();
  await claimLab(p);
  const pool = opts.clusterPoolCidr ?? LAB_CLUSTER_POOL;
  const routingMode = opts.routingMode ?? 'tunnel';
  const core: LabCore = {};
  let dns: ClusterDns | undefined;
  let relay: Relay | undefined;
  let apiRelay: Server | undefined;
  let nodes: LabNodeRecord[] = [];
  const shutdown = async (keepLog = false) => {
    log.info('shutting down');
    // Pods first, while their agents still answer CNI DEL; then the agents, nodes, bridge, pins.
    await deleteAllPods(labPodOptions()).catch((e: unknown) =>
      log.warn('removing lab pods failed', { error: String(e) }),
    );
    await relay?.stop();
    await dns?.stop();
    await Promise.all(nodes.map((n) => stopAgentProcess(n).catch(() => false)));
    await removeOutside(p).catch((e: unknown) => log.warn('removing the outside host failed', { error: String(e) }));
    await new Promise((r) => (apiRelay ? apiRelay.close(r) : r(undefined)));
    await removeMultiNode(LAB_PIN_ROOT).catch((e: unknown) =>
      log.warn('removing the lab nodes failed', { error: String(e) }),
    );
    removeLabCgroups();
    rmSync(LAB_PIN_ROOT, { recursive: true, force: true });
    await stopCore(p, core, keepLog);
  };
  try {
    const started = await startCore(p, progress, core, pool, opts.clusterPoolMaskSize ?? 24);
    const underlay = await progress.step(
      `${opts.nodes} nodes on the underlay ${UNDERLAY_BRIDGE}`,
      async () => {
        const made = await createUnderlay(opts.nodes);
        for (const n of made) await registerLabNode(started.kubeconfig, n.name, n.internalIP);
        return made;
      },
      (made) =>
        `${made.length} nodes on ${UNDERLAY_BRIDGE} (${made.map((n) => `${n.name} ${n.internalIP}`).join(', ')})`,
    );
    // Agents and CoreDNS reach the apiserver (on loopback) through a relay on the bridge address.
    const api = new URL(started.server);
    apiRelay = await startApiRelay(UNDERLAY_ADDR, APISERVER_RELAY_PORT, { host: api.hostname, port: Number(api.port) });
    const kubeconfig = join(p.dir, 'nodes', 'kubeconfig');
    mkdirSync(join(p.dir, 'nodes'), { recursive: true });
    writeFileSync(kubeconfig, relayKubeconfig(started.kubeconfig, UNDERLAY_ADDR), { mode: 0o600 });
    const specs = underlay.map((_, i) => nodeSpec(p, i + 1, { kubeconfig, labPinRoot: LAB_PIN_ROOT, routingMode }));
    nodes = specs.map(nodeRecord);
    writeFileSync(p.nodesFile, JSON.stringify(nodes, null, 2) + '\n');
    const cidrs = await progress.step(
      `agents, one process per node (${routingMode} routing)`,
      async () => {
        for (const n of nodes) startAgentProcess(n);
        return Promise.all(nodes.map((n) => waitAgentReady(n, 90_000)));
      },
      (c) => `agents ready (${nodes.map((n, i) => `${n.name} ${c[i]}`).join(', ')})`,
    );
    await routePodCidrs(cidrs.map((podCidr, i) => ({ podCidr, via: nodes[i]!.internalIP })));
    const outside = await progress.step(
      'outside host',
      () =>
        createOutside(p, [...new Set([pool, SERVICE_CIDR_V4, ...sampleLbRanges()])], {
          pool,
          via: nodes[0]!.internalIP,
        }),
      (o) => `outside host (netns ${o.netns}, ${o.address}, routed to every node)`,
    );
    // `cilium-ts status` and the inspection commands find node-1's agent at the lab's usual place.
    symlinkSync(nodes[0]!.apiSocket!, join(p.dir, 'agent.sock'));
    const hubble = `${nodes[0]!.internalIP}:${NODE_HUBBLE_PORT}`;
    writeFileSync(join(p.dir, 'hubble.addr'), `${hubble}\n`);
    relay = await progress.step(
      'Hubble Relay',
      async () => {
        const { startRelay } = await import('../hubble/relay/relay-server.ts');
        return startRelay({ listen: '127.0.0.1:0', peerService: hubble, log: logger('hubble-relay') });
      },
      (r) => `Hubble Relay (${r.address}, peers from ${hubble})`,
    );
    writeFileSync(join(p.dir, 'relay.addr'), `${relay.address}\n`);
    if (opts.dns !== false) {
      dns = await progress.step(
        'cluster DNS (CoreDNS as kube-system/coredns, Service kube-dns)',
        () => startClusterDns(started, p, podOptionsOn(nodes[0]!.name), podCidrInfo(cidrs[0]!).routerIp, UNDERLAY_ADDR),
        (d) => `cluster DNS (CoreDNS kube-system/coredns ${d.pod.ip} on ${nodes[0]!.name}, Service kube-dns ${d.ip})`,
      );
    }
    const multi: MultiNodeLab = {
      nodes,
      policyTaken: (kind, ns, name, timeoutMs) => policyOnEveryNode(nodes, `${kind}/${ns}/${name}`, timeoutMs),
    };
    if (opts.demo) await demo(started, multi, progress);
    else progress.say(indent(await progress.step('config/samples applied (server-side)', () => applySamples(started))));
    writeFileSync(p.readyFile, new Date().toISOString());
    return {
      cp: started,
      outside,
      dns,
      hubble,
      relay: relay.address,
      nodeName: nodes[0]!.name,
      nodeIP: nodes[0]!.internalIP,
      nodes,
      shutdown: () => shutdown(),
    };
  } catch (err) {
    await shutdown(true);
    throw err;
  }
}

/** Socket-LB links pinned under the lab's pin root, whichever lab (this one, a crashed one) left them. */
function detachLabSocketLb(): void {
  try {
    detachSocketLb({ pinRoot: LAB_PIN_ROOT });
  } catch (e) {
    log.warn('detaching socket-LB failed', { error: String(e) });
  }
}

async function show(cp: ControlPlane, title: string, args: string[]): Promise<void> {
  const r = await cp.kubectl(args);
  process.stdout.write(`\n$ kubectl ${args.join(' ')}   # ${title}\n${r.stdout}${r.stderr}`);
}

function usage(p: LabPaths, lab: RunningLab): string {
  const rel = (f: string) => relative(process.cwd(), f) || '.';
  return [
    '',
    'The lab is up.',
    `  API server    ${lab.cp.server}`,
    `  kubeconfig    ${p.kubeconfig}`,
    ...(lab.nodes.length > 1
      ? [
          `  nodes         ${lab.nodes.map((n) => `${n.name} ${n.internalIP}`).join(', ')}   (cilium-ts lab node list)`,
          `  agents        one process per node; logs ${rel(join(p.dir, 'logs'))}/agent-<node>.log`,
        ]
      : [`  node          ${lab.nodeName} (InternalIP ${lab.nodeIP})`]),
    `  outside host  ${lab.outside.address} (netns ${lab.outside.netns}; cilium-ts lab exec --outside -- …)`,
    `  cluster DNS   ${lab.dns ? `kube-system/kube-dns ${lab.dns.ip} (CoreDNS pod ${lab.dns.pod.ip})` : 'off (--no-dns)'}`,
    `  Hubble        ${lab.hubble}   (the agent's observer, in ${rel(join(p.dir, 'hubble.addr'))})`,
    `  Hubble Relay  ${lab.relay}   (cilium-ts observe finds it in ${rel(join(p.dir, 'relay.addr'))})`,
    `  agent API     ${rel(join(p.dir, 'agent.sock'))}   (cilium-ts status, endpoint list, policy get)`,
    `  logs          ${rel(join(p.dir, 'logs'))}/<component>.log   (agent, operator, webhook, kube-apiserver, …)`,
    '',
    'In another shell:',
    `  export KUBECONFIG=${p.kubeconfig}`,
    '  kubectl get cnp,ccnp -A; kubectl get ciliumnodes -o wide',
    '  ./bin/cilium-ts status',
    '  ./bin/cilium-ts observe --namespace demo --verdict DROPPED',
    '  ./bin/cilium-ts lab pod add demo/db --labels app=db --ports 5432/TCP',
    '  ./bin/cilium-ts lab probe --all --port 8080',
    '  ./bin/cilium-ts lab probe outside demo/frontend --port 8080',
    '  ./bin/cilium-ts lab exec demo/frontend -- ip addr',
    '',
    `Press Ctrl-C to stop it (state in ${rel(p.dir)} is removed).`,
    '',
  ].join('\n');
}

export async function labUp(opts: { detach: boolean; quiet?: boolean; dns?: boolean } & LabUpOptions): Promise<number> {
  const p = labPaths();
  if (opts.detach) return detach(p, opts.dns !== false, opts);
  const progress = new Progress();
  if (!opts.quiet) progress.say(`Booting the lab in ${p.dir}\n`);
  const lab = await bootLab(p, { ...opts, demo: !opts.quiet, progress, dns: opts.dns !== false });
  if (!opts.quiet) {
    await show(lab.cp, 'our CRDs, generated from crds/schemas', ['get', 'crds']);
    await show(lab.cp, 'sample policies from config/samples', ['get', 'cnp,ccnp', '-A']);
    await show(lab.cp, 'sample LB IP pool', ['get', 'ippools']);
    await show(lab.cp, lab.nodes.length > 1 ? 'the nodes as Cilium sees them' : 'the node as Cilium sees it', [
      'get',
      'ciliumnodes',
      '-o',
      'wide',
    ]);
    progress.say(usage(p, lab));
  }
  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  if (!opts.quiet && process.stdout.isTTY) progress.say('');
  await progress.step('lab stopped: pods, agent, operator, webhook, control plane; state removed', lab.shutdown);
  return 0;
}

async function detach(p: LabPaths, dns: boolean, o: LabUpOptions): Promise<number> {
  const other = runningPid(p);
  if (other) {
    console.error(`a lab is already running (pid ${other}); kubeconfig: ${p.kubeconfig}`);
    return 1;
  }
  mkdirSync(p.dir, { recursive: true });
  const logPath = p.logFile;
  const fd = openSync(logPath, 'w');
  const args = [
    ...process.execArgv,
    process.argv[1]!,
    'lab',
    'up',
    '--quiet',
    ...(dns ? [] : ['--no-dns']),
    ...(o.nodes !== undefined ? ['--nodes', String(o.nodes)] : []),
    ...(o.routingMode ? ['--routing-mode', o.routingMode] : []),
    ...(o.clusterPoolCidr ? ['--cluster-pool-ipv4-cidr', o.clusterPoolCidr] : []),
    ...(o.clusterPoolMaskSize !== undefined ? ['--cluster-pool-ipv4-mask-size', String(o.clusterPoolMaskSize)] : []),
  ];
  const child = spawn(process.execPath, args, {
    detached: true,
    stdio: ['ignore', fd, fd],
    env: { ...process.env, LOG_FORMAT: 'json' },
  });
  closeSync(fd);
  child.unref();
  let exited: number | null = null;
  child.on('exit', (code) => (exited = code ?? 1));
  const deadline = Date.now() + ((o.nodes ?? 1) >= 2 ? 240_000 : 120_000);
  while (!existsSync(p.readyFile)) {
    if (exited !== null || Date.now() > deadline) {
      console.error(
        `the lab did not start (see ${logPath}):\n${readFileSync(logPath, 'utf8').split('\n').slice(-20).join('\n')}`,
      );
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
  // A lab killed before it finished cleaning up: its nodes (agents, namespaces, bridge) go all the same.
  if ((await existingNodeNetns()).length > 0) await removeMultiNode(LAB_PIN_ROOT);
  rmSync(p.dir, { recursive: true, force: true });
  console.log(`lab stopped (pid ${pid})`);
  return 0;
}
