// Services answered by the eBPF datapath, end to end: a real apiserver, the real
// kube-controller-manager writing the EndpointSlices, our agent (its services part writing the LB
// maps), lab pods through the CNI, and real connections from pods to ClusterIPs. Who answered is
// the backend pod's `namespace/name` (the lab's servers say so).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { Agent, type AgentOptions } from '../../src/agent/agent.ts';
import { addPod, deletePod, listPods, type LabPod, type LabPodOptions, type PortSpec } from '../../src/lab/pods.ts';
import { probeAnswers, type ProbeAnswer, type ProbeProtocol } from '../../src/lab/probe.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { logger } from '../../src/lib/log.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import type { ServiceInfo } from '../../src/agent/types.ts';
import { requireDatapath } from '../datapath/env.ts';
import { waitFor } from '../harness/wait.ts';

requireDatapath();

const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-svc-'));
const labDir = join(tmp, 'lab');
const pinRoot = `/sys/fs/bpf/cilium-ts-test-svc-${process.pid}`;
const podCidr = `10.205.${process.pid % 250}.0/24`;
const NODE = 'svc-node';
const apiSocket = join(tmp, 'agent.sock');
const opts: LabPodOptions = {
  kubeconfig: join(labDir, 'kubeconfig'),
  stateDir: join(labDir, 'pods'),
  cniSocket: join(labDir, 'cni.sock'),
  nodeName: NODE,
};

let cp: ControlPlane;
let agent: Agent;
let agentOpts: AgentOptions;
const pods: Record<string, LabPod> = {};

const kubectl = async (args: string[], stdin?: string) => {
  const r = await cp.kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

const WEB_PORTS: PortSpec[] = [
  { name: 'http', port: 80, protocol: 'TCP' },
  { name: 'alt', port: 81, protocol: 'TCP' },
  { name: 'udp', port: 81, protocol: 'UDP' },
];

const SERVICES = `
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  selector: {app: web}
  ports:
  - {name: tcp, port: 8080, targetPort: 80, protocol: TCP}
  - {name: named, port: 9090, targetPort: alt, protocol: TCP}
  - {name: udp, port: 5353, targetPort: 81, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: sticky, namespace: demo}
spec:
  selector: {app: web}
  sessionAffinity: ClientIP
  ports:
  - {port: 80, targetPort: 80, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: demo}
spec:
  selector: {app: nobody}
  ports:
  - {port: 80, targetPort: 80, protocol: TCP}
---
apiVersion: v1
kind: Service
metadata: {name: dns, namespace: kube-system}
spec:
  selector: {k8s-app: kube-dns}
  ports:
  - {name: dns, port: 53, targetPort: 53, protocol: UDP}
`;

async function addLabPod(ns: string, name: string, labels: Record<string, string>, ports: PortSpec[]) {
  pods[`${ns}/${name}`] = await addPod(opts, ns, name, labels, ports);
  return pods[`${ns}/${name}`]!;
}

async function clusterIP(ns: string, name: string): Promise<string> {
  return (await kubectl(['get', 'service', name, '-n', ns, '-o', 'jsonpath={.spec.clusterIP}'])).trim();
}

/** Waits until the agent's maps hold the Service's frontend on `port` with exactly these backend pods. */
async function backendsAre(ns: string, name: string, port: number, want: string[]): Promise<ServiceInfo> {
  const sorted = [...want].sort();
  const fe = await waitFor(
    `${ns}/${name}:${port} to have backends ${sorted.join(', ') || '(none)'}`,
    () => {
      const fe = agent.serviceSource?.serviceFrontends(ns, name).find((s) => s.frontend.port === port);
      const have = fe?.backends
        .slice(0, fe.selectable)
        .map((b) => (b.pod ? `${b.pod.namespace}/${b.pod.name}` : b.address))
        .sort();
      return fe && JSON.stringify(have) === JSON.stringify(sorted) ? fe : undefined;
    },
    20_000,
  );
  await agent.idle();
  return fe;
}

const probe = (from: LabPod, ip: string, port: number, protocol: ProbeProtocol, n = 1, timeoutMs = 1500) =>
  probeAnswers(
    { netns: from.netns },
    Array.from({ length: n }, () => ip),
    port,
    protocol,
    timeoutMs,
  );

const who = (answers: ProbeAnswer[]) => [...new Set(answers.map((a) => (a.ok ? a.answeredBy : 'no answer')))].sort();

/** Applies a policy and waits until the agent holds that very version and has regenerated. */
async function applyPolicy(yaml: string): Promise<void> {
  const out = await kubectl(
    ['apply', '-f', '-', '-o', 'jsonpath={.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.resourceVersion}'],
    yaml,
  );
  const [key = '', rv = ''] = out.trim().split(' ');
  await waitFor(`the agent to hold ${key} at ${rv}`, () => agent.policyRevisions.get(key) === rv, 15_000);
  await agent.idle();
}
async function deletePolicy(kind: string, ns: string, name: string): Promise<void> {
  await kubectl(['delete', kind, name, '-n', ns]);
  await waitFor(`the agent to drop ${name}`, () => !agent.policyRevisions.has(`${kind}/${ns}/${name}`), 15_000);
  await agent.idle();
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      join(repoRoot, 'bin', 'cilium-ts'),
      args,
      { env: { ...process.env, CILIUM_TS_AGENT_SOCKET: apiSocket }, timeout: 30_000 },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

describe('Services in eBPF: ClusterIPs from pods, through the agent, with real EndpointSlices', () => {
  before(async () => {
    cp = await startControlPlane({
      dir: labDir,
      keepDir: true,
      controllerManager: true,
      crds: [join(repoRoot, 'crds')],
    });
    await kubectl(['create', 'namespace', 'demo']);
    agentOpts = {
      kc: loadKubeConfig(cp.kubeconfig),
      nodeName: NODE,
      stateDir: join(tmp, 'agent'),
      socketPath: opts.cniSocket,
      pinRoot,
      podCidr,
      apiSocket,
      log: logger('agent'),
    };
    agent = await Agent.start(agentOpts);
    await agent.ready(30_000);
    await Promise.all([
      addLabPod('demo', 'client', { app: 'client' }, WEB_PORTS),
      addLabPod('demo', 'web-1', { app: 'web' }, WEB_PORTS),
      addLabPod('demo', 'web-2', { app: 'web' }, WEB_PORTS),
      addLabPod('demo', 'web-3', { app: 'web' }, WEB_PORTS),
      addLabPod('kube-system', 'dns-1', { 'k8s-app': 'kube-dns' }, [{ name: 'dns', port: 53, protocol: 'UDP' }]),
    ]);
    await kubectl(['apply', '-f', '-'], SERVICES);
  });

  after(async () => {
    for (const p of listPods(opts))
      await deletePod(opts, p.namespace, p.name, { bestEffort: true }).catch(() => undefined);
    await agent?.stop();
    for (const p of Object.values(pods))
      try {
        execFileSync('ip', ['netns', 'del', p.netns], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    rmSync(pinRoot, { recursive: true, force: true });
    await cp?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('ClusterIP over TCP and UDP, spread across the backends; service list and status show it', async () => {
    const web = ['demo/web-1', 'demo/web-2', 'demo/web-3'];
    await backendsAre('demo', 'web', 8080, web);
    await backendsAre('demo', 'web', 5353, web);
    const ip = await clusterIP('demo', 'web');
    const client = pods['demo/client']!;
    const tcp = await probe(client, ip, 8080, 'TCP', 30);
    assert.deepEqual(who(tcp), web, 'TCP through the ClusterIP reaches every backend');
    const udp = await probe(client, ip, 5353, 'UDP', 30);
    assert.deepEqual(who(udp), web, 'UDP through the ClusterIP reaches every backend');

    const list = await cli(['service', 'list']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID +Frontend +Service Type +Service +Backend$/m);
    assert.match(
      list.stdout,
      new RegExp(`^\\d+ +${ip.replace(/\./g, '\\.')}:8080/TCP +ClusterIP +demo/web +1 => `, 'm'),
    );
    assert.match(list.stdout, /^ +2 => 10\.[\d.]+:80\/TCP \(active\)$/m);
    const json = JSON.parse((await cli(['service', 'list', '-o', 'json'])).stdout) as ServiceInfo[];
    assert.ok(json.some((s) => s.name === 'web' && s.frontend.port === 5353 && s.backends.length === 3));
    const lb = await cli(['bpf', 'lb', 'list']);
    assert.match(
      lb.stdout,
      new RegExp(
        `^${ip.replace(/\./g, '\\.')}:8080/TCP \\(0\\) +0\\.0\\.0\\.0:0 \\(\\d+\\) \\(0\\) \\[ClusterIP, non-routable\\]`,
        'm',
      ),
    );
    const status = await cli(['status']);
    assert.match(status.stdout, /^KubeProxyReplacement: +True {3}\[ClusterIP, SessionAffinity\]$/m);
  });

  it('port → targetPort, and a named targetPort', async () => {
    const ip = await clusterIP('demo', 'web');
    await backendsAre('demo', 'web', 9090, ['demo/web-1', 'demo/web-2', 'demo/web-3']);
    const fe = agent.serviceSource!.serviceFrontends('demo', 'web');
    const targets = fe
      .map(
        (s) => `${s.frontend.port}/${s.frontend.protocol} -> ${[...new Set(s.backends.map((b) => b.port))].join(',')}`,
      )
      .sort();
    assert.deepEqual(targets, ['5353/UDP -> 81', '8080/TCP -> 80', '9090/TCP -> 81']);
    const named = await probe(pods['demo/client']!, ip, 9090, 'TCP', 6);
    assert.ok(
      named.every((a) => a.ok && a.answeredBy?.startsWith('demo/web-')),
      JSON.stringify(named),
    );
  });

  it('flows show the backend and name the Service (destination_service)', async () => {
    const ip = await clusterIP('demo', 'web');
    await probe(pods['demo/client']!, ip, 8080, 'TCP', 2);
    agent.flows!.drain();
    const flows = await waitFor('a flow to demo/web', () => {
      agent.flows!.drain();
      const f = [...agent.flows!.ring.newestFirst()]
        .map((x) => x.flow)
        .find((f) => f.destination_service?.name === 'web' && f.l4?.TCP?.destination_port === 80);
      return f;
    });
    assert.deepEqual(flows.destination_service, { namespace: 'demo', name: 'web' });
    assert.notEqual(flows.IP?.destination, ip, 'the flow shows the backend, not the ClusterIP');
    assert.match(flows.destination?.pod_name ?? '', /^web-\d$/);
  });

  it('session affinity: one client always reaches the same backend', async () => {
    const fe = await backendsAre('demo', 'sticky', 80, ['demo/web-1', 'demo/web-2', 'demo/web-3']);
    assert.equal(fe.sessionAffinityTimeoutSec, 10800);
    const answers = await probe(pods['demo/client']!, await clusterIP('demo', 'sticky'), 80, 'TCP', 20);
    assert.equal(who(answers).length, 1, `answered by ${who(answers).join(', ')}`);
  });

  it('no ready backend: the connection is refused at once, not left to time out', async () => {
    await backendsAre('demo', 'empty', 80, []);
    const started = Date.now();
    const [a] = await probe(pods['demo/client']!, await clusterIP('demo', 'empty'), 80, 'TCP', 1, 5000);
    const elapsed = Date.now() - started;
    assert.equal(a?.ok, false);
    assert.ok(elapsed < 2500, `took ${elapsed} ms: the client waited for a timeout instead of being refused`);
  });

  it('a backend removed gets no new connection; one added gets some', async () => {
    const ip = await clusterIP('demo', 'web');
    const client = pods['demo/client']!;
    await deletePod(opts, 'demo', 'web-3');
    delete pods['demo/web-3'];
    await backendsAre('demo', 'web', 8080, ['demo/web-1', 'demo/web-2']);
    const after = await probe(client, ip, 8080, 'TCP', 30);
    assert.deepEqual(who(after), ['demo/web-1', 'demo/web-2']);
    await addLabPod('demo', 'web-4', { app: 'web' }, WEB_PORTS);
    await backendsAre('demo', 'web', 8080, ['demo/web-1', 'demo/web-2', 'demo/web-4']);
    const added = await probe(client, ip, 8080, 'TCP', 30);
    assert.deepEqual(who(added), ['demo/web-1', 'demo/web-2', 'demo/web-4']);
  });

  it('egress policy through a Service address: kube-dns allowed on 53, and a policy not allowing it denies', async () => {
    const client = pods['demo/client']!;
    await backendsAre('kube-system', 'dns', 53, ['kube-system/dns-1']);
    const dnsIp = await clusterIP('kube-system', 'dns');
    const webIp = await clusterIP('demo', 'web');
    const policy = (ports: string) => `
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-dns, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toEndpoints:
    - matchLabels: {k8s:io.kubernetes.pod.namespace: kube-system, k8s-app: kube-dns}
    toPorts:
    - ports: [${ports}]
`;
    await applyPolicy(policy('{port: "53", protocol: UDP}'));
    const [dns] = await probe(client, dnsIp, 53, 'UDP');
    assert.deepEqual(dns, { ok: true, answeredBy: 'kube-system/dns-1' });
    const [web] = await probe(client, webIp, 8080, 'TCP', 1, 800);
    assert.equal(web?.ok, false, 'egress is enforced: the web Service is not allowed');
    const explained = await cli([
      'policy',
      'explain',
      'demo/client',
      'svc:kube-system/dns',
      '--port',
      '53',
      '--protocol',
      'UDP',
    ]);
    assert.equal(explained.code, 0, explained.stdout + explained.stderr);
    assert.match(explained.stdout, /^demo\/client -> svc:kube-system\/dns \([\d.]+:53\/UDP\): ALLOWED$/m);
    assert.match(explained.stdout, /via [\d.]+:53 -> kube-system\/dns-1 UDP\/53: ALLOWED/);

    await applyPolicy(policy('{port: "54", protocol: UDP}'));
    const [denied] = await probe(client, dnsIp, 53, 'UDP', 1, 800);
    assert.equal(denied?.ok, false, 'a policy not allowing 53 denies DNS through the Service address');
    const no = await cli([
      'policy',
      'explain',
      'demo/client',
      'svc:kube-system/dns',
      '--port',
      '53',
      '--protocol',
      'UDP',
      '-o',
      'json',
    ]);
    assert.equal(no.code, 1);
    assert.equal((JSON.parse(no.stdout) as { verdict: string }).verdict, 'default-denied');
    await deletePolicy('CiliumNetworkPolicy', 'demo', 'client-dns');
  });

  it('toServices: egress allowed to the Service named, not to another', async () => {
    const client = pods['demo/client']!;
    await applyPolicy(`
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: client-to-web, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: client}}
  egress:
  - toServices:
    - k8sService: {serviceName: web, namespace: demo}
`);
    const [web] = await probe(client, await clusterIP('demo', 'web'), 8080, 'TCP');
    assert.equal(web?.ok, true, 'toServices allows the Service');
    const [dns] = await probe(client, await clusterIP('kube-system', 'dns'), 53, 'UDP', 1, 800);
    assert.equal(dns?.ok, false, 'another Service stays denied');
    await deletePolicy('CiliumNetworkPolicy', 'demo', 'client-to-web');
  });

  it('an agent restart keeps the ids and an established connection through the ClusterIP', async () => {
    const ip = await clusterIP('demo', 'web');
    const client = pods['demo/client']!;
    const script = `
const s = require('node:net').connect(${8080}, '${ip}');
s.setEncoding('utf8');
s.on('data', (d) => process.stdout.write(d));
s.on('error', (e) => { console.error(e.message); process.exit(1); });
s.on('close', () => process.exit(2));
process.stdin.on('data', (d) => s.write(d));
`;
    const conn: ChildProcessWithoutNullStreams = spawn('ip', [
      'netns',
      'exec',
      client.netns,
      process.execPath,
      '-e',
      script,
    ]);
    try {
      const lines = createInterface({ input: conn.stdout })[Symbol.asyncIterator]();
      const ask = async () => {
        conn.stdin.write('ping\n');
        const r = await Promise.race([
          lines.next(),
          new Promise<never>((_, rej) => setTimeout(() => rej(new Error('no answer on the connection')), 5000)),
        ]);
        return String(r.value);
      };
      const first = await ask();
      assert.match(first, /^demo\/web-/);
      const idsBefore = agent.serviceSource!.services().map((s) => [s.id, s.frontend, s.backends.map((b) => b.id)]);
      await agent.stop();
      assert.equal(await ask(), first, 'the connection works while the agent is down');
      agent = await Agent.start(agentOpts);
      await agent.ready(30_000);
      await backendsAre('demo', 'web', 8080, ['demo/web-1', 'demo/web-2', 'demo/web-4']);
      const idsAfter = agent.serviceSource!.services().map((s) => [s.id, s.frontend, s.backends.map((b) => b.id)]);
      assert.deepEqual(idsAfter, idsBefore, 'service and backend ids survive the restart');
      assert.equal(await ask(), first, 'the established connection keeps its backend across the restart');
    } finally {
      conn.kill();
    }
  });
});
