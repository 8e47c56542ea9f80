// Services side by side: cilium-ts (the agent's services part → LB maps → bpf_lxc) against the real
// kube-proxy (v1.36, iptables mode and nftables mode), on the same Services and EndpointSlices of one
// control plane, with 1,000 / 5,000 / 10,000 / 30,000 Services × 4 endpoints (grown incrementally).
//
//   control plane   etcd + kube-apiserver, no controller-manager: the bench writes the EndpointSlices
//   backends        one namespace where every address of 172.28.0.0/15 is local; one server on :8080
//   kube-proxy      per mode, its own namespace (its tables are that namespace's), the client in it,
//                   reaching the apiserver through a TCP relay; Node objects of their own
//   cilium-ts       the agent in this process (services part on), a lab pod (CNI, bpf_lxc) as client
//
// At each size, for each side: first-packet connection latency to ClusterIPs sampled across the
// range (a fresh socket, so a fresh flow, per connect), connections per second (closed loop),
// time from one new Service + its slice created to reachable from the client, and memory.
// Env: BENCH_SERVICES_MAX (largest size, default 30000), BENCH_SERVICES_CONNECTS (latency samples,
// default 300), BENCH_SERVICES_REACH_SAMPLES (default 10), BENCH_CONNECT_SECONDS (default 3),
// BENCH_SERVICES_DEADLINE_S (the whole run, default 2400; past it the sizes measured so far are printed),
// BENCH_SERVICES_KP_MAX (the largest size kube-proxy is grown to; past it, it is paused and its rows say so;
// default: BENCH_SERVICES_MAX). Needs root; prints tables.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { CoreV1Api, DiscoveryV1Api } from '@kubernetes/client-node';
import { Agent } from '../src/agent/agent.ts';
import { startControlPlane, type ControlPlane } from '../src/lab/control-plane.ts';
import { addPod, deletePod, listPods, type LabPod, type LabPodOptions } from '../src/lab/pods.ts';
import { loadKubeConfig } from '../src/lib/kube.ts';
import { logger } from '../src/lib/log.ts';
import { repoRoot } from '../src/lib/paths.ts';
import {
  BACKEND_PORT,
  blackholeServiceRange,
  Client,
  ip,
  makeBackends,
  makeNetns,
  startKubeProxy,
  startRelay,
  Teardown,
  type KubeProxy,
} from './services-net.ts';

if (process.getuid?.() !== 0) {
  console.log('services bench skipped: needs root');
  process.exit(0);
}

const MAX = Number(process.env.BENCH_SERVICES_MAX ?? 30_000);
const KP_MAX = Number(process.env.BENCH_SERVICES_KP_MAX ?? MAX);
const SIZES = [1_000, 5_000, 10_000, 30_000].filter((n) => n <= MAX);
const CONNECTS = Number(process.env.BENCH_SERVICES_CONNECTS ?? 300);
const REACH_SAMPLES = Number(process.env.BENCH_SERVICES_REACH_SAMPLES ?? 10);
const RATE_SECONDS = Number(process.env.BENCH_CONNECT_SECONDS ?? 3);
const DEADLINE = performance.now() + Number(process.env.BENCH_SERVICES_DEADLINE_S ?? 2400) * 1000;
const ENDPOINTS = 4;
const NS = 'bench';
const SVC_PORT = 80;

const started = performance.now();
// The agent runs in this process: a long pause of its event loop shows in the measurements.
const loopDelay = monitorEventLoopDelay({ resolution: 20 });
loopDelay.enable();
const log = logger('bench-services');
const tag = process.pid % 100_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function checkDeadline(what: string): void {
  if (performance.now() > DEADLINE) throw new Error(`bench deadline passed before ${what}`);
}

// --- the objects: Service i has ClusterIP 10.96.4.0 + i and endpoints 172.28.0.1 + 4i .. + 3 -----
const addr = (base: number, i: number) => {
  const n = base + i;
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
};
const CLUSTER_IP_BASE = (10 << 24) | (96 << 16) | (4 << 8); // 10.96.4.0: clear of the apiserver's own
const BACKEND_BASE = ((172 << 24) | (28 << 16) | 1) >>> 0;
/** The new-Service samples' indexes start here, past every size's range. */
const SAMPLE_BASE = 50_000;
const clusterIp = (i: number) => addr(CLUSTER_IP_BASE, i);
function backendIp(i: number, k: number): string {
  // Samples take the slots after the largest size's; all inside 172.28.0.0/15 (131,072 addresses).
  const slot = i < SAMPLE_BASE ? i : 30_000 + (i - SAMPLE_BASE);
  const n = slot * ENDPOINTS + k;
  if (n >= 131_070) throw new Error(`backend ${i}/${k} would fall outside the backend range`);
  return addr(BACKEND_BASE, n);
}

function serviceBody(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `s${i}`, namespace: NS },
    spec: { clusterIP: clusterIp(i), ports: [{ port: SVC_PORT, targetPort: BACKEND_PORT, protocol: 'TCP' }] },
  };
}

function sliceBody(i: number) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name: `s${i}-a`,
      namespace: NS,
      labels: { 'kubernetes.io/service-name': `s${i}`, 'endpointslice.kubernetes.io/managed-by': 'bench.cilium-ts.io' },
    },
    addressType: 'IPv4',
    endpoints: Array.from({ length: ENDPOINTS }, (_, k) => ({
      addresses: [backendIp(i, k)],
      conditions: { ready: true, serving: true, terminating: false },
    })),
    ports: [{ name: '', port: BACKEND_PORT, protocol: 'TCP' }],
  };
}

async function pool(from: number, to: number, concurrency: number, fn: (i: number) => Promise<unknown>) {
  let next = from;
  const worker = async () => {
    while (next < to) await fn(next++);
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

// --- statistics and printing ------------------------------------------------------------------
const quantile = (xs: number[], p: number): number => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
};
const fmt = (x: number, digits = 0) => (Number.isFinite(x) ? x.toFixed(digits) : '-');
const ratio = (a: number, b: number) =>
  Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${(a / b).toFixed(2)}x` : '-';

function table(title: string, head: string[], rows: string[][]): void {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  console.log(`\n${title}`);
  for (const r of all) console.log(r.map((c, i) => (i < 2 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
}

interface Side {
  name: string;
  client: Client;
  kp?: KubeProxy;
  /** false once it cannot hold the next size (cilium-ts's LB map capacity) */
  active: boolean;
  memory(): { text: string; mib: number };
}

interface Row {
  size: number;
  side: string;
  converge: number;
  p50: number;
  p99: number;
  errors: string;
  cps: number;
  reach: number[];
  reachFailed: number;
  mem: string;
  note?: string;
}

// --- the run ----------------------------------------------------------------------------------
const td = new Teardown();
let exitCode = 0;
const onSignal = (sig: string) => {
  log.warn('interrupted: tearing down', { signal: sig });
  exitCode = 130;
  void td.run().finally(() => process.exit(130));
};
process.once('SIGINT', onSignal);
process.once('SIGTERM', onSignal);

const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-bench-services-'));
// Kept when the run fails: the kube-proxy logs are in it.
td.add('temp folder', () =>
  exitCode ? console.error(`logs kept in ${tmp}`) : rmSync(tmp, { recursive: true, force: true }),
);
const pinRoot = `/sys/fs/bpf/cilium-ts-bench-services-${process.pid}`;
const rows: Row[] = [];
try {
  const cp: ControlPlane = await startControlPlane({
    dir: join(tmp, 'cp'),
    keepDir: true,
    crds: [join(repoRoot, 'crds')],
  });
  td.add('control plane', () => cp.stop());
  const kc = loadKubeConfig(cp.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  await core.createNamespace({ body: { metadata: { name: NS } } });

  // Backends, the relay, the two kube-proxies.
  const backends = makeNetns(td, `cts-${process.pid}-svcb`, `cs${tag}b`, 0);
  await makeBackends(td, backends);
  const ipt = makeNetns(td, `cts-${process.pid}-svci`, `cs${tag}i`, 1);
  const nft = makeNetns(td, `cts-${process.pid}-svcn`, `cs${tag}n`, 2);
  const apiPort = Number(new URL(cp.server).port);
  const relayPort = 16443;
  await startRelay(td, apiPort, [`${ipt.gw}:${relayPort}`, `${nft.gw}:${relayPort}`]);
  const sides: Side[] = [];
  for (const [mode, ns, pref] of [
    ['iptables', ipt, 20_100],
    ['nftables', nft, 20_101],
  ] as const) {
    blackholeServiceRange(td, ns.addr, pref);
    const node = `bench-kp-${mode}`;
    await core.createNode({
      body: { metadata: { name: node, labels: { 'kubernetes.io/hostname': node } } },
    });
    const kp = startKubeProxy(td, {
      mode,
      ns,
      dir: tmp,
      adminKubeconfig: cp.kubeconfig,
      relay: `${ns.gw}:${relayPort}`,
      node,
    });
    const client = await Client.start(td, `kube-proxy ${mode}`, ns.name);
    sides.push({
      name: `kube-proxy ${mode}`,
      client,
      kp,
      active: true,
      memory: () => {
        const kib = kp.rssKiB();
        return { text: `RSS ${fmt(kib / 1024)} MiB`, mib: kib / 1024 };
      },
    });
  }

  // cilium-ts: the agent with its services part, and a lab pod as the client.
  const podOpts: LabPodOptions = {
    kubeconfig: cp.kubeconfig,
    stateDir: join(tmp, 'pods'),
    cniSocket: join(tmp, 'cni.sock'),
    nodeName: 'bench-node',
  };
  const agent = await Agent.start({
    kc: loadKubeConfig(cp.kubeconfig),
    nodeName: 'bench-node',
    stateDir: join(tmp, 'agent'),
    socketPath: podOpts.cniSocket,
    pinRoot,
    podCidr: `10.213.${process.pid % 250}.0/24`,
    // 30,000 Services × (1 frontend + 4 slots) do not fit Cilium's default 65,536 entries
    lbMapMax: 262_144,
    log: logger('agent'),
  });
  let agentRunning = true;
  td.add('pin root', () => rmSync(pinRoot, { recursive: true, force: true }));
  td.add('agent', () => (agentRunning ? agent.stop() : undefined));
  td.add('lab pods', async () => {
    for (const p of listPods(podOpts)) {
      await deletePod(podOpts, p.namespace, p.name, { bestEffort: true }).catch(() => undefined);
      try {
        ip('netns', 'del', p.netns);
      } catch {
        /* gone with the pod */
      }
    }
  });
  await agent.ready(30_000);
  const pod: LabPod = await addPod(podOpts, NS, 'client', { app: 'client' });
  blackholeServiceRange(td, pod.ip, 20_102);
  const ciliumClient = await Client.start(td, 'cilium-ts', pod.netns);
  const lb = agent.datapath.lb.v4;
  const fdinfo = (fd: number) => readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const field = (fd: number, name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(fdinfo(fd))?.[1]);
  const lbMaps = [lb.services, lb.backends, lb.reverseNat];
  const cilium: Side = {
    name: 'cilium-ts',
    client: ciliumClient,
    active: true,
    memory: () => {
      gc();
      const heap = process.memoryUsage().heapUsed / 2 ** 20;
      const kernel = lbMaps.reduce((s, m) => s + field(m.fd, 'memlock'), 0) / 2 ** 20;
      return { text: `heap ${fmt(heap)} + LB maps ${fmt(kernel)} MiB`, mib: heap + kernel };
    },
  };
  sides.unshift(cilium);
  // One services-map slot per frontend and per backend; one backends-map entry per endpoint.
  const fits = (n: number) =>
    (n + 1) * (1 + ENDPOINTS) <= field(lb.services.fd, 'max_entries') &&
    (n + 1) * ENDPOINTS <= field(lb.backends.fd, 'max_entries');

  let have = 0;
  let sampleIdx = SAMPLE_BASE;
  const kubeProxies = sides.filter((s) => s.kp).map((s) => s.kp!);

  // Every side answers a first Service before anything is timed (kube-proxy's first sync included).
  await core.createNamespacedService({ namespace: NS, body: serviceBody(0) });
  await discovery.createNamespacedEndpointSlice({ namespace: NS, body: sliceBody(0) });
  have = 1;
  await Promise.all(
    sides.map(async (s) => {
      const r = await (await s.client.reach(clusterIp(0), SVC_PORT, 60_000)).result;
      if (!r.ok) throw new Error(`${s.name}: the first Service is not reachable after 60 s`);
    }),
  );

  sizes: for (const size of SIZES) {
    if (performance.now() > DEADLINE) {
      log.error('bench deadline passed: the sizes measured so far are printed', { next: size });
      break sizes;
    }
    for (const s of sides) {
      if (!s.active || !s.kp || size <= KP_MAX) continue;
      s.active = false;
      s.kp.pause(); // left behind at KP_MAX: it must not load the CPUs the measured sides use
      rows.push({
        size,
        side: s.name,
        converge: NaN,
        p50: NaN,
        p99: NaN,
        errors: '',
        cps: NaN,
        reach: [],
        reachFailed: 0,
        mem: '-',
        note: `not grown past ${KP_MAX.toLocaleString('en')} in this run (BENCH_SERVICES_KP_MAX)`,
      });
    }
    if (cilium.active && !fits(size)) {
      cilium.active = false;
      // A full map would fail every sync and retry: stopped so it does not load the others' run.
      await agent.stop();
      agentRunning = false;
      rows.push({
        size,
        side: 'cilium-ts',
        converge: NaN,
        p50: NaN,
        p99: NaN,
        errors: '',
        cps: NaN,
        reach: [],
        reachFailed: 0,
        mem: '-',
        note: `skipped: ${size} x (1+${ENDPOINTS}) service slots > cilium_lb4_services_v2 max_entries ${field(lb.services.fd, 'max_entries')} (Cilium's default --bpf-lb-map-max)`,
      });
    }
    const active = sides.filter((s) => s.active);
    const t0 = performance.now();
    await pool(have, size, 32, async (i) => {
      await core.createNamespacedService({ namespace: NS, body: serviceBody(i) });
      await discovery.createNamespacedEndpointSlice({ namespace: NS, body: sliceBody(i) });
    });
    have = size;
    const created = performance.now();
    log.info('services created', { size, seconds: ((created - t0) / 1000).toFixed(1) });

    // Converged: the last Service and a spread of others answer on every side.
    const probe = [size - 1, 0, Math.floor(size / 3), Math.floor((2 * size) / 3)].map(clusterIp);
    const converge = new Map<string, number>();
    await Promise.all(
      active.map(async (s) => {
        for (const ipAddr of probe) {
          const r = await (await s.client.reach(ipAddr, SVC_PORT, Math.max(1000, DEADLINE - performance.now()))).result;
          if (!r.ok) throw new Error(`${s.name}: ${ipAddr} never became reachable after growing to ${size}`);
        }
        converge.set(s.name, performance.now() - created);
      }),
    );
    log.info('converged', { size, ...Object.fromEntries(converge) });

    // Latency and rate: one side at a time, on targets sampled across the range.
    const targets = Array.from({ length: CONNECTS }, (_, j) => clusterIp(Math.floor(((j + 0.5) * size) / CONNECTS)));
    const results = new Map<string, Omit<Row, 'reach' | 'reachFailed' | 'mem'>>();
    for (const s of active) {
      checkDeadline(`measuring ${s.name} at ${size}`);
      loopDelay.reset();
      await s.client.latency(targets.slice(0, 20), SVC_PORT); // warm-up: JIT, neighbour entries
      const lat = await s.client.latency(targets, SVC_PORT);
      // A failed step is a row that says so, not a run without a table.
      const rate = await s.client.rate(targets, SVC_PORT, RATE_SECONDS, 4).catch((e: Error) => e);
      const errors = Object.entries(lat.errors).map(([k, v]) => `${k}:${v}`);
      if (rate instanceof Error) errors.push(`conn/s step: ${rate.message}`);
      else if (rate.stuck) errors.push(`conn/s: ${rate.stuck} connections stuck`);
      const stall = loopDelay.max / 1e6;
      if (stall > 1000) errors.push(`bench event loop paused up to ${fmt(stall)} ms`);
      log.info('measured', { size, side: s.name, eventLoopMaxMs: Math.round(stall) });
      results.set(s.name, {
        size,
        side: s.name,
        converge: converge.get(s.name) ?? NaN,
        p50: quantile(lat.us, 0.5),
        p99: quantile(lat.us, 0.99),
        errors: errors.join(' '),
        cps: rate instanceof Error ? NaN : rate.count / rate.seconds,
      });
    }

    // One new Service at a time: the other kube-proxies paused, so they do not race for the CPUs.
    let lastSample: string | undefined;
    for (const s of active) {
      for (const kp of kubeProxies) if (kp !== s.kp) kp.pause();
      try {
        if (lastSample) {
          const r = await (await s.client.reach(lastSample, SVC_PORT, 300_000)).result;
          if (!r.ok) throw new Error(`${s.name} never caught up with ${lastSample}`);
        }
        const reach: number[] = [];
        let reachFailed = 0;
        for (let k = 0; k < REACH_SAMPLES; k++) {
          checkDeadline(`new-Service samples of ${s.name} at ${size}`);
          const i = sampleIdx++;
          const poll = await s.client.reach(clusterIp(i), SVC_PORT, 30_000);
          await core.createNamespacedService({ namespace: NS, body: serviceBody(i) });
          await discovery.createNamespacedEndpointSlice({ namespace: NS, body: sliceBody(i) });
          const r = await poll.result;
          if (r.ok) reach.push(r.ms);
          else reachFailed++;
          lastSample = clusterIp(i);
          // Spaced past kube-proxy's minSyncPeriod (1 s): each sample is a lone change, as in a cluster.
          await new Promise((res) => setTimeout(res, 1100));
        }
        rows.push({ ...results.get(s.name)!, reach, reachFailed, mem: s.memory().text });
      } finally {
        for (const kp of kubeProxies) if (sides.some((x) => x.kp === kp && x.active)) kp.resume();
      }
    }
  }

  // --- tables ---------------------------------------------------------------------------------
  const cpuCount = (await import('node:os')).cpus().length;
  table(
    `Services x ${ENDPOINTS} endpoints: cilium-ts vs kube-proxy v1.36 (one run, ${cpuCount} CPUs; latency over ${CONNECTS} connects to ClusterIPs across the range; conn/s: 4 in flight, ${RATE_SECONDS} s; new Service: create sent -> first connect, ${REACH_SAMPLES} samples)`,
    ['size', 'side', 'converged s', 'connect p50 µs', 'p99 µs', 'conn/s', 'new svc p50 ms', 'p99 ms', 'memory'],
    rows.map((r) =>
      r.note
        ? [r.size.toLocaleString('en'), r.side, r.note]
        : [
            r.size.toLocaleString('en'),
            r.side,
            fmt(r.converge / 1000, 1),
            fmt(r.p50),
            fmt(r.p99),
            fmt(r.cps),
            fmt(quantile(r.reach, 0.5), 1),
            fmt(quantile(r.reach, 0.99), 1) + (r.reachFailed ? ` (${r.reachFailed} never)` : ''),
            r.mem,
          ].concat(r.errors ? [`connect errors: ${r.errors}`] : []),
    ),
  );
  const get = (size: number, side: string) => rows.find((r) => r.size === size && r.side === side && !r.note);
  const ratioRows: string[][] = [];
  for (const size of SIZES) {
    const c = get(size, 'cilium-ts');
    for (const other of ['kube-proxy iptables', 'kube-proxy nftables']) {
      const o = get(size, other);
      if (!c || !o) continue;
      ratioRows.push([
        size.toLocaleString('en'),
        `cilium-ts / ${other}`,
        ratio(c.p50, o.p50),
        ratio(c.p99, o.p99),
        ratio(c.cps, o.cps),
        ratio(quantile(c.reach, 0.99), quantile(o.reach, 0.99)),
      ]);
    }
  }
  table(
    'Ratios (latency and new-Service time: < 1 is cilium-ts ahead; conn/s: > 1 is cilium-ts ahead)',
    ['size', 'pair', 'connect p50', 'connect p99', 'conn/s', 'new svc p99'],
    ratioRows,
  );
  const ours = rows.filter((r) => r.side === 'cilium-ts' && !r.note);
  const first = ours[0],
    last = ours.at(-1);
  if (first && last && last !== first) {
    console.log(
      `\ncilium-ts connect latency ${last.size.toLocaleString('en')} vs ${first.size.toLocaleString('en')}: ` +
        `p50 ${ratio(last.p50, first.p50)}, p99 ${ratio(last.p99, first.p99)} (target: <= 1.1x from 1k to 30k); ` +
        `new Service p99 at ${last.size.toLocaleString('en')}: ${fmt(quantile(last.reach, 0.99), 1)} ms (target < 100 ms at 30k)`,
    );
  }
  console.log(
    "\nmemory: kube-proxy = the process RSS; cilium-ts = this process's V8 heap after a GC (the agent with its " +
      "watch caches, and the bench's small bookkeeping) + the kernel memory (memlock) of cilium_lb4_services_v2, " +
      '_backends_v3 and _reverse_nat as the kernel reports it (fdinfo memlock).' +
      '\nnew Service: the Service is created, then its EndpointSlice (as the controller would); kube-proxy runs ' +
      "with its defaults, so the slice waits for its minSyncPeriod (1 s) after the Service's own sync. " +
      'cilium-ts runs in this process with Hubble flows on, on the same CPUs as the clients and the server.',
  );
} catch (e) {
  exitCode = 1;
  console.error(e);
} finally {
  const failed = await td.run();
  if (failed.length) console.error(`teardown problems: ${failed.join('; ')}`);
  console.log(`\nservices bench: ${((performance.now() - started) / 1000).toFixed(0)} s in total`);
  process.exit(exitCode);
}
