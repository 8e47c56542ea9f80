// Policy costs, two ways:
//  1. the engine alone (pure): 5,000 identities, 100 local endpoints, 1,000 CiliumNetworkPolicies
//     added one by one (incremental), then a full recomputation, one identity change and one policy
//     change; heap in use at the end;
//  2. end to end: a real apiserver, the agent and two lab pods; the time from sending a policy's
//     create (as kubectl apply does) to the endpoint's enforcement showing in the kernel's
//     cilium_lxc entry, and from sending its delete to its removal, over 20 rounds.
// Prints tables; needs root for part 2.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PolicyEngine, podIdentityLabels } from '../src/policy/index.ts';
import type { CiliumNetworkPolicy } from '../src/api/types.generated.ts';
import { startControlPlane } from '../src/lab/control-plane.ts';
import { Agent } from '../src/agent/agent.ts';
import { addPod, deletePod, listPods, type LabPodOptions } from '../src/lab/pods.ts';
import { loadKubeConfig } from '../src/lib/kube.ts';
import { logger } from '../src/lib/log.ts';
import { repoRoot } from '../src/lib/paths.ts';
import { EndpointFlags } from '../src/datapath/constants.ts';
import { policyMapEntries } from '../src/datapath/policy-encoding.ts';
import { CustomObjectsApi } from '@kubernetes/client-node';

const IDENTITIES = 5000,
  ENDPOINTS = 100,
  POLICIES = 1000,
  NAMESPACES = 50;

function table(title: string, rows: Array<[string, string]>): void {
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log(`\n${title}`);
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
}

const ms = (t: number) => `${(performance.now() - t).toFixed(1)} ms`;

// --- 1. the engine at scale --------------------------------------------------------------------
{
  const heapBefore = process.memoryUsage().heapUsed;
  const engine = new PolicyEngine({ enforcementMode: 'default' });
  for (let i = 0; i < IDENTITIES; i++) {
    engine.upsertIdentity(
      256 + i,
      podIdentityLabels({
        namespace: `ns-${i % NAMESPACES}`,
        podLabels: { app: `app-${i % 200}`, tier: `t${i % 7}` },
        namespaceLabels: { team: `team-${i % 10}` },
      }),
    );
  }
  for (let e = 0; e < ENDPOINTS; e++)
    engine.upsertEndpoint({ id: e + 1, identity: 256 + e * 37, ips: [`10.9.${e >> 8}.${e & 255}`] });
  const policy = (i: number, port: number): CiliumNetworkPolicy => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: `p-${i}`, namespace: `ns-${i % NAMESPACES}` },
    spec: {
      endpointSelector: { matchLabels: { app: `app-${i % 200}` } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { tier: `t${i % 7}` } }],
          toPorts: [{ ports: [{ port: String(port), protocol: 'TCP' }] }],
        },
      ],
      egress: [
        {
          toEndpoints: [
            {
              matchExpressions: [
                { key: 'k8s:io.cilium.k8s.namespace.labels.team', operator: 'In', values: [`team-${i % 10}`] },
              ],
            },
          ],
        },
      ],
    },
  });
  let t = performance.now();
  for (let i = 0; i < POLICIES; i++) engine.upsertPolicy(policy(i, 8000 + (i % 100)));
  const addAll = ms(t);
  let entries = 0;
  for (const p of engine.allPolicies().values()) entries += policyMapEntries(p).length;
  t = performance.now();
  const recomputedBefore = engine.recomputations;
  engine.setOptions({ enforcementMode: 'default', allowLocalhost: false });
  const full = ms(t);
  const fullCount = engine.recomputations - recomputedBefore;
  t = performance.now();
  const idChanged = engine.upsertIdentity(
    256 + 37,
    podIdentityLabels({
      namespace: 'ns-1',
      podLabels: { app: 'app-1', tier: 't3' },
      namespaceLabels: { team: 'team-2' },
    }),
  );
  const oneIdentity = ms(t);
  t = performance.now();
  const polChanged = engine.upsertPolicy(policy(7, 9999));
  const onePolicy = ms(t);
  globalThis.gc?.();
  const heap = (process.memoryUsage().heapUsed - heapBefore) / 2 ** 20;
  table(
    `Policy engine: ${IDENTITIES.toLocaleString('en')} identities, ${ENDPOINTS} local endpoints, ${POLICIES.toLocaleString('en')} CNPs`,
    [
      ['add 1,000 policies one by one (incremental)', addAll],
      ['policy-map entries computed', entries.toLocaleString('en')],
      [`full recomputation (${fullCount} endpoints)`, full],
      [`one identity relabelled (${idChanged.length} endpoints changed)`, oneIdentity],
      [`one policy changed (${polChanged.length} endpoints changed)`, onePolicy],
      ['heap held by the engine (after GC when --expose-gc)', `${heap.toFixed(0)} MiB`],
    ],
  );
}

// --- 2. kubectl apply -> enforcement in the kernel ------------------------------------------------
if (process.getuid?.() !== 0) {
  console.log('\napply -> kernel latency skipped: needs root');
  process.exit(0);
}
const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-bench-policy-'));
const pinRoot = `/sys/fs/bpf/cilium-ts-bench-policy-${process.pid}`;
const opts: LabPodOptions = {
  kubeconfig: '',
  stateDir: join(tmp, 'pods'),
  cniSocket: join(tmp, 'cni.sock'),
  nodeName: 'bench-node',
};
const cp = await startControlPlane({ dir: join(tmp, 'cp'), keepDir: true, crds: [join(repoRoot, 'crds')] });
opts.kubeconfig = cp.kubeconfig;
let agent: Agent | undefined;
try {
  await cp.kubectl(['create', 'namespace', 'bench']);
  agent = await Agent.start({
    kc: loadKubeConfig(cp.kubeconfig),
    nodeName: 'bench-node',
    stateDir: join(tmp, 'agent'),
    socketPath: opts.cniSocket,
    pinRoot,
    podCidr: `10.205.${process.pid % 250}.0/24`,
    log: logger('agent'),
  });
  const server = await addPod(opts, 'bench', 'server', { app: 'server' });
  await addPod(opts, 'bench', 'client', { app: 'client' });
  const ep = agent.localEndpoints().find((e) => e.pod === 'server')!;
  const hostIfindex = [...agent.datapath.maps.endpoints.entries()].find(([, v]) => v.epId === ep.id)![0];
  const enforced = () =>
    ((agent!.datapath.maps.endpoints.lookup(hostIfindex)?.flags ?? 0) & EndpointFlags.ENFORCE_INGRESS) !== 0;
  const until = async (want: boolean) => {
    const deadline = performance.now() + 10_000;
    while (enforced() !== want) {
      if (performance.now() > deadline) throw new Error('enforcement never changed');
      await new Promise((r) => setImmediate(r));
    }
  };
  // Timed from the moment the request is sent (as kubectl would send it) to the kernel entry.
  const custom = loadKubeConfig(cp.kubeconfig).makeApiClient(CustomObjectsApi);
  const cnp = { group: 'cilium.io', version: 'v2', plural: 'ciliumnetworkpolicies', namespace: 'bench' };
  const body = {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'only-client', namespace: 'bench' },
    spec: {
      endpointSelector: { matchLabels: { app: 'server' } },
      ingress: [
        {
          fromEndpoints: [{ matchLabels: { app: 'client' } }],
          toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
        },
      ],
    },
  };
  const applyMs: number[] = [],
    deleteMs: number[] = [];
  for (let i = 0; i < 20; i++) {
    let t = performance.now();
    const created = custom.createNamespacedCustomObject({ ...cnp, body });
    await until(true);
    applyMs.push(performance.now() - t);
    await created;
    t = performance.now();
    const deleted = custom.deleteNamespacedCustomObject({ ...cnp, name: 'only-client' });
    await until(false);
    deleteMs.push(performance.now() - t);
    await deleted;
  }
  const q = (xs: number[], p: number) =>
    [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))]!.toFixed(1);
  table(
    `policy create/delete sent to the apiserver -> endpoint ${server.namespace}/${server.name}'s enforcement flag in the kernel (20 rounds)`,
    [
      ['apply: p50', `${q(applyMs, 0.5)} ms`],
      ['apply: p90', `${q(applyMs, 0.9)} ms`],
      ['apply: max', `${Math.max(...applyMs).toFixed(1)} ms`],
      ['delete: p50', `${q(deleteMs, 0.5)} ms`],
      ['delete: max', `${Math.max(...deleteMs).toFixed(1)} ms`],
    ],
  );
} finally {
  for (const p of listPods(opts))
    await deletePod(opts, p.namespace, p.name, { bestEffort: true }).catch(() => undefined);
  await agent?.stop();
  for (const p of listPods(opts))
    try {
      execFileSync('ip', ['netns', 'del', p.netns], { stdio: 'ignore' });
    } catch {
      /* gone */
    }
  rmSync(pinRoot, { recursive: true, force: true });
  await cp.stop();
  rmSync(tmp, { recursive: true, force: true });
}
