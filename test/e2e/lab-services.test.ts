// The lab's side of Services, as a user drives it (`lab up --detach`, then the CLI): servers that
// answer with who they are (TCP line, UDP datagram, HTTP 200), `lab exec` in a pod, the outside
// host or the node (exit codes, network namespaces, cgroups), the outside host reachable both
// ways, `svc:` targets resolved to ClusterIPs, and CoreDNS as kube-dns answering cluster names at
// its pod IP. Nothing here needs the Service datapath (a ClusterIP answering): those assertions
// come with it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';
import { runKubectl } from '../../src/lab/control-plane.ts';
import { OUTSIDE_ADDR, OUTSIDE_HOST_IFNAME, OUTSIDE_NETNS } from '../../src/lab/paths.ts';
import { KUBE_DNS_IP } from '../../src/lab/dns.ts';
import type { LabPod } from '../../src/lab/pods.ts';
import { requireDatapath } from '../datapath/env.ts';
import { waitFor } from '../harness/wait.ts';

requireDatapath();

const labDir = join(mkdtempSync(join(tmpdir(), 'cilium-ts-lab-svc-')), 'lab');
const env = { ...process.env, CILIUM_TS_LAB_DIR: labDir };

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(join(repoRoot, 'bin', 'cilium-ts'), args, { env, timeout: 180_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function sh(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 30_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

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

let kubeconfig = '';
let pods: Record<string, LabPod> = {};
const kubectl = (args: string[], input?: string) => runKubectl(kubeconfig, args, input);

describe('the lab for Services: answers, lab exec, the outside host, svc: targets, CoreDNS', () => {
  before(async () => {
    const started = Date.now();
    const up = await cli(['lab', 'up', '--detach']);
    assert.equal(up.code, 0, up.stderr + up.stdout);
    kubeconfig = up.stdout.trim().split('\n').pop()!;
    console.log(`lab up --detach (with cluster DNS): ${Date.now() - started} ms`);
    for (const name of ['a', 'b']) {
      const add = await cli(['lab', 'pod', 'add', `demo/${name}`, '--labels', `app=${name}`]);
      assert.equal(add.code, 0, add.stderr);
    }
    const list = JSON.parse((await cli(['lab', 'pod', 'list', '-o', 'json'])).stdout) as LabPod[];
    pods = Object.fromEntries(list.map((p) => [`${p.namespace}/${p.name}`, p]));
  });

  after(async () => {
    const down = await cli(['lab', 'down']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(existsSync(`/var/run/netns/${OUTSIDE_NETNS}`), false, 'the outside host is left behind');
    assert.notEqual((await sh('ip', ['link', 'show', OUTSIDE_HOST_IFNAME])).code, 0, 'its veth is left behind');
    for (const p of Object.values(pods))
      assert.equal(existsSync(`/etc/netns/${p.netns}`), false, `resolv.conf of ${p.netns} left behind`);
    rmSync(join(labDir, '..'), { recursive: true, force: true });
  });

  it('pods answer with namespace/name over TCP and UDP; lab probe reports who answered', async () => {
    const tcp = await cli(['lab', 'probe', 'demo/a', 'demo/b', '--port', '80']);
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.equal(tcp.stdout.trim(), 'allowed');
    assert.match(tcp.stderr, /answered by demo\/b/);
    const udp = await probeJson(['demo/b', 'demo/a', '--port', '81', '--protocol', 'UDP']);
    assert.deepEqual(udp, { ...udp, address: pods['demo/a']!.ip, allowed: true, answeredBy: 'demo/a' });
    const script = `exec 3<>/dev/tcp/${pods['demo/b']!.ip}/81; echo hi >&3; head -n 1 <&3`;
    const line = await cli(['lab', 'exec', 'demo/a', '--', 'bash', '-c', script]);
    assert.equal(line.stdout, 'demo/b\n', line.stderr);
  });

  it('an HTTP request gets 200 with namespace/name as the body, keep-alive or close as asked', async () => {
    const b = pods['demo/b']!.ip;
    const one = await cli(['lab', 'exec', 'demo/a', '--', 'curl', '-sS', '-i', '-m', '5', `http://${b}/`]);
    assert.equal(one.code, 0, one.stderr);
    assert.match(one.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(one.stdout, /\r\nContent-Length: 7\r\n/);
    assert.match(one.stdout, /\r\nConnection: keep-alive\r\n/);
    assert.ok(one.stdout.endsWith('\r\n\r\ndemo/b\n'), one.stdout);
    // Two requests on one connection, then HTTP/1.0 without keep-alive: closed.
    const two = await cli(['lab', 'exec', 'demo/a', '--', 'curl', '-sS', '-m', '5', `http://${b}/`, `http://${b}/x`]);
    assert.equal(two.stdout, 'demo/b\ndemo/b\n', two.stderr);
    const old = await cli(['lab', 'exec', 'demo/a', '--', 'curl', '-sS', '-0', '-i', '-m', '5', `http://${b}:81/`]);
    assert.match(old.stdout, /\r\nConnection: close\r\n/);
  });

  it('lab exec runs in the pod, the outside host or the node, in the lab cgroups, with the exit code', async () => {
    assert.equal((await cli(['lab', 'exec', 'demo/a', '--', 'sh', '-c', 'exit 7'])).code, 7);
    assert.equal((await cli(['lab', 'exec', '--outside', '--', 'false'])).code, 1);
    assert.equal((await cli(['lab', 'exec', '--node', '--', 'sh', '-c', 'exit 3'])).code, 3);
    const podAddr = await cli(['lab', 'exec', 'demo/a', '--', 'ip', '-4', '-br', 'addr', 'show', 'eth0']);
    assert.match(podAddr.stdout, new RegExp(`${pods['demo/a']!.ip.replaceAll('.', '\\.')}/32`));
    const outAddr = await cli(['lab', 'exec', '--outside', '--', 'ip', '-4', '-br', 'addr', 'show', 'eth0']);
    assert.match(outAddr.stdout, new RegExp(`${OUTSIDE_ADDR.replaceAll('.', '\\.')}/30`));
    // The node's command is a host process: the root network namespace, the lab's cgroup.
    const nodeNs = await cli(['lab', 'exec', '--node', '--', 'readlink', '/proc/self/ns/net']);
    assert.equal(nodeNs.stdout.trim(), readlinkSync('/proc/self/ns/net'));
    const nodeCg = await cli(['lab', 'exec', '--node', '--', 'cat', '/proc/self/cgroup']);
    assert.match(nodeCg.stdout, /^0::\/cilium-ts-lab$/m);
    const podCg = await cli(['lab', 'exec', 'demo/a', '--', 'cat', '/proc/self/cgroup']);
    assert.match(podCg.stdout, /^0::\/cilium-ts-lab\/pods$/m);
    const unknown = await cli(['lab', 'exec', '--node', 'no-such-node', '--', 'true']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no lab node 'no-such-node'/);
    assert.equal((await cli(['lab', 'exec', 'demo/a'])).code, 2);
    // The pod's resolver is kube-dns, as kubelet writes it for dnsPolicy ClusterFirst.
    const resolv = await cli(['lab', 'exec', 'demo/a', '--', 'cat', '/etc/resolv.conf']);
    assert.equal(
      resolv.stdout,
      `nameserver ${KUBE_DNS_IP}\nsearch demo.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n`,
    );
  });

  it('the outside host: pods reach it, it reaches pods once the world-deny sample is gone', async () => {
    assert.equal((await cli(['lab', 'exec', '--outside', '--', 'cat', '/etc/hostname'])).code, 0);
    const toOutside = await probeJson(['demo/a', 'outside', '--port', '80']);
    assert.deepEqual(toOutside, { ...toOutside, address: OUTSIDE_ADDR, allowed: true, answeredBy: 'outside' });
    const curl = await cli(['lab', 'exec', 'demo/a', '--', 'curl', '-sS', '-m', '5', `http://${OUTSIDE_ADDR}/`]);
    assert.equal(curl.stdout, 'outside\n', curl.stderr);
    // config/samples deny ingress from the world to every pod: the outside host is the world.
    assert.equal((await probeJson(['outside', 'demo/a', '--port', '80', '--timeout', '500'])).allowed, false);
    const del = await kubectl(['delete', 'ccnp', 'deny-ingress-from-world']);
    assert.equal(del.code, 0, del.stderr);
    const fromOutside = await waitFor(
      'the outside host to reach demo/a',
      async () => {
        const r = await probeJson(['outside', 'demo/a', '--port', '80', '--timeout', '500']);
        return r.allowed && r;
      },
      20_000,
    );
    assert.equal(fromOutside.answeredBy, 'demo/a');
    assert.equal((await probeJson(['outside', 'demo/b', '--port', '81', '--protocol', 'UDP'])).answeredBy, 'demo/b');
  });

  it('svc:NS/NAME resolves to the ClusterIP from the apiserver', async () => {
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web', namespace: 'demo' },
      spec: { selector: { app: 'b' }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }] },
    };
    assert.equal((await kubectl(['apply', '-f', '-'], JSON.stringify(svc))).code, 0);
    const ip = (await kubectl(['get', 'svc', '-n', 'demo', 'web', '-o', 'jsonpath={.spec.clusterIP}'])).stdout;
    assert.match(ip, /^10\.96\./);
    const web = await probeJson(['demo/a', 'svc:demo/web', '--port', '80', '--timeout', '300']);
    assert.equal(web.address, ip);
    const dns = await probeJson(['demo/a', 'svc:kube-system/kube-dns', '--port', '53', '--timeout', '300']);
    assert.equal(dns.address, KUBE_DNS_IP);
    const missing = await cli(['lab', 'probe', 'demo/a', 'svc:demo/nope', '--port', '80']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Service demo\/nope/);
  });

  it('CoreDNS runs as kube-system/coredns behind the kube-dns Service and answers cluster names', async () => {
    const coredns = pods['kube-system/coredns'];
    assert.ok(coredns, `no CoreDNS pod among ${Object.keys(pods).join(', ')}`);
    assert.deepEqual(coredns.labels, { 'k8s-app': 'kube-dns' });
    const svcIp = await kubectl(['get', 'svc', '-n', 'kube-system', 'kube-dns', '-o', 'jsonpath={.spec.clusterIP}']);
    assert.equal(svcIp.stdout, KUBE_DNS_IP);
    assert.equal(KUBE_DNS_IP, '10.96.0.10');
    // The controller-manager's EndpointSlice selects the CoreDNS pod.
    await waitFor('the kube-dns EndpointSlice', async () => {
      const r = await kubectl([
        'get',
        'endpointslices',
        '-n',
        'kube-system',
        '-l',
        'kubernetes.io/service-name=kube-dns',
        '-o',
        'jsonpath={.items[*].endpoints[*].addresses[*]}',
      ]);
      return r.stdout.trim() === coredns.ip;
    });
    // Queried at the pod's address from another pod (the ClusterIP needs the Service datapath).
    const query = (name: string, type: 'resolve4' | 'resolveSrv') =>
      cli([
        'lab',
        'exec',
        'demo/a',
        '--',
        process.execPath,
        '-e',
        `const r = new (require('node:dns').promises.Resolver)({ timeout: 2000, tries: 2 });
         r.setServers(['${coredns.ip}']);
         r.${type}('${name}').then((a) => console.log(JSON.stringify(a)), (e) => { console.error(e.code); process.exit(1); });`,
      ]);
    const a = await query('kube-dns.kube-system.svc.cluster.local', 'resolve4');
    assert.equal(a.code, 0, a.stderr);
    assert.deepEqual(JSON.parse(a.stdout), [KUBE_DNS_IP]);
    const srv = await query('_dns._udp.kube-dns.kube-system.svc.cluster.local', 'resolveSrv');
    assert.deepEqual(
      (JSON.parse(srv.stdout) as Array<{ port: number }>).map((r) => r.port),
      [53],
    );
    const nx = await query('nope.kube-system.svc.cluster.local', 'resolve4');
    assert.equal(nx.stderr.trim(), 'ENOTFOUND');
  });
});
