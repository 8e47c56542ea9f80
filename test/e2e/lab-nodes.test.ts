// A lab of several nodes as a user drives it: `lab up --detach --nodes 2`, `lab node list`, pods
// spread over the nodes, a policy across nodes, `--ip`, one node's agent stopped and started,
// the real hubble CLI through Hubble Relay, and `lab down` leaving nothing behind.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';
import { runKubectl } from '../../src/lab/control-plane.ts';
import { LAB_PIN_ROOT } from '../../src/lab/lab.ts';
import { UNDERLAY_BRIDGE } from '../../src/lab/paths.ts';

const labDir = join(mkdtempSync(join(tmpdir(), 'cilium-ts-lab-nodes-test-')), 'lab');
const env = { ...process.env, CILIUM_TS_LAB_DIR: labDir };

type Ran = { code: number; stdout: string; stderr: string };
function run(cmd: string, args: string[], timeout = 300_000): Promise<Ran> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}
const cli = (args: string[]) => run(join(repoRoot, 'bin', 'cilium-ts'), args);

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

async function probe(from: string, to: string, port = 80): Promise<string> {
  return (await cli(['lab', 'probe', from, to, '--port', String(port)])).stdout.trim();
}

/** Polls until the probe's verdict is `want` (policy changes reach the agents asynchronously). */
async function probeUntil(from: string, to: string, want: 'allowed' | 'denied', timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: string;
  while ((got = await probe(from, to)) !== want) {
    assert.ok(Date.now() < deadline, `${from} → ${to}: ${got}, expected ${want}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

interface NodeInfo {
  name: string;
  addresses: Array<{ type: string; address: string }>;
  podCIDRs: string[];
  agent: { pid: number | null; health: string };
}

after(async () => {
  await cli(['lab', 'down']);
  rmSync(join(labDir, '..'), { recursive: true, force: true });
});

test('lab up --nodes 2: nodes, pods across them, policy, --ip, node stop/start, relay', async () => {
  const up = await cli(['lab', 'up', '--detach', '--nodes', '2', '--no-dns']);
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const kubeconfig = up.stdout.trim().split('\n').pop()!;

  const list = await cli(['lab', 'node', 'list', '-o', 'json']);
  assert.equal(list.code, 0, list.stderr);
  const nodes = JSON.parse(list.stdout) as NodeInfo[];
  assert.deepEqual(
    nodes.map((n) => n.name),
    ['node-1', 'node-2'],
  );
  for (const [i, n] of nodes.entries()) {
    assert.ok(
      n.addresses.some((a) => a.type === 'InternalIP' && a.address === `172.31.240.${11 + i}`),
      n.name,
    );
    assert.equal(n.podCIDRs.length, 1, `${n.name} has no pod CIDR`);
    assert.equal(n.agent.health, 'ok', `${n.name}'s agent`);
  }
  const [cidr1, cidr2] = nodes.map((n) => n.podCIDRs[0]!);

  const ns = await runKubectl(kubeconfig, ['create', 'namespace', 'x']);
  assert.equal(ns.code, 0, ns.stderr);
  // Spread evenly: one after the other, each pod goes to the node with the fewest.
  const placed: Record<string, string> = {};
  for (const name of ['a', 'b', 'c']) {
    const add = await cli(['lab', 'pod', 'add', `x/${name}`, '--labels', `pod=${name}`, '--ports', '80/TCP']);
    assert.equal(add.code, 0, add.stderr);
    placed[name] = /node (node-\d)/.exec(add.stdout)![1]!;
  }
  assert.deepEqual(placed, { a: 'node-1', b: 'node-2', c: 'node-1' });

  // Across nodes: allowed, denied by a CNP on x/b (from x/c only), allowed again once it goes.
  await probeUntil('x/a', 'x/b', 'allowed');
  const cnp = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-c, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress: [{fromEndpoints: [{matchLabels: {pod: c}}]}]
`;
  const applied = await runKubectl(kubeconfig, ['apply', '-f', '-'], cnp);
  assert.equal(applied.code, 0, applied.stderr);
  await probeUntil('x/a', 'x/b', 'denied');
  assert.equal(await probe('x/c', 'x/b'), 'allowed', 'x/c (node-1) is allowed into x/b (node-2)');
  const deleted = await runKubectl(kubeconfig, ['delete', 'cnp', '-n', 'x', 'b-from-c']);
  assert.equal(deleted.code, 0, deleted.stderr);
  await probeUntil('x/a', 'x/b', 'allowed');

  // --ip: honoured inside the node's pod CIDR, refused outside it and when taken.
  const base2 = cidr2!.split('/')[0]!.split('.').slice(0, 3).join('.');
  const base1 = cidr1!.split('/')[0]!.split('.').slice(0, 3).join('.');
  const withIp = await cli(['lab', 'pod', 'add', 'x/d', '--node', 'node-2', '--ip', `${base2}.100`]);
  assert.equal(withIp.code, 0, withIp.stderr);
  assert.match(withIp.stdout, new RegExp(`running: ${base2.replaceAll('.', '\\.')}\\.100 .*node node-2`));
  const outside = await cli(['lab', 'pod', 'add', 'x/e', '--node', 'node-2', '--ip', `${base1}.100`]);
  assert.notEqual(outside.code, 0);
  assert.match(outside.stderr, /not a pod address of this node's pod CIDR/);
  const taken = await cli(['lab', 'pod', 'add', 'x/e', '--node', 'node-2', '--ip', `${base2}.100`]);
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /already in use/);

  // node-2's agent stopped: node-1's pods go on talking; started again, across nodes works again.
  const stop = await cli(['lab', 'node', 'stop', 'node-2']);
  assert.equal(stop.code, 0, stop.stderr);
  const stopped = JSON.parse((await cli(['lab', 'node', 'list', '-o', 'json'])).stdout) as NodeInfo[];
  assert.equal(stopped.find((n) => n.name === 'node-2')!.agent.health, 'stopped');
  assert.equal(await probe('x/a', 'x/c'), 'allowed');
  assert.equal(await probe('x/c', 'x/a'), 'allowed');
  const start = await cli(['lab', 'node', 'start', 'node-2']);
  assert.equal(start.code, 0, start.stderr);
  await probeUntil('x/a', 'x/b', 'allowed');
  await probeUntil('x/b', 'x/c', 'allowed');

  // The real hubble CLI through Hubble Relay: both agents connected.
  const relay = readFileSync(join(labDir, 'relay.addr'), 'utf8').trim();
  const deadline = Date.now() + 30_000;
  for (;;) {
    const st = await run(join(repoRoot, '.tools', 'bin', 'hubble'), ['status', '--server', relay], 20_000);
    if (/Connected Nodes: 2\/2/.test(st.stdout)) break;
    assert.ok(Date.now() < deadline, `hubble status: ${st.stdout}${st.stderr}`);
    await new Promise((r) => setTimeout(r, 500));
  }

  const down = await cli(['lab', 'down']);
  assert.equal(down.code, 0, down.stderr);
  assert.equal(existsSync(labDir), false, 'lab state left behind');
  const netns = await run('ip', ['netns', 'list']);
  assert.doesNotMatch(netns.stdout, /cilium-ts-node-|cilium-ts-outside/);
  assert.equal(existsSync(`/sys/class/net/${UNDERLAY_BRIDGE}`), false, 'underlay bridge left behind');
  assert.equal(existsSync(LAB_PIN_ROOT), false, `${LAB_PIN_ROOT} left behind`);
  assert.deepEqual(processesUsing(labDir), [], 'processes left behind');
});

test('lab up --nodes 3 --routing-mode native: three nodes, policy across them, kube-dns from each', async () => {
  const up = await cli(['lab', 'up', '--detach', '--nodes', '3', '--routing-mode', 'native']);
  assert.equal(up.code, 0, up.stderr + up.stdout);
  const kubeconfig = up.stdout.trim().split('\n').pop()!;
  const nodes = JSON.parse((await cli(['lab', 'node', 'list', '-o', 'json'])).stdout) as NodeInfo[];
  assert.deepEqual(
    nodes.map((n) => [n.name, n.podCIDRs.length, n.agent.health]),
    [
      ['node-1', 1, 'ok'],
      ['node-2', 1, 'ok'],
      ['node-3', 1, 'ok'],
    ],
  );
  const ns = await runKubectl(kubeconfig, ['create', 'namespace', 'x']);
  assert.equal(ns.code, 0, ns.stderr);
  const placed: Record<string, string> = {};
  for (const name of ['a', 'b', 'c']) {
    const add = await cli(['lab', 'pod', 'add', `x/${name}`, '--labels', `pod=${name}`, '--ports', '80/TCP']);
    assert.equal(add.code, 0, add.stderr);
    placed[name] = /node (node-\d)/.exec(add.stdout)![1]!;
  }
  // CoreDNS is node-1's first pod: the spread starts on the others.
  assert.deepEqual(new Set(Object.values(placed)), new Set(['node-1', 'node-2', 'node-3']));
  for (const [from, to] of [
    ['x/a', 'x/b'],
    ['x/b', 'x/c'],
    ['x/c', 'x/a'],
  ] as const)
    await probeUntil(from, to, 'allowed');
  const cnp = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: b-from-c, namespace: x}
spec:
  endpointSelector: {matchLabels: {pod: b}}
  ingress: [{fromEndpoints: [{matchLabels: {pod: c}}]}]
`;
  const applied = await runKubectl(kubeconfig, ['apply', '-f', '-'], cnp);
  assert.equal(applied.code, 0, applied.stderr);
  await probeUntil('x/a', 'x/b', 'denied');
  assert.equal(await probe('x/c', 'x/b'), 'allowed');
  for (const pod of ['x/a', 'x/b', 'x/c']) {
    const dns = await cli(['lab', 'probe', pod, 'svc:kube-system/kube-dns', '--port', '53', '--protocol', 'UDP']);
    assert.equal(dns.stdout.trim(), 'allowed', `${pod} → kube-dns: ${dns.stderr}`);
  }
  const down = await cli(['lab', 'down']);
  assert.equal(down.code, 0, down.stderr);
  assert.doesNotMatch((await run('ip', ['netns', 'list'])).stdout, /cilium-ts-node-|cilium-ts-outside/);
  assert.deepEqual(processesUsing(labDir), [], 'processes left behind');
});
