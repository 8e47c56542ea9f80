// Lab pods end to end: a real apiserver, the agent's CNI server in-process with the datapath
// pinned under a test-only root, pods made by calling the real plugin executable as a runtime
// would, and real TCP/UDP/ICMP probes between their network namespaces.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { EndpointFlags, EnforcementMode } from '../../src/datapath/constants.ts';
import {
  CniServer,
  IDENTITY_INIT,
  type EndpointDatapathSettings,
  type EndpointEvent,
} from '../../src/agent/cni/server.ts';
import { hostIfnameFor, linkExists } from '../../src/agent/endpoint-net.ts';
import type { EndpointState } from '../../src/agent/endpoint-state.ts';
import { addPod, deletePod, execCni, listPods, readPod, type LabPod, type LabPodOptions } from '../../src/lab/pods.ts';
import { probeMatrix } from '../../src/lab/probe.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { requireDatapath } from '../datapath/env.ts';

requireDatapath();

const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-pods-'));
const labDir = join(tmp, 'lab');
const pinRoot = `/sys/fs/bpf/cilium-ts-test-pods-${process.pid}`;
const podCidr = `10.203.${process.pid % 250}.0/24`;
const stateFile = join(tmp, 'state', 'endpoints.json');
const socketPath = join(labDir, 'cni.sock');
const opts: LabPodOptions = {
  kubeconfig: join(labDir, 'kubeconfig'),
  stateDir: join(labDir, 'pods'),
  cniSocket: socketPath,
  nodeName: 'e2e-node',
};

let cp: ControlPlane | undefined;
let dp: LxcDatapath | undefined;
let server: CniServer | undefined;
const added: EndpointEvent[] = [];
const deleted: EndpointEvent[] = [];
/** What the "agent" answers on ADD; tests swap it. */
let addedHook: (ep: EndpointEvent) => EndpointDatapathSettings | void = () => undefined;

async function startServer(): Promise<CniServer> {
  dp = LxcDatapath.load({ pinRoot });
  server = await CniServer.start({
    datapath: dp,
    podCidr,
    stateFile,
    socketPath,
    hooks: {
      onEndpointAdded: (ep) => {
        added.push(ep);
        return addedHook(ep);
      },
      onEndpointDeleted: (ep) => {
        deleted.push(ep);
      },
    },
  });
  return server;
}

async function stopServer(): Promise<void> {
  await server?.stop();
  server = undefined;
  dp?.close();
  dp = undefined;
}

function state(): EndpointState {
  return JSON.parse(readFileSync(stateFile, 'utf8')) as EndpointState;
}

function pod(name: string): LabPod {
  const p = readPod(opts, 'x', name);
  assert.ok(p, `no record for x/${name}`);
  return p;
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(repoRoot, 'bin', 'cilium-ts'),
      args,
      { env: { ...process.env, CILIUM_TS_LAB_DIR: labDir, K8S_NODE_NAME: 'e2e-node' }, timeout: 60_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const matrix = async (port: number, protocol: 'TCP' | 'UDP' | 'ICMP') =>
  (await probeMatrix(listPods(opts), port, protocol, 800)).allowed;

describe('lab pods through the real CNI plugin', () => {
  before(async () => {
    cp = await startControlPlane({ dir: labDir, keepDir: true });
    const ns = await cp.kubectl(['create', 'namespace', 'x']);
    assert.equal(ns.code, 0, ns.stderr);
    await startServer();
  });

  after(async () => {
    for (const p of listPods(opts)) await deletePod(opts, p.namespace, p.name).catch(() => undefined);
    await stopServer();
    // Whatever a failed test left: namespaces and veths of this run, pins, the control plane.
    const leftover = existsSync(stateFile) ? Object.values(state().endpoints) : [];
    for (const ep of leftover)
      try {
        execFileSync('ip', ['link', 'del', ep.hostIfname], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    for (const p of listPods(opts)) {
      try {
        if (readFileSync(`/proc/${p.echoPid}/cmdline`, 'utf8').includes('cilium-ts-lab-echo'))
          process.kill(p.echoPid, 'SIGKILL');
      } catch {
        /* gone */
      }
      try {
        execFileSync('ip', ['netns', 'del', p.netns], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    }
    rmSync(pinRoot, { recursive: true, force: true });
    await cp?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('adds three pods: Pod objects Running with their IPs, endpoints in the datapath', async () => {
    const labels = { a: { pod: 'a' }, b: { pod: 'b' }, c: { pod: 'c', tier: 'db' } };
    await Promise.all(Object.entries(labels).map(([name, l]) => addPod(opts, 'x', name, l)));
    const pods = ['a', 'b', 'c'].map(pod);
    assert.equal(new Set(pods.map((p) => p.ip)).size, 3);
    for (const p of pods) {
      assert.ok(p.ip.startsWith(podCidr.split('.').slice(0, 3).join('.') + '.'), `${p.ip} outside ${podCidr}`);
      const got = await cp!.kubectl(['get', 'pod', '-n', 'x', p.name, '-o', 'json']);
      const obj = JSON.parse(got.stdout) as {
        spec: {
          nodeName: string;
          containers: Array<{ ports: Array<{ name?: string; containerPort: number; protocol: string }> }>;
        };
        status: { podIP: string; phase: string; conditions: Array<{ type: string; status: string }> };
      };
      assert.equal(obj.status.podIP, p.ip);
      assert.equal(obj.status.phase, 'Running');
      assert.ok(obj.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
      assert.equal(obj.spec.nodeName, 'e2e-node');
      assert.ok(
        obj.spec.containers[0]!.ports.some(
          (x) => x.name === 'serve-81-udp' && x.containerPort === 81 && x.protocol === 'UDP',
        ),
      );
      const ev = added.find((e) => e.podName === p.name);
      assert.ok(ev, `no onEndpointAdded for ${p.name}`);
      assert.deepEqual([ev.namespace, ev.ip, ev.ifname, ev.containerId], ['x', p.ip, 'eth0', p.containerId]);
      const entry = dp!.maps.endpoints.lookup(ev.hostIfindex);
      assert.deepEqual(
        [entry?.epId, entry?.identity, entry?.flags, entry?.mac, entry?.nodeMac],
        [ev.epId, IDENTITY_INIT, 0, ev.podMac, ev.hostMac],
      );
      assert.equal(dp!.maps.endpointsByIp.lookup(p.ip), ev.hostIfindex);
    }
  });

  it('connects every pod to every pod over TCP, UDP and ICMP while nothing is enforced', async () => {
    const all = [
      [true, true, true],
      [true, true, true],
      [true, true, true],
    ];
    const started = Date.now();
    assert.deepEqual(await matrix(80, 'TCP'), all);
    const tcpMs = Date.now() - started;
    assert.deepEqual(await matrix(81, 'UDP'), all);
    assert.deepEqual(await matrix(0, 'ICMP'), all);
    console.log(`# 3x3 TCP probe matrix, all allowed: ${tcpMs} ms`);
  });

  it('answers lab probe and lab pod list on the command line', async () => {
    const ok = await cli(['lab', 'probe', 'x/a', 'x/b', '--port', '80']);
    assert.equal(ok.stdout.trim(), 'allowed', ok.stderr);
    assert.equal(ok.code, 0);
    const closed = await cli(['lab', 'probe', 'x/a', 'x/b', '--port', '82', '--timeout', '500']);
    assert.equal(closed.stdout.trim(), 'denied', closed.stderr);
    assert.equal(closed.code, 1);
    const table = await cli(['lab', 'probe', '--all', '--port', '81', '--protocol', 'UDP']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^UDP\/81\s+x\/a\s+x\/b\s+x\/c\nx\/a\s+\.\s+\.\s+\.\n/);
    const list = await cli(['lab', 'pod', 'list']);
    assert.match(list.stdout, new RegExp(`x/c\\s+${pod('c').ip.replaceAll('.', '\\.')}\\s+serve-80-tcp=80/TCP`));

    // A pod with named and numbered ports of its own, made and removed through the CLI.
    const add = await cli(['lab', 'pod', 'add', 'x/e', '--labels', 'app=e,tier=web', '--ports', 'web=8080/TCP,53/UDP']);
    assert.equal(add.code, 0, add.stderr);
    const e = pod('e');
    const obj = JSON.parse((await cp!.kubectl(['get', 'pod', '-n', 'x', 'e', '-o', 'json'])).stdout) as {
      metadata: { labels: Record<string, string> };
      spec: { containers: Array<{ ports: unknown[] }> };
    };
    assert.deepEqual(obj.metadata.labels, { app: 'e', tier: 'web' });
    assert.deepEqual(obj.spec.containers[0]!.ports, [
      { name: 'web', containerPort: 8080, protocol: 'TCP' },
      { containerPort: 53, protocol: 'UDP' },
    ]);
    assert.deepEqual((await probeMatrix([pod('a'), e], 8080, 'TCP', 800)).allowed[0], [false, true]);
    assert.deepEqual((await probeMatrix([pod('a'), e], 53, 'UDP', 800)).allowed[0], [false, true]);
    const del = await cli(['lab', 'pod', 'delete', 'x/e']);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(readPod(opts, 'x', 'e'), undefined);
    assert.equal(existsSync(e.netnsPath), false);
  });

  it('drops traffic to an endpoint enforced with no policy map (default deny), only that one', async () => {
    const c = added.find((e) => e.podName === 'c')!;
    const entry = dp!.maps.endpoints.lookup(c.hostIfindex)!;
    dp!.maps.endpoints.update(c.hostIfindex, {
      ...entry,
      flags: EndpointFlags.ENFORCE_INGRESS,
      mode: EnforcementMode.DEFAULT,
    });
    try {
      // Rows from, columns to: a and b cannot reach c; c still reaches them (replies are tracked);
      // c to itself stays inside its namespace.
      const expected = [
        [true, true, false],
        [true, true, false],
        [true, true, true],
      ];
      assert.deepEqual(await matrix(80, 'TCP'), expected);
      assert.deepEqual(await matrix(80, 'UDP'), expected);
    } finally {
      dp!.maps.endpoints.update(c.hostIfindex, entry);
    }
    assert.deepEqual((await matrix(80, 'TCP'))[0], [true, true, true]);
  });

  it("lets the agent's hook set identity and enforcement, or fail the ADD (which then leaves nothing behind)", async () => {
    addedHook = (ep) => {
      if (ep.podName === 'bad') throw new Error('identity allocation failed: apiserver unreachable');
      if (ep.podName === 'f')
        return { identity: 70001, flags: EndpointFlags.ENFORCE_INGRESS, mode: EnforcementMode.DEFAULT };
    };
    try {
      const f = await addPod(opts, 'x', 'f', { pod: 'f' }, [{ port: 80, protocol: 'TCP' }]);
      const ep = added.find((e) => e.podName === 'f')!;
      assert.deepEqual(
        [dp!.maps.endpoints.lookup(ep.hostIfindex)?.identity, dp!.maps.endpoints.lookup(ep.hostIfindex)?.flags],
        [70001, EndpointFlags.ENFORCE_INGRESS],
      );
      assert.deepEqual((await probeMatrix([pod('a'), f], 80, 'TCP', 800)).allowed[0], [true, false]);
      await deletePod(opts, 'x', 'f');

      const before = Object.keys(state().endpoints).length;
      await assert.rejects(
        addPod(opts, 'x', 'bad', { pod: 'bad' }),
        /CNI ADD failed \(code 100\): the agent could not set up endpoint .* \(identity allocation failed: apiserver unreachable\)/,
      );
      const ev = added.find((e) => e.podName === 'bad')!;
      assert.equal(Object.keys(state().endpoints).length, before);
      assert.equal(linkExists(ev.hostIfname), false);
      assert.equal(dp!.maps.endpointsByIp.lookup(ev.ip), undefined);
      assert.equal(readPod(opts, 'x', 'bad'), undefined);
      assert.notEqual((await cp!.kubectl(['get', 'pod', '-n', 'x', 'bad'])).code, 0);
    } finally {
      addedHook = () => undefined;
    }
  });

  it('is idempotent on a repeated ADD and repairs what CHECK finds broken', async () => {
    const a = pod('a');
    const before = state().endpoints[`${a.containerId}/eth0`]!;
    const again = await execCni(opts, 'ADD', a);
    assert.equal(again.code, 0, again.stdout);
    assert.equal((again.parsed?.ips as Array<{ address: string }>)[0]!.address, `${a.ip}/32`);
    const after = state().endpoints[`${a.containerId}/eth0`]!;
    assert.deepEqual(after, before);
    assert.equal(Object.keys(state().endpoints).length, 3);

    assert.equal((await execCni(opts, 'CHECK', a)).code, 0);
    execFileSync('ip', ['-n', a.netns, 'route', 'del', 'default']);
    const broken = await execCni(opts, 'CHECK', a);
    assert.equal(broken.code, 1);
    assert.equal(broken.parsed?.code, 101);
    assert.match(String(broken.parsed?.details), /no default route/);
    assert.equal((await execCni(opts, 'ADD', a)).code, 0);
    assert.equal((await execCni(opts, 'CHECK', a)).code, 0);
    assert.deepEqual((await matrix(80, 'TCP'))[0], [true, true, true]);
  });

  it('reallocates nothing across a CNI server restart and keeps the pods connected', async () => {
    const snapshot = state().endpoints;
    await stopServer();
    // The agent is down: the pinned maps and attached programs keep forwarding.
    assert.deepEqual((await probeMatrix([pod('a'), pod('b')], 80, 'TCP', 800)).allowed, [
      [true, true],
      [true, true],
    ]);
    const s = await startServer();
    assert.deepEqual(Object.fromEntries(s.endpoints().map((e) => [`${e.containerId}/${e.ifname}`, e])), snapshot);
    assert.deepEqual(state().endpoints, snapshot);
    const d = await addPod(opts, 'x', 'd', { pod: 'd' }, [{ port: 80, protocol: 'TCP' }]);
    assert.ok(!Object.values(snapshot).some((e) => e.ip === d.ip), `${d.ip} was handed out twice`);
    assert.ok(!Object.values(snapshot).some((e) => e.epId === state().endpoints[`${d.containerId}/eth0`]!.epId));
    assert.deepEqual(await matrix(80, 'TCP'), [
      [true, true, true, true],
      [true, true, true, true],
      [true, true, true, true],
      [true, true, true, true],
    ]);
  });

  it('releases, at restart, the endpoint of a pod that went away while the agent was down', async () => {
    const g = await addPod(opts, 'x', 'g', { pod: 'g' }, [{ port: 80, protocol: 'TCP' }]);
    const rec = state().endpoints[`${g.containerId}/eth0`]!;
    await stopServer();
    try {
      // The runtime tears the sandbox down (containers first, they hold the namespace); the veth goes with it.
      process.kill(g.echoPid, 'SIGKILL');
      execFileSync('ip', ['netns', 'del', g.netns]);
      for (let i = 0; i < 50 && linkExists(rec.hostIfname); i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(linkExists(rec.hostIfname), false);
    } finally {
      await startServer();
    }
    assert.equal(state().endpoints[`${g.containerId}/eth0`], undefined);
    assert.ok(deleted.some((e) => e.containerId === g.containerId && e.ip === g.ip));
    assert.equal(dp!.maps.endpointsByIp.lookup(g.ip), undefined);
    assert.equal(dp!.maps.endpoints.lookup(rec.hostIfindex), undefined);
    await deletePod(opts, 'x', 'g'); // the lab's own record and Pod object; DEL of an unknown attachment is fine
  });

  it('deletes a pod: veth, namespace, address, endpoint entries, Pod object and record all go; DEL again is fine', async () => {
    const b = pod('b');
    const ep = added.find((e) => e.podName === 'b')!;
    assert.equal(await deletePod(opts, 'x', 'b'), true);
    assert.equal(linkExists(hostIfnameFor(b.containerId, 'eth0')), false);
    assert.equal(existsSync(b.netnsPath), false);
    assert.equal(state().endpoints[`${b.containerId}/eth0`], undefined);
    assert.equal(dp!.maps.endpoints.lookup(ep.hostIfindex), undefined);
    assert.equal(dp!.maps.endpointsByIp.lookup(b.ip), undefined);
    assert.ok(deleted.some((e) => e.podName === 'b' && e.ip === b.ip));
    assert.notEqual((await cp!.kubectl(['get', 'pod', '-n', 'x', 'b'])).code, 0);
    assert.equal(readPod(opts, 'x', 'b'), undefined);
    assert.throws(() => process.kill(b.echoPid, 0));
    const again = await execCni(opts, 'DEL', b);
    assert.equal(again.code, 0, again.stdout);
  });

  it('probes the upstream 9-pod model (x, y, z × a, b, c) in a few seconds', async () => {
    for (const ns of ['y', 'z']) assert.equal((await cp!.kubectl(['create', 'namespace', ns])).code, 0);
    await Promise.all(['y', 'z'].flatMap((ns) => ['a', 'b', 'c'].map((name) => addPod(opts, ns, name, { pod: name }))));
    const pods = listPods(opts);
    assert.equal(pods.length, 9);
    const open = await probeMatrix(pods, 80, 'TCP', 1000);
    assert.ok(
      open.allowed.every((row) => row.every(Boolean)),
      JSON.stringify(open.allowed),
    );
    // One pod default-denied: its column waits out the timeout, in parallel with everything else.
    const ya = added.find((e) => e.namespace === 'y' && e.podName === 'a')!;
    const entry = dp!.maps.endpoints.lookup(ya.hostIfindex)!;
    dp!.maps.endpoints.update(ya.hostIfindex, { ...entry, flags: EndpointFlags.ENFORCE_INGRESS });
    let denied;
    try {
      denied = await probeMatrix(pods, 80, 'TCP', 1000);
    } finally {
      dp!.maps.endpoints.update(ya.hostIfindex, entry);
    }
    const col = denied.pods.indexOf('y/a');
    denied.allowed.forEach((row, i) =>
      row.forEach((ok, j) => assert.equal(ok, j !== col || i === col, `${denied.pods[i]} -> ${denied.pods[j]}`)),
    );
    console.log(
      `# 9x9 TCP probe matrix: ${open.elapsedMs} ms all allowed, ${denied.elapsedMs} ms with one column denied (timeout 1000 ms)`,
    );
    assert.ok(open.elapsedMs < 5000 && denied.elapsedMs < 5000);
    // GC with every attachment still valid removes nothing.
    const gc = await server!.handle({
      command: 'GC',
      containerId: '',
      netns: '',
      ifname: '',
      args: {},
      path: '',
      config: {
        cniVersion: '1.1.0',
        name: 'cilium-ts',
        type: 'cilium-ts-cni',
        'cni.dev/valid-attachments': pods.map((p) => ({ containerID: p.containerId, ifname: 'eth0' })),
      },
    });
    assert.deepEqual(gc, { ok: true });
    assert.equal(server!.endpoints().length, 9);
  });

  it('answers VERSION and STATUS', async () => {
    const a = pod('a');
    const version = await execCni(opts, 'VERSION', a);
    assert.deepEqual(version.parsed?.supportedVersions, ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    assert.equal((await execCni(opts, 'STATUS', a)).code, 0);
    assert.equal((await execCni({ ...opts, cniSocket: join(tmp, 'nobody.sock') }, 'STATUS', a)).parsed?.code, 50);
  });
});
