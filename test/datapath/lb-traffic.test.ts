// Real TCP and UDP through a ClusterIP: a client pod and three backend pods (network namespaces
// and veths, bpf_lxc on the host-side veths), the service maps written by LbMaps. Each backend
// answers with its own name, so the client can tell who served it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { EnforcementMode } from '../../src/datapath/constants.ts';
import { LbMaps, type LbBackend, type LbService } from '../../src/datapath/lb.ts';
import { requireDatapath } from './env.ts';
import { createPod, deletePod, openConnection, runInPod, subnetBase, type Pod } from './netns.ts';

requireDatapath();

const VIP = '10.96.77.10';

/** TCP 8080: sends its name and a newline, then echoes. UDP 9053: answers every datagram with its name. */
async function startNamedServer(pod: Pod, name: string): Promise<ChildProcess> {
  const script = `
    const net = require('node:net'), dgram = require('node:dgram');
    let up = 0; const ready = () => { if (++up === 2) console.log('ready'); };
    net.createServer((s) => { s.on('error', () => {}); s.write(${JSON.stringify(name)} + '\\n'); s.pipe(s); })
      .listen(8080, '0.0.0.0', ready);
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

/** `count` TCP connections (one after another) from the pod: the name each got, or 'timeout'/'error:…'. */
async function tcpNames(from: Pod, host: string, port: number, count: number): Promise<string[]> {
  const script = `
    const net = require('node:net'); const out = [];
    function one(i) {
      if (i === ${count}) { console.log(JSON.stringify(out)); process.exit(0); }
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
      const t = setTimeout(() => { out.push('timeout'); s.destroy(); one(i + 1); }, 1500);
      s.once('data', (d) => { clearTimeout(t); out.push(d.toString().trim()); s.destroy(); one(i + 1); });
      s.on('error', (e) => { clearTimeout(t); out.push('error:' + e.code); one(i + 1); });
    }
    one(0);`;
  return JSON.parse(await runInPod(from, script)) as string[];
}

/** `count` UDP queries, each from a fresh socket: the name that answered each, or 'timeout'. */
async function udpNames(from: Pod, host: string, port: number, count: number): Promise<string[]> {
  const script = `
    const dgram = require('node:dgram'); const out = [];
    function one(i) {
      if (i === ${count}) { console.log(JSON.stringify(out)); process.exit(0); }
      const s = dgram.createSocket('udp4');
      const t = setTimeout(() => { out.push('timeout'); s.close(); one(i + 1); }, 1000);
      s.on('message', (m) => { clearTimeout(t); out.push(m.toString()); s.close(); one(i + 1); });
      s.send('q', ${port}, ${JSON.stringify(host)});
    }
    one(0);`;
  return JSON.parse(await runInPod(from, script)) as string[];
}

describe('ClusterIP traffic between network namespaces', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-lbtraffic-${process.pid}`;
  const pods: Pod[] = [];
  const procs: ChildProcess[] = [];
  let client: Pod;
  const servers: Pod[] = [];
  let dp: LxcDatapath;
  let lb: LbMaps;

  const backends = (pods: Pod[], port: number, protocol: LbBackend['protocol']): LbBackend[] =>
    pods.map((p) => ({
      id: servers.indexOf(p) + 1 + (protocol === 'UDP' ? 100 : 0),
      address: p.ip,
      port,
      protocol,
      state: 'active',
    }));
  const services = (tcp: Pod[], udp: Pod[] = servers): LbService[] => [
    {
      id: 1,
      frontend: { address: VIP, port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: backends(tcp, 8080, 'TCP'),
      sourceRanges: [],
    },
    {
      id: 2,
      frontend: { address: VIP, port: 53, protocol: 'UDP', type: 'ClusterIP', scope: 'external' },
      backends: backends(udp, 9053, 'UDP'),
      sourceRanges: [],
    },
  ];

  before(async () => {
    const base = subnetBase();
    client = createPod('lc', base);
    pods.push(client);
    for (let i = 0; i < 3; i++) {
      const s = createPod(`lb${i}`, base + 1 + i);
      pods.push(s);
      servers.push(s);
      procs.push(await startNamedServer(s, `backend-${i}`));
    }
    dp = LxcDatapath.load({ pinRoot });
    lb = new LbMaps(dp);
    pods.forEach((p, i) => {
      dp.maps.ipcache.update(`${p.ip}/32`, { identity: 52000 + i, tunnelEndpoint: null, flags: 0 });
      dp.maps.endpoints.update(p.hostIfindex, {
        epId: 200 + i,
        identity: 52000 + i,
        flags: 0,
        mode: EnforcementMode.DEFAULT,
      });
      dp.attach(p.hostIfindex);
    });
    lb.sync(services(servers));
  });

  after(() => {
    for (const p of procs) p.kill();
    for (const p of pods) deletePod(p);
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('spreads TCP connections to the ClusterIP across the backends', async () => {
    const names = await tcpNames(client, VIP, 80, 30);
    assert.ok(
      names.every((n) => n.startsWith('backend-')),
      `answers: ${names.join(', ')}`,
    );
    assert.equal(new Set(names).size, 3, `only ${[...new Set(names)].join(', ')} answered`);
  });

  it('answers UDP through the ClusterIP from every backend', async () => {
    const names = await udpNames(client, VIP, 53, 30);
    assert.ok(
      names.every((n) => n.startsWith('backend-')),
      `answers: ${names.join(', ')}`,
    );
    assert.ok(new Set(names).size >= 2, `only ${[...new Set(names)].join(', ')} answered`);
  });

  it('keeps an established connection on a removed backend; new connections avoid it', async () => {
    const conn = await openConnection(client, VIP, 80);
    try {
      assert.equal(await conn.roundTrip('before'), true);
      const entry = dp.lb.conntrack
        .entries()
        .find(([k, v]) => k.dir === 'service' && k.dport === 80 && v.backendPort === 8080 && k.saddr === client.ip);
      assert.ok(entry, 'the connection has a service conntrack entry');
      const gone = servers.find((s) => s.ip === entry[1].backendAddr);
      assert.ok(gone);
      const goneName = `backend-${servers.indexOf(gone)}`;
      lb.sync(services(servers.filter((s) => s !== gone)));
      assert.equal(await conn.roundTrip('after-removal'), true, 'the established connection still works');
      const names = await tcpNames(client, VIP, 80, 20);
      assert.ok(
        names.every((n) => n.startsWith('backend-') && n !== goneName),
        `answers: ${names.join(', ')}`,
      );
    } finally {
      conn.close();
    }
  });

  it('refuses a connection at once when the service has no backend', async () => {
    lb.sync(services([], []));
    // Dropped with DROP_NO_SERVICE and answered with ICMP port unreachable: refused, not a timeout.
    assert.deepEqual(await tcpNames(client, VIP, 80, 3), [
      'error:ECONNREFUSED',
      'error:ECONNREFUSED',
      'error:ECONNREFUSED',
    ]);
    lb.sync(services(servers));
    assert.ok((await tcpNames(client, VIP, 80, 1))[0]?.startsWith('backend-'));
  });
});
