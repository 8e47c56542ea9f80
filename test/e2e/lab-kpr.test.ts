// The kube-proxy replacement in the lab, as a person would try it (`lab up --detach`, kubectl, `lab
// exec`, `lab probe -o json`): names resolved by CoreDNS behind the kube-dns ClusterIP, a ClusterIP
// from the node (socket-LB: getpeername says the ClusterIP), a NodePort at the node's outside-link
// address, a LoadBalancer IP from the sample pool and an externalIP from the outside host,
// externalTrafficPolicy Local keeping the client's address, loadBalancerSourceRanges, backends that
// are only serving+terminating, `service list`, `status`, and flows through Hubble Relay.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';
import { runKubectl } from '../../src/lab/control-plane.ts';
import { KUBE_DNS_IP } from '../../src/lab/dns.ts';
import { LAB_PIN_ROOT } from '../../src/lab/lab.ts';
import { LAB_CGROUP, OUTSIDE_ADDR, OUTSIDE_NODE_ADDR } from '../../src/lab/paths.ts';
import { socketLbAttachments } from '../../src/datapath/socket-lb.ts';
import type { LabPod } from '../../src/lab/pods.ts';
import { requireDatapath } from '../datapath/env.ts';
import { waitFor } from '../harness/wait.ts';

requireDatapath();

const labDir = join(mkdtempSync(join(tmpdir(), 'cilium-ts-lab-kpr-')), 'lab');
const env = { ...process.env, CILIUM_TS_LAB_DIR: labDir };
/** an externalIP the outside host routes via the node (the test adds the route, as a person would) */
const EXTERNAL_IP = '172.31.252.10';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], timeout = 180_000): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { env, timeout }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

const cli = (args: string[]) => run(join(repoRoot, 'bin', 'cilium-ts'), args);
const inClient = (cmd: string[]) => cli(['lab', 'exec', 'demo/kpr-client', '--', ...cmd]);

interface ProbeJson {
  address: string;
  allowed: boolean;
  answeredBy?: string;
}

async function probeJson(args: string[]): Promise<ProbeJson> {
  const r = await cli(['lab', 'probe', ...args, '-o', 'json']);
  assert.ok(r.code === 0 || r.code === 1, r.stderr);
  return JSON.parse(r.stdout) as ProbeJson;
}

/** An HTTP GET from the outside host: the body (the answering pod's namespace/name) or '' on failure. */
async function curlFromOutside(url: string, timeoutSec = 2): Promise<string> {
  const r = await cli(['lab', 'exec', '--outside', '--', 'curl', '-sS', '-m', String(timeoutSec), url]);
  return r.code === 0 ? r.stdout : '';
}

let kubeconfig = '';
const kubectl = async (args: string[], input?: string) => {
  const r = await runKubectl(kubeconfig, args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const jsonpath = (kind: string, name: string, path: string) =>
  kubectl(['get', kind, '-n', 'demo', name, '-o', `jsonpath={${path}}`]);
let pods: Record<string, LabPod> = {};

const WEB = ['demo/kpr-web-1', 'demo/kpr-web-2'];
// Services in demo: the sample LB pool serves that namespace.
const SERVICES = [
  {
    metadata: { name: 'kpr-web', namespace: 'demo' },
    spec: {
      type: 'LoadBalancer',
      selector: { app: 'kpr-web' },
      externalIPs: [EXTERNAL_IP],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  },
  {
    metadata: { name: 'kpr-ranges', namespace: 'demo' },
    spec: {
      type: 'LoadBalancer',
      selector: { app: 'kpr-web' },
      loadBalancerSourceRanges: ['10.0.0.0/8'],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    },
  },
  {
    metadata: { name: 'kpr-local', namespace: 'demo' },
    spec: {
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      selector: { app: 'kpr-peer' },
      ports: [{ name: 'peer', port: 9000, targetPort: 9000, protocol: 'TCP' }],
    },
  },
  // No selector: its EndpointSlice is the test's, with one serving+terminating endpoint only.
  {
    metadata: { name: 'kpr-term', namespace: 'demo' },
    spec: { ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
  },
].map((s) => ({ apiVersion: 'v1', kind: 'Service', ...s }));

describe('kube-proxy replacement in the lab: ClusterIP, NodePort, LoadBalancer, externalIPs, socket-LB, relay', () => {
  before(async () => {
    const started = Date.now();
    const up = await cli(['lab', 'up', '--detach']);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    kubeconfig = up.stdout.trim().split('\n').pop()!;
    console.log(`lab up --detach: ${Date.now() - started} ms`);
    const add = async (ref: string, app: string) => {
      const r = await cli(['lab', 'pod', 'add', ref, '--labels', `app=${app}`]);
      assert.equal(r.code, 0, r.stderr);
    };
    await Promise.all([
      ...WEB.map((w) => add(w, 'kpr-web')),
      add('demo/kpr-peer', 'kpr-peer'),
      add('demo/kpr-client', 'kpr-client'),
      add('demo/kpr-gone', 'kpr-gone'),
    ]);
    const list = JSON.parse((await cli(['lab', 'pod', 'list', '-o', 'json'])).stdout) as LabPod[];
    pods = Object.fromEntries(list.map((p) => [`${p.namespace}/${p.name}`, p]));
    for (const s of SERVICES) await kubectl(['apply', '-f', '-'], JSON.stringify(s));
  });

  after(async () => {
    const down = await cli(['lab', 'down']);
    assert.equal(down.code, 0, down.stderr);
    // Nothing stays attached: socket-LB off the lab's cgroup (or the cgroup gone), the pins gone.
    if (existsSync(LAB_CGROUP))
      for (const [hook, ids] of Object.entries(socketLbAttachments(LAB_CGROUP)))
        assert.deepEqual(ids, [], `${hook} still attached to ${LAB_CGROUP}`);
    assert.equal(existsSync(LAB_PIN_ROOT), false, `${LAB_PIN_ROOT} left behind`);
    rmSync(join(labDir, '..'), { recursive: true, force: true });
  });

  it('a pod resolves a Service name through CoreDNS behind the kube-dns ClusterIP', async () => {
    const ip = await jsonpath('svc', 'kpr-web', '.spec.clusterIP');
    const resolv = await inClient(['cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, new RegExp(`^nameserver ${KUBE_DNS_IP.replaceAll('.', '\\.')}$`, 'm'));
    const r = await waitFor(
      'kpr-web.demo.svc.cluster.local to resolve in demo/kpr-client',
      async () => {
        const g = await inClient(['getent', 'hosts', 'kpr-web.demo.svc.cluster.local']);
        return g.code === 0 && g;
      },
      20_000,
    );
    assert.equal(r.stdout.trim().split(/\s+/)[0], ip);
    const dns = await inClient(['getent', 'hosts', 'kube-dns.kube-system.svc.cluster.local']);
    assert.equal(dns.stdout.trim().split(/\s+/)[0], KUBE_DNS_IP, dns.stderr);
  });

  it('a ClusterIP from the node: a pod answers through socket-LB, getpeername says the ClusterIP', async () => {
    const ip = await jsonpath('svc', 'kpr-web', '.spec.clusterIP');
    const script = `require('node:http').get({ host: '${ip}', port: 80, timeout: 2000 }, (res) => {
      const peer = res.socket.remoteAddress; let body = ''; res.on('data', (d) => (body += d));
      res.on('end', () => console.log(JSON.stringify({ peer, body })));
    }).on('error', (e) => { console.error(e.message); process.exit(1); });`;
    const got = await waitFor(
      `the node to reach ${ip}:80`,
      async () => {
        const r = await cli(['lab', 'exec', '--node', '--', process.execPath, '-e', script]);
        return r.code === 0 && (JSON.parse(r.stdout) as { peer: string; body: string });
      },
      20_000,
    );
    assert.equal(got.peer, ip);
    assert.ok(WEB.includes(got.body.trim()), got.body);
    // The CLI's own probe from the node agrees.
    const probe = await probeJson(['node', 'svc:demo/kpr-web', '--port', '80']);
    assert.equal(probe.allowed, true);
    assert.ok(WEB.includes(probe.answeredBy ?? ''), JSON.stringify(probe));
  });

  it('backends that are only serving+terminating still answer', async () => {
    // A pod of its own: a backend is one entry of the backend map, in one state for every Service.
    const backend = pods['demo/kpr-gone']!;
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: {
        name: 'kpr-term-1',
        namespace: 'demo',
        labels: { 'kubernetes.io/service-name': 'kpr-term', 'endpointslice.kubernetes.io/managed-by': 'kpr-test' },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
      endpoints: [
        {
          addresses: [backend.ip],
          conditions: { ready: false, serving: true, terminating: true },
          targetRef: { kind: 'Pod', namespace: 'demo', name: 'kpr-gone' },
        },
      ],
    };
    await kubectl(['apply', '-f', '-'], JSON.stringify(slice));
    const answer = await waitFor(
      'svc:demo/kpr-term to answer',
      async () => {
        const r = await probeJson(['demo/kpr-client', 'svc:demo/kpr-term', '--port', '80', '--timeout', '500']);
        return r.allowed && r;
      },
      20_000,
    );
    assert.equal(answer.answeredBy, 'demo/kpr-gone');
    const list = await cli(['service', 'list']);
    assert.match(list.stdout, /demo\/kpr-term\s+1 => [\d.]+:80\/TCP \(terminating\)/);
  });

  it('from the outside host: NodePort, LoadBalancer IP and externalIP answered by a backend pod', async () => {
    const nodePort = Number(await jsonpath('svc', 'kpr-web', '.spec.ports[0].nodePort'));
    assert.ok(nodePort >= 30000 && nodePort <= 32767, String(nodePort));
    const lbIP = await waitFor(
      'LB-IPAM to give demo/kpr-web an address',
      async () => (await jsonpath('svc', 'kpr-web', '.status.loadBalancer.ingress[0].ip')) || undefined,
      20_000,
    );
    assert.match(lbIP, /^172\.31\.250\./);
    const nodePortUrl = `http://${OUTSIDE_NODE_ADDR}:${nodePort}/`;
    // The samples' CCNP deny-ingress-from-world stands for every pod, whatever a namespace allows
    // (deny wins over allow): the translated connection reaches the pod and is denied there.
    const denied = await probeJson(['outside', OUTSIDE_NODE_ADDR, '--port', String(nodePort), '--timeout', '500']);
    assert.equal(denied.allowed, false);
    const flows = await waitFor(
      'a dropped flow from the outside host to a kpr-web pod',
      async () => {
        const r = await cli(['observe', '--last', '50', '--verdict', 'DROPPED', '-o', 'json']);
        const lines = r.stdout.split('\n').filter(Boolean);
        return lines.find((l) => l.includes(OUTSIDE_ADDR) && l.includes('deny-ingress-from-world'));
      },
      10_000,
    );
    assert.ok(flows);
    await kubectl(['delete', 'ccnp', 'deny-ingress-from-world']);
    const body = await waitFor(
      `the outside host to get an answer at ${nodePortUrl}`,
      async () => (await curlFromOutside(nodePortUrl)) || undefined,
      20_000,
    );
    assert.ok(WEB.includes(body.trim()), body);
    const lb = await curlFromOutside(`http://${lbIP}/`);
    assert.ok(WEB.includes(lb.trim()), `LoadBalancer ${lbIP}: '${lb}'`);
    const via = ['ip', 'route', 'replace', EXTERNAL_IP, 'via', OUTSIDE_NODE_ADDR];
    const route = await cli(['lab', 'exec', '--outside', '--', ...via]);
    assert.equal(route.code, 0, route.stderr);
    const ext = await curlFromOutside(`http://${EXTERNAL_IP}/`);
    assert.ok(WEB.includes(ext.trim()), `externalIP ${EXTERNAL_IP}: '${ext}'`);
    // Both backends are chosen, over a few new connections (Maglev spreads the source ports).
    const seen = new Set<string>();
    await waitFor(
      'both kpr-web pods to answer the NodePort',
      async () => {
        seen.add((await curlFromOutside(nodePortUrl)).trim());
        return WEB.every((w) => seen.has(w));
      },
      20_000,
    );
  });

  it('loadBalancerSourceRanges without the outside host: its LoadBalancer IP does not answer it', async () => {
    const lbIP = await waitFor(
      'LB-IPAM to give demo/kpr-ranges an address',
      async () => (await jsonpath('svc', 'kpr-ranges', '.status.loadBalancer.ingress[0].ip')) || undefined,
      20_000,
    );
    assert.match(lbIP, /^172\.31\.250\./);
    // The agent has the frontend (with its ranges) before the refusal means anything.
    await waitFor(
      'the agent to list kpr-ranges with its LoadBalancer IP',
      async () => {
        const list = await cli(['service', 'list']);
        return list.stdout.includes(`${lbIP}:80/TCP`);
      },
      20_000,
    );
    const r = await probeJson(['outside', lbIP, '--port', '80', '--timeout', '1000']);
    assert.equal(r.allowed, false, JSON.stringify(r));
    assert.equal(await curlFromOutside(`http://${lbIP}/`, 1), '');
  });

  it('externalTrafficPolicy Local: the backend sees the outside host as the client', async () => {
    const nodePort = Number(await jsonpath('svc', 'kpr-local', '.spec.ports[0].nodePort'));
    // A one-shot server in the backend pod: tells each client the address it sees, exits after one.
    const server = spawn(
      join(repoRoot, 'bin', 'cilium-ts'),
      [
        'lab',
        'exec',
        'demo/kpr-peer',
        '--',
        process.execPath,
        '-e',
        `const s = require('node:net').createServer((c) => { c.end(c.remoteAddress + '\\n'); s.close(); });
         s.listen(9000, '0.0.0.0'); setTimeout(() => process.exit(2), 60000).unref();`,
      ],
      { env, stdio: 'ignore' },
    );
    try {
      const script = `exec 3<>/dev/tcp/${OUTSIDE_NODE_ADDR}/${nodePort}; head -n 1 <&3`;
      const seen = await waitFor(
        `the peer server behind ${OUTSIDE_NODE_ADDR}:${nodePort} to answer`,
        async () => {
          const r = await cli(['lab', 'exec', '--outside', '--', 'timeout', '2', 'bash', '-c', script]);
          return r.code === 0 && r.stdout.trim();
        },
        20_000,
      );
      assert.equal(seen, OUTSIDE_ADDR);
    } finally {
      server.kill();
    }
  });

  it('service list and status show the frontends and the kube-proxy replacement features', async () => {
    const list = await cli(['service', 'list']);
    assert.equal(list.code, 0, list.stderr);
    const nodePort = await jsonpath('svc', 'kpr-web', '.spec.ports[0].nodePort');
    const at = OUTSIDE_NODE_ADDR.replaceAll('.', '\\.');
    assert.match(list.stdout, new RegExp(`${at}:${nodePort}/TCP\\s+NodePort\\s+demo/kpr-web`));
    assert.match(list.stdout, /172\.31\.250\.\d+:80\/TCP\s+LoadBalancer\s+demo\/kpr-web/);
    assert.match(list.stdout, new RegExp(`${EXTERNAL_IP.replaceAll('.', '\\.')}:80/TCP\\s+ExternalIP\\s+demo/kpr-web`));
    const status = await cli(['status']);
    assert.equal(status.code, 0, status.stderr);
    const kpr = /KubeProxyReplacement:\s+True\s+\[([^\]]*)\]/.exec(status.stdout);
    assert.ok(kpr, status.stdout);
    const features = kpr[1]!.split(', ');
    for (const f of ['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalIPs', 'SourceRanges', 'SocketLB'])
      assert.ok(features.includes(f), `${f} not in ${kpr[0]}`);
  });

  it('Hubble Relay: relay.addr, cilium-ts observe through it, the hubble CLI sees 1/1 nodes', async () => {
    const relayFile = join(labDir, 'relay.addr');
    assert.ok(existsSync(relayFile), 'no relay.addr');
    const relay = readFileSync(relayFile, 'utf8').trim();
    assert.notEqual(relay, readFileSync(join(labDir, 'hubble.addr'), 'utf8').trim());
    const observe = await cli(['observe', '--last', '5', '-o', 'json']);
    assert.equal(observe.code, 0, observe.stderr);
    assert.equal(observe.stdout.split('\n').filter(Boolean).length, 5);
    const hubble = join(repoRoot, '.tools', 'bin', 'hubble');
    const status = await waitFor(
      'hubble status through the relay to see the node',
      async () => {
        const r = await run(hubble, ['status', '--server', relay], 20_000);
        return r.code === 0 && /Connected Nodes: 1\/1/.test(r.stdout) && r.stdout;
      },
      20_000,
    );
    assert.match(status, /Healthcheck \(via .*\): Ok/);
  });
});
