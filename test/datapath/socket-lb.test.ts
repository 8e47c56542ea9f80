// Socket-LB on the real kernel: bpf_sock's cgroup programs attached to a cgroup of this test's own,
// clients started inside it (host processes, and a process in a pod's network namespace) and
// outside it, backends in network namespaces. No bpf_lxc on any veth: whatever reaches a backend
// through the ClusterIP was translated at the socket layer.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { LbMaps, type LbBackend, type LbService } from '../../src/datapath/lb.ts';
import {
  attachSocketLb,
  detachSocketLb,
  socketLbAttachments,
  socketLbPinDir,
  type SocketLbHandle,
} from '../../src/datapath/socket-lb.ts';
import { requireDatapath } from './env.ts';
import { createPod, deletePod, subnetBase, type Pod } from './netns.ts';

requireDatapath();

const CGROUP2_ROOT = '/sys/fs/cgroup/unified';
const VIP = '10.96.78.10';
const VIP6 = 'fd96:78::10';

/** TCP 8080: sends its name and a newline. UDP 9053: answers every datagram with its name. */
async function startNamedServer(pod: Pod, name: string): Promise<ChildProcess> {
  const script = `
    const net = require('node:net'), dgram = require('node:dgram');
    let up = 0; const ready = () => { if (++up === 3) console.log('ready'); };
    const serve = (s) => { s.on('error', () => {}); s.end(${JSON.stringify(name)} + '\\n'); };
    net.createServer(serve).listen(8080, '0.0.0.0', ready);
    net.createServer(serve).listen({ port: 8080, host: '::', ipv6Only: true }, ready);
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(${JSON.stringify(name)}, r.port, r.address));
    u.bind(9053, '0.0.0.0', ready);`;
  const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (!chunk.toString().includes('ready')) throw new Error(`server ${name} did not start: ${chunk.toString()}`);
  return child;
}

interface Where {
  /** run inside this cgroup (its pid written to cgroup.procs before exec) */
  cgroup?: string;
  /** run in this network namespace */
  netns?: string;
}

/** Runs a Node script where asked; resolves with its stdout parsed as JSON. */
function runClient<T>(where: Where, script: string): Promise<T> {
  let argv = [process.execPath, '-e', script];
  if (where.netns) argv = ['ip', 'netns', 'exec', where.netns, ...argv];
  if (where.cgroup) argv = ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', where.cgroup, ...argv];
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0] ?? 'sh', argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        resolve(JSON.parse(out) as T);
      } catch {
        reject(new Error(`client exited ${code}: ${out}`));
      }
    });
  });
}

interface TcpResult {
  name?: string;
  /** getpeername() of the connected socket */
  peer?: string;
  err?: string;
  ms: number;
}

/** `count` TCP connections one after another: who answered and who the socket says its peer is. */
function tcpClient(where: Where, host: string, port: number, count: number, timeoutMs = 1500): Promise<TcpResult[]> {
  return runClient(
    where,
    `
    const net = require('node:net'); const out = [];
    function one(i) {
      if (i === ${count}) { console.log(JSON.stringify(out)); process.exit(0); }
      const start = Date.now();
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
      const t = setTimeout(() => { out.push({ err: 'timeout', ms: Date.now() - start }); s.destroy(); one(i + 1); },
        ${timeoutMs});
      s.once('data', (d) => {
        clearTimeout(t);
        out.push({ name: d.toString().trim(), peer: s.remoteAddress + ':' + s.remotePort, ms: Date.now() - start });
        s.destroy(); one(i + 1);
      });
      s.on('error', (e) => { clearTimeout(t); out.push({ err: e.code, ms: Date.now() - start }); one(i + 1); });
    }
    one(0);`,
  );
}

interface UdpResult {
  name?: string;
  /** the reply's source as recvmsg reported it */
  from?: string;
  /** getpeername() of a connected socket */
  peer?: string;
  err?: string;
}

/** `count` UDP queries, each from a fresh socket (connected: connect() then send() without address). */
function udpClient(where: Where, host: string, port: number, count: number, connected = false): Promise<UdpResult[]> {
  return runClient(
    where,
    `
    const dgram = require('node:dgram'); const out = [];
    function one(i) {
      if (i === ${count}) { console.log(JSON.stringify(out)); process.exit(0); }
      const s = dgram.createSocket('udp4'); let peer;
      const done = (r) => { clearTimeout(t); out.push(r); s.close(); one(i + 1); };
      const t = setTimeout(() => done({ err: 'timeout' }), 1000);
      s.on('error', (e) => done({ err: e.code }));
      s.on('message', (m, r) => done({ name: m.toString(), from: r.address + ':' + r.port, peer }));
      if (${connected}) s.connect(${port}, ${JSON.stringify(host)}, () => {
        const a = s.remoteAddress(); peer = a.address + ':' + a.port; s.send('q');
      });
      else s.send('q', ${port}, ${JSON.stringify(host)});
    }
    one(0);`,
  );
}

const names = (r: Array<{ name?: string }>) => r.map((x) => x.name ?? 'none');

describe('socket-LB: cgroup programs translate at connect time', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-sock-${process.pid}`;
  const cgroup = `${CGROUP2_ROOT}/cilium-ts-test-sock-${process.pid}`;
  const pods: Pod[] = [];
  const servers: Pod[] = [];
  const procs: ChildProcess[] = [];
  let client: Pod;
  let dp: LxcDatapath;
  let lb: LbMaps;
  let sock: SocketLbHandle | undefined;
  const v6 = (i: number) => `fd96:${(process.pid % 65536).toString(16)}:${i}::2`;

  const backends = (pods: Pod[], port: number, protocol: LbBackend['protocol'], idBase: number): LbBackend[] =>
    pods.map((p) => ({ id: idBase + servers.indexOf(p), address: p.ip, port, protocol, state: 'active' }));
  const services = (tcp: Pod[] = servers, udp: Pod[] = servers): LbService[] => [
    {
      id: 1,
      frontend: { address: VIP, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: backends(tcp, 8080, 'TCP', 1),
      sourceRanges: [],
    },
    {
      id: 2,
      frontend: { address: VIP, port: 53, protocol: 'UDP', type: 'ClusterIP', scope: 'external' },
      backends: backends(udp, 9053, 'UDP', 101),
      sourceRanges: [],
    },
    {
      id: 3,
      frontend: { address: VIP6, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: [{ id: 201, address: v6(0), port: 8080, protocol: 'TCP', state: 'active' }],
      sourceRanges: [],
    },
  ];

  before(async () => {
    assert.ok(existsSync(`${CGROUP2_ROOT}/cgroup.procs`), `cgroup2 is not mounted at ${CGROUP2_ROOT}`);
    mkdirSync(cgroup);
    const base = subnetBase();
    client = createPod('sc', base);
    pods.push(client);
    for (let i = 0; i < 3; i++) {
      const s = createPod(`sb${i}`, base + 1 + i);
      pods.push(s);
      servers.push(s);
    }
    // One backend also has IPv6, for the IPv6 frontend.
    const s0 = servers[0] as Pod;
    execFileSync('ip', ['addr', 'add', `${v6(0).replace(/::2$/, '::1')}/64`, 'dev', s0.hostIf, 'nodad']);
    execFileSync('ip', ['-n', s0.ns, 'addr', 'add', `${v6(0)}/64`, 'dev', 'eth0', 'nodad']);
    for (const [i, s] of servers.entries()) procs.push(await startNamedServer(s, `backend-${i}`));
    dp = LxcDatapath.load({ pinRoot });
    lb = new LbMaps(dp);
    lb.sync(services());
    sock = attachSocketLb({ cgroupPath: cgroup, pinRoot });
  });

  after(() => {
    for (const p of procs) p.kill();
    try {
      sock?.detach();
    } finally {
      for (const p of pods) deletePod(p);
      dp?.close();
      rmSync(pinRoot, { recursive: true, force: true });
      if (existsSync(cgroup)) rmdirSync(cgroup);
    }
  });

  it('attaches one program per hook, pinned under the pin root', () => {
    const attached = socketLbAttachments(cgroup);
    for (const [hook, ids] of Object.entries(attached)) assert.equal(ids.length, 1, `${hook}: ${ids.join(',')}`);
    assert.ok(existsSync(`${socketLbPinDir(cgroup, pinRoot)}/cil_sock4_connect`));
  });

  it('connects a process in the cgroup to a backend; getpeername shows the ClusterIP', async () => {
    const r = await tcpClient({ cgroup }, VIP, 80, 30);
    assert.ok(
      r.every((x) => x.name?.startsWith('backend-')),
      `answers: ${JSON.stringify(r)}`,
    );
    assert.ok(
      r.every((x) => x.peer === `${VIP}:80`),
      `peers: ${r.map((x) => x.peer).join(', ')}`,
    );
    assert.equal(new Set(names(r)).size, 3, `only ${[...new Set(names(r))].join(', ')} answered`);
  });

  it('UDP: sendmsg reaches the backends, recvmsg reports the frontend as the source', async () => {
    const r = await udpClient({ cgroup }, VIP, 53, 20);
    assert.ok(
      r.every((x) => x.name?.startsWith('backend-') && x.from === `${VIP}:53`),
      `answers: ${JSON.stringify(r)}`,
    );
    assert.ok(new Set(names(r)).size >= 2, `only ${[...new Set(names(r))].join(', ')} answered`);
  });

  it('UDP connected: connect() translates, getpeername and recvmsg show the frontend', async () => {
    const r = await udpClient({ cgroup }, VIP, 53, 5, true);
    assert.ok(
      r.every((x) => x.name?.startsWith('backend-') && x.from === `${VIP}:53` && x.peer === `${VIP}:53`),
      `answers: ${JSON.stringify(r)}`,
    );
  });

  it('IPv6: a v6 frontend is translated and getpeername shows it', async () => {
    const r = await tcpClient({ cgroup }, VIP6, 80, 3);
    assert.deepEqual(
      r.map((x) => [x.name, x.peer]),
      [
        ['backend-0', `${VIP6}:80`],
        ['backend-0', `${VIP6}:80`],
        ['backend-0', `${VIP6}:80`],
      ],
      JSON.stringify(r),
    );
  });

  it('session affinity: every connection from one network namespace keeps its backend', async () => {
    lb.sync(services().map((svc) => (svc.id === 1 ? { ...svc, affinityTimeoutSec: 60 } : svc)));
    try {
      const r = await tcpClient({ cgroup }, VIP, 80, 10);
      assert.ok(r[0]?.name?.startsWith('backend-'), JSON.stringify(r));
      assert.equal(new Set(names(r)).size, 1, `answers: ${names(r).join(', ')}`);
    } finally {
      lb.sync(services());
    }
  });

  it('a process outside the cgroup is not translated', async () => {
    const r = await tcpClient({}, VIP, 80, 1, 700);
    assert.equal(r[0]?.name, undefined, `answered by ${r[0]?.name}`);
  });

  it('with no backend, connect fails at once with ECONNREFUSED', async () => {
    lb.sync(services([], []));
    try {
      const r = await tcpClient({ cgroup }, VIP, 80, 3);
      assert.deepEqual(
        r.map((x) => x.err),
        ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED'],
      );
      assert.ok(
        r.every((x) => x.ms < 500),
        `took ${r.map((x) => x.ms).join(', ')} ms`,
      );
    } finally {
      lb.sync(services());
    }
    assert.ok((await tcpClient({ cgroup }, VIP, 80, 1))[0]?.name?.startsWith('backend-'));
  });

  it('translates a pod-namespace process in the cgroup, unless hostNamespaceOnly', async () => {
    const inPod = { cgroup, netns: client.ns };
    const before = await tcpClient(inPod, VIP, 80, 3);
    assert.ok(
      before.every((x) => x.name?.startsWith('backend-') && x.peer === `${VIP}:80`),
      JSON.stringify(before),
    );

    // Attaching again swaps the programs in place (one link per hook), now host namespace only.
    const old = sock;
    sock = attachSocketLb({ cgroupPath: cgroup, pinRoot, hostNamespaceOnly: true });
    old?.close();
    for (const [hook, ids] of Object.entries(socketLbAttachments(cgroup))) {
      assert.deepEqual(ids.length, 1, `${hook}: ${ids.join(',')}`);
    }
    const r = await tcpClient(inPod, VIP, 80, 1, 700);
    assert.equal(r[0]?.name, undefined, `the pod's socket was translated: ${JSON.stringify(r)}`);
    const host = await tcpClient({ cgroup }, VIP, 80, 3);
    assert.ok(
      host.every((x) => x.name?.startsWith('backend-')),
      `host processes are still translated: ${JSON.stringify(host)}`,
    );
  });

  it("a crashed owner's pinned attachment is found and removed; the cgroup is left clean", async () => {
    sock?.close(); // as a crash would: our fds gone, the pinned links still attached
    sock = undefined;
    assert.ok(
      Object.values(socketLbAttachments(cgroup)).every((ids) => ids.length === 1),
      'still attached',
    );
    assert.equal(detachSocketLb({ pinRoot }), 8);
    assert.deepEqual(Object.values(socketLbAttachments(cgroup)).flat(), [], 'nothing attached to the cgroup any more');
    assert.equal(existsSync(socketLbPinDir(cgroup, pinRoot)), false);
    const r = await tcpClient({ cgroup }, VIP, 80, 1, 700);
    assert.equal(r[0]?.name, undefined, 'no translation after the detach');

    // And a live handle's detach() does the same.
    const h = attachSocketLb({ cgroupPath: cgroup, pinRoot });
    assert.ok((await tcpClient({ cgroup }, VIP, 80, 1))[0]?.name?.startsWith('backend-'));
    h.detach();
    assert.deepEqual(Object.values(socketLbAttachments(cgroup)).flat(), []);
  });
});
