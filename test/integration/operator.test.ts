// The operator against a real apiserver, read back the way a user reads it: kubectl.
// One control plane, one leading operator for the LB-IPAM, pod-CIDR, policy-status and GC
// scenarios, and a standby that must take over when the leader is killed (last test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { runOperator, configFrom, type RunningOperator } from '../../src/operator.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import { valueOf } from '../../src/lib/metrics.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { waitFor } from '../harness/wait.ts';

let cp: ControlPlane;
let leader: RunningOperator;
let standby: RunningOperator | undefined;
/** The operator's own identity: its ServiceAccount, bound by config/operator/rbac.yaml only. */
let operatorKubeconfig: string;

function settings(identity: string) {
  return {
    kubeconfig: operatorKubeconfig,
    identity,
    'health-port': '0',
    // 32 + 16 node CIDRs from two cluster CIDRs
    'cluster-pool-ipv4-cidr': '10.20.0.0/19,10.20.64.0/20',
    'cluster-pool-ipv4-mask-size': '24',
    'gc-interval': '300ms',
    'orphan-gc-grace': '1s',
    'identity-gc-grace': '2s',
  };
}

async function startOperator(identity: string): Promise<RunningOperator> {
  return runOperator({ config: configFrom(settings(identity), {}), kc: loadKubeConfig(operatorKubeconfig) });
}

/** A kubeconfig for the operator's ServiceAccount: every scenario below runs on the shipped RBAC, nothing more. */
async function serviceAccountKubeconfig(): Promise<string> {
  const rbac = await cp.kubectl(['apply', '-f', join(repoRoot, 'config', 'operator', 'rbac.yaml')]);
  assert.equal(rbac.code, 0, rbac.stderr);
  const token = await cp.kubectl(['create', 'token', 'cilium-ts-operator', '-n', 'kube-system', '--duration=2h']);
  assert.equal(token.code, 0, token.stderr);
  const file = join(cp.dir, 'operator.kubeconfig');
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: lab, cluster: {server: "${cp.server}", certificate-authority-data: ${Buffer.from(cp.caPem).toString('base64')}}}]`,
      `users: [{name: operator, user: {token: ${token.stdout.trim()}}}]`,
      'contexts: [{name: lab, context: {cluster: lab, user: operator}}]',
      'current-context: lab',
      '',
    ].join('\n'),
    { mode: 0o600 },
  );
  return file;
}

before(async () => {
  cp = await startControlPlane({ crds: [join(repoRoot, 'crds')] });
  operatorKubeconfig = await serviceAccountKubeconfig();
  leader = await startOperator('replica-a');
  await waitFor('replica-a to lead', async () => leader.isLeader(), 10_000);
  for (const ns of ['shop', 'blog']) {
    const r = await cp.kubectl(['create', 'namespace', ns]);
    assert.equal(r.code, 0, r.stderr);
    // no controller-manager here to create it, and pods need their service account
    const sa = await cp.kubectl(['create', 'serviceaccount', 'default', '-n', ns]);
    assert.equal(sa.code, 0, sa.stderr);
  }
});

after(async () => {
  await standby?.stop();
  await leader?.stop();
  await cp?.stop();
});

async function apply(yaml: string): Promise<void> {
  const r = await cp.kubectl(['apply', '-f', '-'], yaml);
  assert.equal(r.code, 0, r.stderr);
}

async function kubectlJson<T = Record<string, unknown>>(args: string[]): Promise<T | undefined> {
  const r = await cp.kubectl([...args, '-o', 'json']);
  if (r.code !== 0) return undefined;
  return JSON.parse(r.stdout) as T;
}

interface Svc {
  status?: {
    loadBalancer?: { ingress?: { ip: string }[] };
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

async function service(ns: string, name: string) {
  const s = await kubectlJson<Svc>(['get', 'service', name, '-n', ns]);
  const cond = s?.status?.conditions?.find((c) => c.type === 'cilium.io/IPAMRequestSatisfied');
  return { ips: (s?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip), cond };
}

/** Wait until the service's condition has this status (and optionally reason), return its state. */
async function serviceSettles(
  ns: string,
  name: string,
  status: 'True' | 'False',
  extra: (s: Awaited<ReturnType<typeof service>>) => boolean = () => true,
  timeoutMs = 10_000,
) {
  return waitFor(
    `service ${ns}/${name} to be ${status}`,
    async () => {
      const s = await service(ns, name);
      return s.cond?.status === status && extra(s) ? s : undefined;
    },
    timeoutMs,
  );
}

function pool(name: string, blocks: string, selector?: string, extra = ''): string {
  return `apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: ${name}}
spec:
  blocks: ${blocks}
${selector ? `  serviceSelector: {matchLabels: ${selector}}\n` : ''}${extra}---
`;
}

function lbService(
  ns: string,
  name: string,
  o: { labels?: string; annotations?: string; ports?: number[]; cls?: string; families?: string } = {},
): string {
  return `apiVersion: v1
kind: Service
metadata:
  name: ${name}
  namespace: ${ns}
${o.labels ? `  labels: ${o.labels}\n` : ''}${o.annotations ? `  annotations: ${o.annotations}\n` : ''}spec:
  type: LoadBalancer
${o.cls ? `  loadBalancerClass: ${o.cls}\n` : ''}${o.families ? `  ${o.families}\n` : ''}  ports: [${(o.ports ?? [80]).map((p) => `{name: p${p}, port: ${p}}`).join(', ')}]
---
`;
}

/** `kubectl get ippools` as a user reads it: NAME → {DISABLED, CONFLICTING, IPS AVAILABLE}. */
async function ippoolsTable(): Promise<Map<string, string[]>> {
  const r = await cp.kubectl(['get', 'ippools']);
  assert.equal(r.code, 0, r.stderr);
  const [header, ...rows] = r.stdout.trim().split('\n');
  assert.match(header!, /^NAME\s+DISABLED\s+CONFLICTING\s+IPS AVAILABLE\s+AGE/);
  return new Map(rows.map((l) => l.split(/\s{2,}/)).map((cols) => [cols[0]!, cols.slice(1, 4)]));
}

const inRange = (ip: string | undefined, prefix: string) => !!ip && ip.startsWith(prefix);

test('LB-IPAM: a service gets an address from the pool that selects it, with the satisfied condition', async () => {
  await apply(
    pool('blue', '[{cidr: 10.0.10.0/29}]', '{color: blue}') +
      lbService('shop', 'web', { labels: '{color: blue}' }) +
      lbService('shop', 'nomatch', { labels: '{color: green}' }),
  );
  const web = await serviceSettles('shop', 'web', 'True');
  assert.equal(web.ips.length, 1);
  assert.ok(inRange(web.ips[0], '10.0.10.'), `${web.ips[0]} is not from pool blue`);
  assert.equal(web.cond?.reason, 'satisfied');
  const other = await serviceSettles('shop', 'nomatch', 'False');
  assert.deepEqual(other.ips, []);
  assert.equal(other.cond?.reason, 'no_pool');
  assert.match(other.cond?.message ?? '', /no enabled CiliumLoadBalancerIPPools that match/);
});

test('LB-IPAM: dual stack follows ipFamilyPolicy: IPv6 single stack, RequireDualStack and PreferDualStack get their families', async () => {
  await apply(
    pool('dual', '[{cidr: 10.0.60.0/29}, {cidr: "fd00:60::/125"}]', '{stack: dual}') +
      lbService('shop', 'v6', {
        labels: '{stack: dual}',
        families: 'ipFamilyPolicy: SingleStack\n  ipFamilies: [IPv6]',
      }) +
      lbService('shop', 'both', { labels: '{stack: dual}', families: 'ipFamilyPolicy: RequireDualStack' }) +
      lbService('shop', 'prefer', { labels: '{stack: dual}', families: 'ipFamilyPolicy: PreferDualStack' }),
  );
  const v6 = await serviceSettles('shop', 'v6', 'True');
  assert.equal(v6.ips.length, 1);
  assert.ok(v6.ips[0]!.startsWith('fd00:60::'), `${v6.ips[0]} is not from the IPv6 block`);
  for (const name of ['both', 'prefer']) {
    const s = await serviceSettles('shop', name, 'True', (x) => x.ips.length === 2);
    assert.ok(
      s.ips.some((ip) => ip.startsWith('10.0.60.')) && s.ips.some((ip) => ip.startsWith('fd00:60::')),
      `${name}: ${s.ips.join(', ')}`,
    );
  }
});

test('LB-IPAM: kubectl get ippools shows DISABLED, CONFLICTING and IPS AVAILABLE from the pool conditions', async () => {
  const row = await waitFor('pool blue to count its used address', async () => {
    const r = (await ippoolsTable()).get('blue');
    return r && r[2] === '7' ? r : undefined;
  });
  assert.deepEqual(row, ['false', 'False', '7']);
  const p = await kubectlJson<{ status: { conditions: { type: string; status: string; message: string }[] } }>([
    'get',
    'ippool',
    'blue',
  ]);
  const cond = (t: string) => p!.status.conditions.find((c) => c.type === t);
  assert.equal(cond('cilium.io/IPsTotal')?.message, '8');
  assert.equal(cond('cilium.io/IPsUsed')?.message, '1');
  assert.equal(cond('cilium.io/PoolConflict')?.status, 'False');
});

test('LB-IPAM: a newer pool overlapping an older one is conflicting and hands out nothing', async () => {
  await apply(
    pool('blue-overlap', '[{cidr: 10.0.10.4/30}]', '{color: teal}') +
      lbService('shop', 'teal', { labels: '{color: teal}' }),
  );
  const row = await waitFor('blue-overlap to be conflicting', async () => {
    const r = (await ippoolsTable()).get('blue-overlap');
    return r?.[1] === 'True' ? r : undefined;
  });
  assert.equal(row[0], 'false');
  const p = await kubectlJson<{ status: { conditions: { type: string; reason: string; message: string }[] } }>([
    'get',
    'ippool',
    'blue-overlap',
  ]);
  const c = p!.status.conditions.find((x) => x.type === 'cilium.io/PoolConflict')!;
  assert.equal(c.reason, 'cidr_overlap');
  assert.match(c.message, /overlaps range '10\.0\.10\.0 - 10\.0\.10\.7' from IP Pool 'blue'/);
  const teal = await serviceSettles('shop', 'teal', 'False');
  assert.deepEqual(teal.ips, []);
  // Remove the overlap: the pool recovers and serves the waiting service.
  await apply(pool('blue-overlap', '[{cidr: 10.0.11.0/30}]', '{color: teal}'));
  const served = await serviceSettles('shop', 'teal', 'True');
  assert.ok(inRange(served.ips[0], '10.0.11.'), served.ips[0]);
  assert.equal((await ippoolsTable()).get('blue-overlap')?.[1], 'False');
});

test('LB-IPAM: deleting a pool re-allocates its services from another matching pool', async () => {
  await apply(pool('green-1', '[{cidr: 10.0.20.0/30}]', '{color: green}'));
  await new Promise((r) => setTimeout(r, 300)); // green-1 is the older pool, so it serves first
  await apply(pool('green-2', '[{start: 10.0.21.10, stop: 10.0.21.12}]', '{color: green}'));
  const first = await serviceSettles('shop', 'nomatch', 'True');
  assert.ok(inRange(first.ips[0], '10.0.20.'), `expected green-1, got ${first.ips[0]}`);
  const r = await cp.kubectl(['delete', 'ippool', 'green-1']);
  assert.equal(r.code, 0, r.stderr);
  const moved = await serviceSettles('shop', 'nomatch', 'True', (s) => inRange(s.ips[0], '10.0.21.'));
  assert.deepEqual(moved.ips, ['10.0.21.10']);
});

test('LB-IPAM: deleting a service frees its address for a waiting one at once', async () => {
  await apply(
    pool('tiny', '[{cidr: 10.0.30.7/32}]', '{size: tiny}') + lbService('blog', 'first', { labels: '{size: tiny}' }),
  );
  const first = await serviceSettles('blog', 'first', 'True');
  assert.deepEqual(first.ips, ['10.0.30.7']);
  await apply(lbService('blog', 'second', { labels: '{size: tiny}' }));
  const waiting = await serviceSettles('blog', 'second', 'False');
  assert.equal(waiting.cond?.reason, 'out_of_ips');
  const started = Date.now();
  const r = await cp.kubectl(['delete', 'service', 'first', '-n', 'blog']);
  assert.equal(r.code, 0, r.stderr);
  const second = await serviceSettles('blog', 'second', 'True');
  assert.deepEqual(second.ips, ['10.0.30.7']);
  assert.ok(Date.now() - started < 5_000, `took ${Date.now() - started} ms`);
});

test('LB-IPAM: services with one sharing key share an address unless their ports clash', async () => {
  const key = `{lbipam.cilium.io/sharing-key: shared}`;
  await apply(
    pool('shared', '[{cidr: 10.0.40.0/29}]', '{team: shared}') +
      lbService('shop', 'dns-udp', { labels: '{team: shared}', annotations: key, ports: [53] }) +
      lbService('shop', 'http', { labels: '{team: shared}', annotations: key, ports: [80] }),
  );
  const a = await serviceSettles('shop', 'dns-udp', 'True');
  const b = await serviceSettles('shop', 'http', 'True');
  assert.equal(a.ips[0], b.ips[0], 'no shared address');
  await apply(lbService('shop', 'http-2', { labels: '{team: shared}', annotations: key, ports: [80] }));
  const c = await serviceSettles('shop', 'http-2', 'True');
  assert.notEqual(c.ips[0], a.ips[0], 'a clashing port shared the address');
  // another namespace does not share without the cross-namespace annotation on both sides
  await apply(lbService('blog', 'dns-tcp', { labels: '{team: shared}', annotations: key, ports: [54] }));
  const d = await serviceSettles('blog', 'dns-tcp', 'True');
  assert.notEqual(d.ips[0], a.ips[0]);
});

test('LB-IPAM: a requested address is honoured, and a second request for it says already allocated', async () => {
  const req = `{lbipam.cilium.io/ips: "10.0.50.9"}`;
  await apply(
    pool('requests', '[{cidr: 10.0.50.0/28}]', '{want: ip}') +
      lbService('shop', 'wants-9', { labels: '{want: ip}', annotations: req }),
  );
  const a = await serviceSettles('shop', 'wants-9', 'True');
  assert.deepEqual(a.ips, ['10.0.50.9']);
  await apply(lbService('shop', 'wants-9-too', { labels: '{want: ip}', annotations: req }));
  const b = await serviceSettles('shop', 'wants-9-too', 'False');
  assert.equal(b.cond?.reason, 'already_allocated');
  assert.deepEqual(b.ips, []);
});

test('LB-IPAM: a service of another loadBalancerClass is left alone; one that stops being a LoadBalancer is released', async () => {
  await apply(lbService('shop', 'other-class', { labels: '{color: blue}', cls: 'example.com/metal' }));
  await apply(lbService('shop', 'marker', { labels: '{color: blue}' }));
  await serviceSettles('shop', 'marker', 'True'); // a pass that saw other-class has happened
  await leader.idle();
  const s = await service('shop', 'other-class');
  assert.deepEqual(s.ips, []);
  assert.equal(s.cond, undefined);
  // A service that stops being a LoadBalancer gives its address and our condition back.
  const r = await cp.kubectl([
    'patch',
    'service',
    'marker',
    '-n',
    'shop',
    '--type=merge',
    '-p',
    '{"spec":{"type":"ClusterIP"}}',
  ]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('marker to be released', async () => {
    const m = await service('shop', 'marker');
    return (m.ips.length === 0 && m.cond === undefined) || undefined;
  });
});

test('LB-IPAM: a service whose status cannot be written does not hold up the others', async () => {
  // A real admission policy freezes one Service's status: every write of it is refused.
  await apply(`apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {name: freeze-poison}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules: [{apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [services/status]}]
  validations: [{expression: "object.metadata.name != 'poison'", message: "status of poison is frozen"}]
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {name: freeze-poison}
spec: {policyName: freeze-poison, validationActions: [Deny]}
`);
  const probe = await cp.kubectl(['create', 'service', 'clusterip', 'poison', '-n', 'blog', '--tcp=80']);
  assert.equal(probe.code, 0, probe.stderr);
  await waitFor('the admission policy to be in force', async () => {
    const r = await cp.kubectl([
      'patch',
      'service',
      'poison',
      '-n',
      'blog',
      '--subresource=status',
      '--type=merge',
      '-p',
      '{"status":{"conditions":[]}}',
    ]);
    return /frozen/.test(r.stderr) || undefined;
  });
  const errorsBefore = await valueOf(leader.metrics.reconcileErrors, { controller: 'lb-ipam' });
  await apply(
    lbService('blog', 'poison', { labels: '{color: blue}' }) +
      lbService('blog', 'healthy-1', { labels: '{color: blue}' }),
  );
  await serviceSettles('blog', 'healthy-1', 'True');
  await waitFor(
    'the poisoned write to fail',
    async () => (await valueOf(leader.metrics.reconcileErrors, { controller: 'lb-ipam' })) > errorsBefore,
  );
  const started = Date.now();
  await apply(lbService('blog', 'healthy-2', { labels: '{color: blue}' }));
  await serviceSettles('blog', 'healthy-2', 'True');
  const served = Date.now() - started;
  assert.ok(served < 3_000, `a later service waited ${served} ms behind the failing one`);
  assert.deepEqual((await service('blog', 'poison')).ips, []);
  // Lift the freeze: the poisoned service is served on its next retry.
  const r = await cp.kubectl(['delete', 'validatingadmissionpolicybinding', 'freeze-poison']);
  assert.equal(r.code, 0, r.stderr);
  const healed = await serviceSettles('blog', 'poison', 'True', undefined, 20_000);
  assert.equal(healed.ips.length, 1);
});

test('pod-CIDR: 50 CiliumNodes get disjoint pod CIDRs from two cluster CIDRs; exhaustion shows in status; deleted nodes free theirs', async () => {
  const names = Array.from({ length: 50 }, (_, i) => `node-${String(i).padStart(2, '0')}`);
  // Nodes too, or the garbage collector would rightly remove CiliumNodes without one.
  const nodeYaml = (n: string) => `apiVersion: v1\nkind: Node\nmetadata: {name: ${n}}\n---\n`;
  const cnYaml = (n: string) => `apiVersion: cilium.io/v2\nkind: CiliumNode\nmetadata: {name: ${n}}\nspec: {}\n---\n`;
  await apply(names.map((n) => nodeYaml(n) + cnYaml(n)).join(''));
  type CN = {
    metadata: { name: string };
    spec?: { ipam?: { podCIDRs?: string[] } };
    status?: { ipam?: { 'operator-status'?: { error?: string } } };
  };
  const list = async () => (await kubectlJson<{ items: CN[] }>(['get', 'ciliumnodes']))!.items;
  const cidrOf = (n: CN | undefined) => n?.spec?.ipam?.podCIDRs?.[0];
  const errorOf = (n: CN | undefined) => n?.status?.ipam?.['operator-status']?.error;
  const settled = await waitFor('48 nodes with CIDRs and 2 with an error', async () => {
    const items = await list();
    return items.filter(cidrOf).length === 48 && items.filter(errorOf).length === 2 ? items : undefined;
  });
  const cidrs = settled.flatMap((n) => n.spec?.ipam?.podCIDRs ?? []);
  assert.equal(new Set(cidrs).size, 48, 'two nodes share a CIDR');
  assert.ok(
    cidrs.every(
      (c) =>
        /^10\.20\.(\d+)\.0\/24$/.test(c) &&
        (Number(c.split('.')[2]) < 32 || (Number(c.split('.')[2]) >= 64 && Number(c.split('.')[2]) < 80)),
    ),
    `${cidrs}`,
  );
  const starved = settled.filter(errorOf).map((n) => n.metadata.name);
  assert.match(errorOf(settled.find((n) => n.metadata.name === starved[0]))!, /no remaining CIDRs/);

  // Two nodes go (CiliumNode and Node): the starved ones get their CIDRs, and nothing else moves.
  const victims = settled.filter(cidrOf).slice(0, 2);
  const freed = victims.map(cidrOf).sort();
  const r = await cp.kubectl(['delete', 'ciliumnode,node', ...victims.map((v) => v.metadata.name)]);
  assert.equal(r.code, 0, r.stderr);
  const healed = await waitFor('the starved nodes to get the freed CIDRs', async () => {
    const items = await list();
    const got = starved.map((n) => items.find((x) => x.metadata.name === n));
    return got.every((n) => cidrOf(n) && !errorOf(n)) ? items : undefined;
  });
  assert.deepEqual(starved.map((n) => cidrOf(healed.find((x) => x.metadata.name === n))).sort(), freed);
  const before = new Map(settled.map((n) => [n.metadata.name, cidrOf(n)]));
  for (const n of healed)
    if (!starved.includes(n.metadata.name))
      assert.equal(cidrOf(n), before.get(n.metadata.name), `${n.metadata.name} moved`);

  // Re-added, they find the pools full: the error is in their status, not a crash.
  await apply(victims.map((v) => nodeYaml(v.metadata.name) + cnYaml(v.metadata.name)).join(''));
  await waitFor('the re-added nodes to report exhaustion', async () => {
    const items = await list();
    return (
      victims.every((v) =>
        /no remaining CIDRs/.test(errorOf(items.find((x) => x.metadata.name === v.metadata.name)) ?? ''),
      ) || undefined
    );
  });
});

test("LB-IPAM: a disabled pool keeps its allocations but gives no new ones; changing a service's labels moves it", async () => {
  await apply(pool('shared', '[{cidr: 10.0.40.0/29}]', '{team: shared}', '  disabled: true\n'));
  await waitFor(
    'kubectl to show shared disabled',
    async () => (await ippoolsTable()).get('shared')?.[0] === 'true' || undefined,
  );
  await apply(lbService('shop', 'late', { labels: '{team: shared}', ports: [8443] }));
  const late = await serviceSettles('shop', 'late', 'False');
  assert.equal(late.cond?.reason, 'no_pool');
  const kept = await service('shop', 'http');
  assert.equal(kept.cond?.status, 'True');
  assert.ok(inRange(kept.ips[0], '10.0.40.'), 'a disabled pool took back an address');
  // relabel: the service leaves the disabled pool's selector and is served by blue
  const r = await cp.kubectl(['label', 'service', 'late', '-n', 'shop', 'team-', 'color=blue']);
  assert.equal(r.code, 0, r.stderr);
  const moved = await serviceSettles('shop', 'late', 'True');
  assert.ok(inRange(moved.ips[0], '10.0.10.'), moved.ips[0]);
});

test('policy status: a stored invalid policy shows Valid=False with the validator message; a valid one True', async () => {
  // No webhook in this control plane: the invalid policy is stored, as if the webhook had been down.
  await apply(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad-range, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - toPorts: [{ports: [{port: "8080", endPort: 80, protocol: TCP}]}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: good, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
---
apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: cluster-good}
spec:
  endpointSelector: {}
  ingress:
    - fromEntities: [cluster]
`);
  const table = await waitFor('kubectl get cnp to show validity', async () => {
    const r = await cp.kubectl(['get', 'cnp', '-n', 'shop']);
    return /bad-range\s+\S+\s+False/.test(r.stdout) && /good\s+\S+\s+True/.test(r.stdout) ? r.stdout : undefined;
  });
  assert.match(table, /NAME\s+AGE\s+VALID/);
  const bad = await kubectlJson<{
    status: { conditions: { type: string; status: string; reason: string; message: string }[] };
  }>(['get', 'cnp', 'bad-range', '-n', 'shop']);
  const c = bad!.status.conditions.find((x) => x.type === 'Valid')!;
  assert.equal(c.reason, 'Invalid');
  assert.match(c.message, /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.endPort: /);
  await waitFor('the clusterwide policy to be valid', async () =>
    /cluster-good\s+True/.test((await cp.kubectl(['get', 'ccnp'])).stdout),
  );
  // Fixing the policy flips the condition.
  await apply(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad-range, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - toPorts: [{ports: [{port: "8080", endPort: 8090, protocol: TCP}]}]
`);
  await waitFor('the fixed policy to be valid', async () =>
    /bad-range\s+\S+\s+True/.test((await cp.kubectl(['get', 'cnp', '-n', 'shop'])).stdout),
  );
});

test('GC: an unused identity goes after the grace period, one in use stays; an endpoint without its pod goes', async () => {
  await apply(`apiVersion: cilium.io/v2
kind: CiliumIdentity
metadata: {name: "40001"}
security-labels: {"k8s:app": used}
---
apiVersion: cilium.io/v2
kind: CiliumIdentity
metadata: {name: "40002"}
security-labels: {"k8s:app": unused}
---
apiVersion: v1
kind: Pod
metadata: {name: alive, namespace: shop}
spec:
  containers: [{name: c, image: example.invalid/none}]
---
apiVersion: cilium.io/v2
kind: CiliumEndpoint
metadata: {name: alive, namespace: shop}
status: {identity: {id: 40001}}
---
apiVersion: cilium.io/v2
kind: CiliumEndpoint
metadata: {name: ghost, namespace: shop}
status: {identity: {id: 40001}}
`);
  const started = Date.now();
  await waitFor(
    'identity 40002 to be collected',
    async () => (await cp.kubectl(['get', 'ciliumidentity', '40002'])).code !== 0 || undefined,
  );
  const took = Date.now() - started;
  assert.ok(took >= 1_500, `collected after ${took} ms, before the 2 s grace period`);
  await waitFor(
    'endpoint ghost to be collected',
    async () => (await cp.kubectl(['get', 'cep', 'ghost', '-n', 'shop'])).code !== 0 || undefined,
  );
  // The ghost also used 40001, but alive still does: 40001 and alive stay.
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal((await cp.kubectl(['get', 'ciliumidentity', '40001'])).code, 0, 'an identity in use was deleted');
  assert.equal(
    (await cp.kubectl(['get', 'cep', 'alive', '-n', 'shop'])).code,
    0,
    'an endpoint with its pod was deleted',
  );
  assert.ok((await valueOf(leader.metrics.gcDeleted, { kind: 'CiliumIdentity' })) >= 1);
});

test('metrics, healthz and readyz are served', async () => {
  const base = `http://127.0.0.1:${leader.port}`;
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
  assert.equal((await fetch(`${base}/readyz`)).status, 200);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.match(text, /controller_runtime_reconcile_total\{controller="lb-ipam",result="success"\} \d+/);
  assert.match(text, /cilium_operator_lbipam_ips_available_total\{pool="blue"\} \d+/);
  assert.match(text, /leader_election_master_status\{name="cilium-operator-resource-lock"\} 1/);
});

test('leader election: 200 services at once, leader killed midway: the standby takes over within 20 s, every service gets exactly one unique address', async () => {
  standby = await startOperator('replica-b');
  await new Promise((r) => setTimeout(r, 2_500));
  assert.equal(standby.isLeader(), false, 'two leaders');
  assert.equal(leader.isLeader(), true);
  const lease = async () =>
    (
      await kubectlJson<{ spec: { holderIdentity: string } }>([
        'get',
        'lease',
        'cilium-operator-resource-lock',
        '-n',
        'kube-system',
      ])
    )?.spec.holderIdentity;
  assert.equal(await lease(), 'replica-a');

  const ns = await cp.kubectl(['create', 'namespace', 'burst']);
  assert.equal(ns.code, 0, ns.stderr);
  const burstPools = ['burst-a', 'burst-b'];
  await apply(
    pool('burst-a', '[{cidr: 10.1.0.0/25}]', '{io.kubernetes.service.namespace: burst}') +
      pool('burst-b', '[{start: 10.1.1.0, stop: 10.1.1.127}]', '{io.kubernetes.service.namespace: burst}'),
  );
  const n = 200;
  const manifests = Array.from({ length: n }, (_, i) => lbService('burst', `svc-${String(i).padStart(3, '0')}`)).join(
    '',
  );
  const writesBefore = await valueOf(leader.metrics.writes, { controller: 'lb-ipam', kind: 'Service' });
  const applying = cp.kubectl(['apply', '-f', '-'], manifests);
  await waitFor(
    'the leader to be allocating',
    async () => (await valueOf(leader.metrics.writes, { controller: 'lb-ipam', kind: 'Service' })) - writesBefore >= 10,
    20_000,
  );
  const killed = Date.now();
  await leader.crash();
  const writesByA = (await valueOf(leader.metrics.writes, { controller: 'lb-ipam', kind: 'Service' })) - writesBefore;
  const applied = await applying;
  assert.equal(applied.code, 0, applied.stderr);
  type List = { items: (Svc & { metadata: { name: string } })[] };
  const snapshot = async () => (await kubectlJson<List>(['get', 'services', '-n', 'burst']))!.items;
  const beforeTakeover = new Map(
    (await snapshot())
      .filter((s) => s.status?.loadBalancer?.ingress?.length)
      .map((s) => [s.metadata.name, s.status!.loadBalancer!.ingress![0]!.ip]),
  );

  await waitFor('replica-b to lead', async () => standby!.isLeader(), 20_000);
  const takeover = Date.now() - killed;
  const items = await waitFor(
    'all 200 services to be satisfied',
    async () => {
      const all = await snapshot();
      return all.length === n &&
        all.every((s) =>
          s.status?.conditions?.some((c) => c.type === 'cilium.io/IPAMRequestSatisfied' && c.status === 'True'),
        )
        ? all
        : undefined;
    },
    30_000,
  );
  const served = Date.now() - killed;
  console.log(
    `# failover: replica-a wrote ${writesByA} services before it was killed; replica-b led ${takeover} ms after, all ${n} served after ${served} ms`,
  );
  assert.ok(takeover < 20_000, `took ${takeover} ms`);
  assert.equal(await lease(), 'replica-b');

  const ips = items.map((s) => s.status!.loadBalancer!.ingress!.map((i) => i.ip));
  assert.ok(
    ips.every((l) => l.length === 1),
    'a service has other than one address',
  );
  const flat = ips.map((l) => l[0]!);
  assert.equal(new Set(flat).size, n, 'an address was given twice');
  assert.ok(flat.every((ip) => ip.startsWith('10.1.0.') || ip.startsWith('10.1.1.')));
  // The new leader reshuffled nothing the old one had written.
  for (const s of items)
    if (beforeTakeover.has(s.metadata.name))
      assert.equal(s.status!.loadBalancer!.ingress![0]!.ip, beforeTakeover.get(s.metadata.name));
  // Pool counters add up, as kubectl shows them.
  const counts = await waitFor('pool counters to settle', async () => {
    const t = await ippoolsTable();
    const avail = burstPools.map((p) => Number(t.get(p)?.[2]));
    return avail[0]! + avail[1]! === 256 - n ? avail : undefined;
  });
  assert.equal(counts[0]! + counts[1]!, 56);
  // And a fresh service after the failover is served too.
  await apply(lbService('blog', 'after-failover', { labels: '{color: blue}' }));
  const s = await serviceSettles('blog', 'after-failover', 'True');
  assert.ok(inRange(s.ips[0], '10.0.10.'));
});

test('leader election: a leader that loses its lease stops reconciling at once', async () => {
  assert.ok(standby?.isLeader());
  const stolen = Date.now();
  const r = await cp.kubectl([
    'patch',
    'lease',
    'cilium-operator-resource-lock',
    '-n',
    'kube-system',
    '--type=merge',
    '-p',
    '{"spec":{"holderIdentity":"intruder"}}',
  ]);
  assert.equal(r.code, 0, r.stderr);
  await waitFor('replica-b to step down', async () => !standby!.isLeader(), 5_000);
  const stepDown = Date.now() - stolen;
  console.log(`# lost lease: replica-b stopped leading ${stepDown} ms after the lease was taken`);
  assert.ok(stepDown < 3_000, `took ${stepDown} ms (one retry period is 2 s)`);
  assert.equal(await valueOf(standby!.metrics.isLeader, { name: 'cilium-operator-resource-lock' }), 0);
  // With nobody leading, a new service stays untouched.
  await apply(lbService('blog', 'while-leaderless', { labels: '{color: blue}' }));
  await new Promise((res) => setTimeout(res, 1_000));
  assert.deepEqual((await service('blog', 'while-leaderless')).ips, []);
});
