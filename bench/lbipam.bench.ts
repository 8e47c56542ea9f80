// LB-IPAM end to end against the real apiserver: 5,000 Services of type LoadBalancer created
// with kubectl while the operator runs; time until every one has its address in
// status.loadBalancer.ingress, and the operator's memory at that point. Prints a table.
import { join } from 'node:path';
import { startControlPlane } from '../src/lab/control-plane.ts';
import { runOperator, configFrom } from '../src/operator.ts';
import { loadKubeConfig } from '../src/lib/kube.ts';
import { repoRoot } from '../src/lib/paths.ts';
import { CoreV1Api, type V1Service } from '@kubernetes/client-node';

const N = Number(process.env.BENCH_SERVICES ?? 5000);
const CHUNK = 500;

const cp = await startControlPlane({ crds: [join(repoRoot, 'crds')] });
try {
  const operator = await runOperator({
    config: configFrom({ kubeconfig: cp.kubeconfig, 'health-port': '0', 'leader-elect': 'false' }, {}),
  });
  const core = loadKubeConfig(cp.kubeconfig).makeApiClient(CoreV1Api);
  const pool = await cp.kubectl(
    ['apply', '-f', '-'],
    'apiVersion: cilium.io/v2\nkind: CiliumLoadBalancerIPPool\nmetadata: {name: bench}\nspec:\n  blocks: [{cidr: 172.30.0.0/16}]\n',
  );
  if (pool.code !== 0) throw new Error(pool.stderr);
  const ns = await cp.kubectl(['create', 'namespace', 'bench']);
  if (ns.code !== 0) throw new Error(ns.stderr);

  const t0 = performance.now();
  for (let start = 0; start < N; start += CHUNK) {
    const items = Array.from({ length: Math.min(CHUNK, N - start) }, (_, i) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${start + i}`, namespace: 'bench' },
      // No node ports: 5,000 services would exhaust the default NodePort range (30000-32767).
      spec: {
        type: 'LoadBalancer',
        allocateLoadBalancerNodePorts: false,
        ports: [{ port: 80, protocol: 'TCP' }],
        selector: { app: `a${start + i}` },
      },
    }));
    const r = await cp.kubectl(['create', '-f', '-'], JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    if (r.code !== 0) throw new Error(r.stderr);
  }
  const created = performance.now();
  let done = 0;
  for (;;) {
    const list = await core.listNamespacedService({ namespace: 'bench' });
    const ips = list.items.map((s: V1Service) => s.status?.loadBalancer?.ingress?.[0]?.ip).filter(Boolean);
    done = ips.length;
    if (done === N) {
      if (new Set(ips).size !== N) throw new Error('an address was given twice');
      break;
    }
    if (performance.now() - created > 300_000) throw new Error(`only ${done} of ${N} services got an address`);
    await new Promise((r) => setTimeout(r, 250));
  }
  const allocated = performance.now();
  globalThis.gc?.();
  const mem = process.memoryUsage();
  const rows: Array<[string, string]> = [
    ['services', String(N)],
    ['kubectl create, all services', `${((created - t0) / 1000).toFixed(1)} s`],
    ['first create -> every service has its address', `${((allocated - t0) / 1000).toFixed(1)} s`],
    ['last create -> every service has its address', `${((allocated - created) / 1000).toFixed(2)} s`],
    ['operator heap used (same process)', `${(mem.heapUsed / 2 ** 20).toFixed(0)} MiB`],
    ['process RSS (operator + bench client)', `${(mem.rss / 2 ** 20).toFixed(0)} MiB`],
  ];
  const w = Math.max(...rows.map((r) => r[0].length));
  console.log('\nLB-IPAM, 5,000 LoadBalancer Services against the real apiserver');
  for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
  await operator.stop();
} finally {
  await cp.stop();
}
