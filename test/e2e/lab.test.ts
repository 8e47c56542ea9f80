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
