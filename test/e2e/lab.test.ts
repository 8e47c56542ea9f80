// The lab as a user drives it: `cilium-ts lab up --detach`, kubectl against the printed
// kubeconfig, `lab down` — and nothing left behind (no processes, no state).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';
import { runKubectl } from '../../src/lab/control-plane.ts';

const labDir = join(mkdtempSync(join(tmpdir(), 'cilium-ts-lab-test-')), 'lab');
const env = { ...process.env, CILIUM_TS_LAB_DIR: labDir };

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(join(repoRoot, 'bin', 'cilium-ts'), args, { env, timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

/** pids of processes whose command line mentions the lab folder */
function processesUsing(dir: string): number[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
      } catch {
        return false;
      }
    })
    .map(Number);
}

after(async () => {
  await cli(['lab', 'down']);
  rmSync(join(labDir, '..'), { recursive: true, force: true });
});

test('lab up --detach boots a cluster with our CRDs and samples; lab down leaves nothing', async () => {
  const up = await cli(['lab', 'up', '--detach']);
  assert.equal(up.code, 0, up.stderr);
  const kubeconfig = up.stdout.trim().split('\n').pop()!;
  assert.equal(kubeconfig, join(labDir, 'kubeconfig'));

  const cnps = await runKubectl(kubeconfig, ['get', 'cnp', '-A', '-o', 'name']);
  assert.equal(cnps.code, 0, cnps.stderr);
  assert.match(cnps.stdout, /ciliumnetworkpolicy.cilium.io\/frontend-to-backend/);
  const crds = await runKubectl(kubeconfig, ['get', 'crds', '-o', 'name']);
  assert.match(crds.stdout, /ciliumendpoints.cilium.io/);

  // the lab runs our admission webhook: a bad policy never reaches the cluster
  const bad = await runKubectl(
    kubeconfig,
    ['apply', '-f', '-'],
    `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad, namespace: demo}
spec:
  endpointSelector: {}
  egress:
    - toCIDRSet: [{cidr: 10.0.0.0/16, except: [10.1.0.0/24]}]
`,
  );
  assert.notEqual(bad.code, 0, 'the lab accepted an invalid policy');
  assert.match(bad.stderr, /denied the request: .*\n?.*spec\.egress\[0\]\.toCIDRSet\[0\]\.except\[0\]/);

  // kube-controller-manager runs: deleting a namespace really empties and removes it
  const del = await runKubectl(kubeconfig, ['delete', 'namespace', 'demo', '--timeout=60s']);
  assert.equal(del.code, 0, del.stderr);
  const gone = await runKubectl(kubeconfig, ['get', 'cnp', '-n', 'demo', '-o', 'name']);
  assert.equal(gone.stdout.trim(), '');

  const again = await cli(['lab', 'up', '--detach']);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already running/);

  assert.ok(processesUsing(labDir).length >= 3, 'etcd, kube-apiserver and kube-controller-manager should be running');
  const down = await cli(['lab', 'down']);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(labDir), false, 'lab state left behind');
  assert.deepEqual(processesUsing(labDir), [], 'processes left behind');
});

test('the inspection commands read the running lab: status, endpoints, identities, policies, explain, bpf maps', async () => {
  const up = await cli(['lab', 'up', '--detach']);
  assert.equal(up.code, 0, up.stderr);
  const kubeconfig = up.stdout.trim().split('\n').pop()!;
  try {
    for (const [name, labels] of [
      ['web', 'app=web'],
      ['db', 'app=db'],
    ] as const) {
      const add = await cli(['lab', 'pod', 'add', `demo/${name}`, '--labels', labels, '--ports', '5432/TCP,8080/TCP']);
      assert.equal(add.code, 0, add.stderr);
    }
    const policy = await runKubectl(
      kubeconfig,
      ['apply', '-f', '-'],
      `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: db-from-web, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: db}}
  ingress: [{fromEndpoints: [{matchLabels: {app: web}}], toPorts: [{ports: [{port: "5432", protocol: TCP}]}]}]
`,
    );
    assert.equal(policy.code, 0, policy.stderr);
    // The agent holds the policy once `policy get` lists it.
    const deadline = Date.now() + 15_000;
    for (;;) {
      const got = await cli(['policy', 'get', '-o', 'json']);
      if (
        got.code === 0 &&
        (JSON.parse(got.stdout) as { policies: Array<{ name: string }> }).policies.some((p) => p.name === 'db-from-web')
      )
        break;
      assert.ok(Date.now() < deadline, `the agent never listed the policy: ${got.stdout}${got.stderr}`);
      await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal((await cli(['lab', 'probe', 'demo/web', 'demo/db', '--port', '5432'])).stdout.trim(), 'allowed');
    assert.equal((await cli(['lab', 'probe', 'demo/web', 'demo/db', '--port', '8080'])).stdout.trim(), 'denied');

    const status = await cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /Agent:\s+ok/);
    assert.match(status.stdout, /Endpoints:\s+\d+\/\d+ ready, \d+ enforcing ingress/);
    const statusJson = JSON.parse((await cli(['status', '--verbose', '-o', 'json'])).stdout) as {
      endpoints: { total: number };
      maps: Array<{ name: string }>;
    };
    assert.ok(statusJson.endpoints.total >= 2);
    assert.ok(statusJson.maps.some((m) => m.name === 'cilium_ipcache'));

    const eps = await cli(['endpoint', 'list']);
    assert.match(eps.stdout, /^ENDPOINT\s+POLICY \(ingress\)\s+POLICY \(egress\)\s+IDENTITY/);
    assert.match(eps.stdout, /\bEnabled\s+Disabled\s+\d+\s+.*k8s:app=db.*\s+ready/);
    const epList = JSON.parse((await cli(['endpoint', 'list', '-o', 'json'])).stdout) as Array<{
      id: number;
      pod: string;
      identity: number;
    }>;
    const db = epList.find((e) => e.pod === 'db')!,
      web = epList.find((e) => e.pod === 'web')!;
    assert.ok(db && web);

    const ids = await cli(['identity', 'get', String(web.identity)]);
    assert.match(ids.stdout, /k8s:app=web/);
    const explain = await cli(['policy', 'explain', 'demo/web', 'demo/db', '--port', '5432']);
    assert.equal(explain.code, 0, explain.stderr);
    assert.match(
      explain.stdout,
      /ALLOWED[\s\S]*ingress\s+allowed\s+CiliumNetworkPolicy demo\/db-from-web spec\.ingress\[0\]/,
    );
    const denied = await cli(['policy', 'explain', 'demo/web', 'demo/db', '--port', '8080']);
    assert.equal(denied.code, 1);
    assert.match(
      denied.stdout,
      /DEFAULT-DENIED[\s\S]*enforcement is on because of CiliumNetworkPolicy demo\/db-from-web/,
    );

    const bpfPolicy = JSON.parse((await cli(['bpf', 'policy', 'get', 'demo/db', '-o', 'json'])).stdout) as Array<{
      identity: number;
      port: number;
      verdict: string;
      rules: string[];
    }>;
    const entry = bpfPolicy.find((e) => e.identity === web.identity && e.port === 5432);
    assert.ok(entry, `no kernel entry for identity ${web.identity} port 5432: ${JSON.stringify(bpfPolicy)}`);
    assert.equal(entry.verdict, 'allow');
    assert.deepEqual(entry.rules, ['CiliumNetworkPolicy demo/db-from-web spec.ingress[0]']);
    const ipcache = await cli(['bpf', 'ipcache', 'list']);
    assert.match(ipcache.stdout, new RegExp(`/32\\s+${web.identity}\\n`));
    const ct = await cli(['bpf', 'ct', 'list']);
    assert.match(ct.stdout, /^PROTO\s+SOURCE\s+DESTINATION/);
    assert.match(ct.stdout, /TCP\s+\S+\s+\S+:5432\s+/);
    // Flows from the kernel's events, through the observer API, as `cilium-ts observe` prints them.
    interface Obs {
      flow: {
        verdict: string;
        drop_reason_desc?: string;
        traffic_direction: string;
        l4?: { TCP?: { destination_port: number } };
        source: { identity: number; pod_name?: string; labels?: string[] };
        destination: { identity: number; pod_name?: string };
        ingress_allowed_by?: Array<{ name: string; kind: string; labels: string[] }>;
        ingress_denied_by?: Array<{ name: string; kind: string }>;
      };
    }
    const obs = await cli(['observe', '--namespace', 'demo', '--last', '200', '-o', 'json']);
    assert.equal(obs.code, 0, obs.stderr);
    const flows = obs.stdout
      .trim()
      .split('\n')
      .map((l) => (JSON.parse(l) as Obs).flow);
    // The ingress side: db's policy decides (web's egress, unenforced, is a flow of its own).
    const to = (port: number, verdict: string) =>
      flows.find(
        (f) =>
          f.verdict === verdict &&
          f.traffic_direction === 'INGRESS' &&
          f.source.pod_name === 'web' &&
          f.destination.pod_name === 'db' &&
          f.l4?.TCP?.destination_port === port,
      );
    const drop = to(8080, 'DROPPED');
    assert.ok(drop, `no DROPPED web -> db:8080 flow among ${flows.length}`);
    assert.equal(drop.drop_reason_desc, 'POLICY_DENIED');
    assert.equal(drop.traffic_direction, 'INGRESS');
    assert.equal(drop.source.identity, web.identity);
    assert.equal(drop.destination.identity, db.identity);
    assert.ok(drop.source.labels?.includes('k8s:app=web'));
    assert.deepEqual(
      drop.ingress_denied_by?.map((p) => `${p.kind}/${p.name}`),
      ['CiliumNetworkPolicy/db-from-web'],
    );
    const fwd = to(5432, 'FORWARDED');
    assert.ok(fwd, 'no FORWARDED web -> db:5432 flow');
    assert.deepEqual(
      fwd.ingress_allowed_by?.map((p) => p.name),
      ['db-from-web'],
    );
    assert.ok(fwd.ingress_allowed_by?.[0]?.labels.includes('cilium-ts:rule=spec.ingress[0]'));
    const compact = await cli(['observe', '--verdict', 'DROPPED', '--to-pod', 'demo/db', '--last', '5']);
    assert.match(
      compact.stdout,
      /demo\/web:\d+ \(ID:\d+\) -> demo\/db:8080 \(ID:\d+\) Policy denied DROPPED \(TCP Flags: SYN\) by CiliumNetworkPolicy\/demo\/db-from-web ingress-default-deny/,
    );

    const maps = await cli(['map', 'list']);
    assert.match(maps.stdout, /cilium_policy\s+\d+\s+65536/);
  } finally {
    const down = await cli(['lab', 'down']);
    assert.equal(down.code, 0, down.stderr);
  }
  assert.deepEqual(processesUsing(labDir), [], 'processes left behind');
});
