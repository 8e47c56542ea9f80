// Two nodes, each a network namespace on an underlay bridge, each with its OWN agent process
// (`nsenter --net=… node src/cli/main.ts agent …`, as the lab runs them), one real control plane
// reached through a TCP relay on the bridge address, pods made through each node's CNI socket by
// the real plugin. The test plays the operator's part only: it gives each CiliumNode its pod CIDR.
// Then, in tunnel mode and again in native mode (the same pods, the agents restarted): pods talk
// across nodes, the receiving node enforces a CNP by the sender's identity, status shows the
// routing mode and 2/2 nodes reachable, and node 1's ipcache has node 2's pod behind node 2.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AgentStatus } from '../../src/agent/types.ts';
import { agentGet } from '../../src/cli/agent-client.ts';
import type { IpcacheEntry } from '../../src/cli/agent-wire.ts';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { APISERVER_RELAY_PORT, relayKubeconfig, startRelay } from '../../src/lab/dns.ts';
import { addPod, deletePod, type LabPod, type LabPodOptions } from '../../src/lab/pods.ts';
import { probeFrom } from '../../src/lab/probe.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { requireDatapath } from './env.ts';
import { nodeSubnet } from './overlay-nodes.ts';

requireDatapath();

// Odd subnets: never the lab's 172.31.240.0/24 nor overlay-nodes' even ones.
const b = nodeSubnet() + 1;
const tag = String(process.pid);
const bridge = `ctsb${process.pid % 100000}`;
const bridgeIp = `172.31.${b}.1`;
const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-nodes-'));

interface TestNode {
  name: string;
  netns: string;
  ip: string;
  podCidr: string;
  dir: string;
  pinRoot: string;
  apiSocket: string;
  pods: LabPodOptions;
  agent?: ChildProcess;
}

const nodes: TestNode[] = [1, 2].map((i) => {
  const dir = join(tmp, `node-${i}`);
  return {
    name: `node-${i}`,
    netns: `cts-${tag}-n${i}`,
    ip: `172.31.${b}.${10 + i}`,
    podCidr: `10.${230 + i}.${b}.0/24`,
    dir,
    pinRoot: `/sys/fs/bpf/cilium-ts-test-nodes-${tag}-node-${i}`,
    apiSocket: join(dir, 'agent.sock'),
    pods: {
      kubeconfig: join(tmp, 'cp', 'kubeconfig'),
      stateDir: join(dir, 'pods'),
      cniSocket: join(dir, 'cni.sock'),
      nodeName: `node-${i}`,
    },
  };
});
const [n1, n2] = nodes as [TestNode, TestNode];

let cp: ControlPlane | undefined;
let relay: Server | undefined;
let agentKubeconfig = '';
const pods: Record<string, LabPod> = {};

function ip(args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

function buildUnderlay(): void {
  ip(['link', 'add', bridge, 'type', 'bridge']);
  ip(['addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
  ip(['link', 'set', bridge, 'up']);
  for (const [i, n] of nodes.entries()) {
    const hostSide = `ctsu${process.pid % 10000}${i}`;
    ip(['netns', 'add', n.netns]);
    ip(['-n', n.netns, 'link', 'set', 'lo', 'up']);
    ip(['link', 'add', hostSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', n.netns]);
    ip(['link', 'set', hostSide, 'master', bridge, 'up']);
    ip(['-n', n.netns, 'addr', 'add', `${n.ip}/24`, 'dev', 'eth0']);
    ip(['-n', n.netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', n.netns, 'route', 'add', 'default', 'via', bridgeIp]);
  }
}

function destroyUnderlay(): void {
  for (const n of nodes) spawnSync('ip', ['netns', 'del', n.netns], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', bridge], { stdio: 'ignore' });
  for (const n of nodes) rmSync(n.pinRoot, { recursive: true, force: true });
}

async function kubectl(args: string[], input?: string): Promise<string> {
  const r = await cp!.kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** The Node objects with their InternalIPs (a kubelet's registration), and the operator's pod CIDRs. */
async function registerNodes(): Promise<void> {
  for (const n of nodes) {
    await kubectl(
      ['create', '-f', '-'],
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name: n.name, labels: { 'kubernetes.io/hostname': n.name, 'kubernetes.io/os': 'linux' } },
      }),
    );
    await kubectl([
      'patch',
      'node',
      n.name,
      '--subresource=status',
      '--type=merge',
      '-p',
      JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: n.ip }] } }),
    ]);
    await kubectl(
      ['apply', '--server-side', '--field-manager=cilium-ts-operator', '-f', '-'],
      JSON.stringify({
        apiVersion: 'cilium.io/v2',
        kind: 'CiliumNode',
        metadata: { name: n.name },
        spec: { ipam: { podCIDRs: [n.podCidr] } },
      }),
    );
  }
}

async function startAgent(n: TestNode, mode: 'tunnel' | 'native'): Promise<void> {
  mkdirSync(n.dir, { recursive: true });
  const log = openSync(join(n.dir, `agent-${mode}.log`), 'a');
  const args = [
    `--net=/run/netns/${n.netns}`,
    '--',
    process.execPath,
    '--disable-warning=ExperimentalWarning',
    join(repoRoot, 'src', 'cli', 'main.ts'),
    'agent',
    '--kubeconfig',
    agentKubeconfig,
    '--node-name',
    n.name,
    '--state-dir',
    join(n.dir, 'state'),
    '--cni-socket',
    n.pods.cniSocket,
    '--api-socket',
    n.apiSocket,
    '--health-port',
    '9962',
    '--hubble-listen',
    '0.0.0.0:4245',
    '--pin-root',
    n.pinRoot,
    '--routing-mode',
    mode,
    '--tunnel-protocol',
    'vxlan',
  ];
  const child = spawn('nsenter', args, { stdio: ['ignore', log, log] });
  n.agent = child;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(
        `agent ${n.name} exited ${child.exitCode}: ${readFileSync(join(n.dir, `agent-${mode}.log`), 'utf8')}`,
      );
    }
    const s = await agentGet<AgentStatus>('/v1/status', n.apiSocket).catch(() => undefined);
    if (s?.agent === 'ok') return;
    if (Date.now() > deadline) throw new Error(`agent ${n.name} not ready: ${s?.agent ?? 'no API'}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function stopAgent(n: TestNode): Promise<void> {
  const child = n.agent;
  n.agent = undefined;
  if (!child || child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
}

/** Polls until check() holds (the agents converge through watches and probe rounds). */
async function until<T>(what: string, get: () => Promise<T>, check: (v: T) => boolean, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  let last: T | undefined;
  for (;;) {
    last = await get().catch(() => undefined as T);
    if (last !== undefined && check(last)) return last;
    if (Date.now() > deadline) assert.fail(`${what}: still ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const reach = async (from: string, to: string, port = 80): Promise<boolean> =>
  (await probeFrom(pods[from]!, [pods[to]!.ip], port, 'TCP', 1500))[0]!;

const policy = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'b-from-a', namespace: 'x' },
  spec: {
    endpointSelector: { matchLabels: { pod: 'b' } },
    ingress: [{ fromEndpoints: [{ matchLabels: { pod: 'a' } }] }],
  },
};

describe('two nodes, two agent processes', { timeout: 300_000 }, () => {
  before(async () => {
    buildUnderlay();
    cp = await startControlPlane({ dir: join(tmp, 'cp'), keepDir: true, crds: [join(repoRoot, 'crds')] });
    const api = new URL(cp.server);
    relay = await startRelay(bridgeIp, APISERVER_RELAY_PORT, { host: api.hostname, port: Number(api.port) });
    agentKubeconfig = join(tmp, 'agent-kubeconfig');
    writeFileSync(agentKubeconfig, relayKubeconfig(cp.kubeconfig, bridgeIp), { mode: 0o600 });
    await registerNodes();
    await kubectl(['create', 'namespace', 'x']);
  });

  after(async () => {
    for (const [name, p] of Object.entries(pods)) {
      const n = p.cniSocket === n2.pods.cniSocket ? n2 : n1;
      await deletePod(n.pods, 'x', name, { bestEffort: true }).catch(() => undefined);
    }
    for (const n of nodes) await stopAgent(n);
    relay?.close();
    await cp?.stop();
    destroyUnderlay();
    if (!process.env.KEEP_TEST_DIR) rmSync(tmp, { recursive: true, force: true });
  });

  for (const mode of ['tunnel', 'native'] as const) {
    describe(`${mode} mode`, () => {
      before(async () => {
        await Promise.all(nodes.map((n) => startAgent(n, mode)));
        if (!pods.a) {
          pods.a = await addPod(n1.pods, 'x', 'a', { pod: 'a' });
          pods.c = await addPod(n1.pods, 'x', 'c', { pod: 'c' });
          pods.b = await addPod(n2.pods, 'x', 'b', { pod: 'b' });
        }
      });

      after(async () => {
        await kubectl(['delete', 'cnp', '-n', 'x', '--all']);
        for (const n of nodes) await stopAgent(n);
      });

      it('status shows the routing mode, and every node reachable', async () => {
        const s = await until(
          'cluster health of node-1',
          () => agentGet<AgentStatus>('/v1/status', n1.apiSocket),
          (v) => v.clusterHealth?.reachable === 2,
        );
        assert.equal(s.routing?.mode, mode);
        assert.equal(s.clusterHealth?.total, 2);
        if (mode === 'tunnel') {
          assert.equal(s.routing?.tunnelDevice, 'cilium_vxlan');
          assert.equal(s.routing?.podMtu, 1450);
        } else {
          assert.deepEqual(s.routing?.nodeRoutes, [{ cidr: n2.podCidr, via: n2.ip }]);
        }
        const out = execFileSync(join(repoRoot, 'bin', 'cilium-ts'), ['status'], {
          env: { ...process.env, CILIUM_TS_AGENT_SOCKET: n1.apiSocket },
          encoding: 'utf8',
        });
        const network = mode === 'tunnel' ? 'Network: Tunnel \\[vxlan\\]' : 'Network: Native';
        assert.match(out, new RegExp(`^Routing: +${network}`, 'm'));
        assert.match(out, /^Cluster health: +2\/2 reachable/m);
      });

      it("node 1's ipcache has node 2's pod behind node 2, and node 2's pod CIDR", async () => {
        const rows = await until(
          'ipcache of node-1',
          () => agentGet<IpcacheEntry[]>('/v1/bpf/ipcache', n1.apiSocket),
          (r) => r.some((e) => e.prefix === `${pods.b!.ip}/32` && e.identity >= 256),
        );
        const byPrefix = new Map(rows.map((e) => [e.prefix, e]));
        assert.equal(byPrefix.get(`${pods.b!.ip}/32`)?.tunnelEndpoint, n2.ip);
        assert.deepEqual(byPrefix.get(n2.podCidr), { prefix: n2.podCidr, identity: 2, tunnelEndpoint: n2.ip });
        assert.equal(byPrefix.get(`${pods.a!.ip}/32`)?.tunnelEndpoint, null);
        const n2Identity = byPrefix.get(`${n2.ip}/32`)?.identity ?? 0;
        assert.equal(n2Identity & 0xff000000, 0x02000000, 'node 2 has its own identity in the remote-node scope');
      });

      it('pods talk across nodes, both ways', async () => {
        assert.equal(await reach('a', 'b'), true, 'a (node-1) → b (node-2)');
        assert.equal(await reach('b', 'a'), true, 'b (node-2) → a (node-1)');
        assert.equal(await reach('c', 'b'), true, 'c (node-1) → b (node-2), no policy yet');
      });

      it("the receiving node enforces a CNP by the sender's identity", async () => {
        await kubectl(['apply', '-f', '-'], JSON.stringify(policy));
        await until(
          'c → b denied',
          () => reach('c', 'b'),
          (ok) => !ok,
        );
        assert.equal(await reach('a', 'b'), true, 'a is allowed by the rule');
        assert.equal(await reach('b', 'a'), true, 'a has no policy');
      });
    });
  }
});
