// Real TCP from outside the cluster: an "outside" network namespace linked to this (root)
// namespace — the node — by a test-only veth, two backend pods behind bpf_lxc and a "remote"
// backend (a namespace the node routes to, not one of its endpoints) behind bpf_host. The node
// is the root namespace because the addon attaches programs in the caller's namespace; as in
// lb-traffic.test.ts only interfaces and connected routes this test creates are touched. Each
// backend answers with its name and the peer address it saw.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { LxcDatapath, ifindexOf } from '../../src/datapath/loader.ts';
import { NodePortDatapath } from '../../src/datapath/nodeport.ts';
import { EnforcementMode } from '../../src/datapath/constants.ts';
import { LbMaps, type LbBackend, type LbService } from '../../src/datapath/lb.ts';
import { requireDatapath } from './env.ts';
import { createPod, deletePod, subnetBase, type Pod } from './netns.ts';

requireDatapath();

const NODEPORT = 30080;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Runs a Node script in a namespace; resolves with what it printed. */
function runIn(ns: string, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}

/** TCP 8080: answers each connection with "<name> <peer address>". */
async function startPeerServer(ns: string, name: string): Promise<ChildProcess> {
  const script = `
    const answer = (s) => { s.on('error', () => {}); s.end(${JSON.stringify(name)} + ' ' + s.remoteAddress); };
    require('node:net').createServer(answer).listen(8080, '0.0.0.0', () => console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (!chunk.toString().includes('ready')) throw new Error(`server ${name} did not start: ${chunk.toString()}`);
  return child;
}

/** A connection from the outside host (from `local`): what the server said, or 'timeout' / 'error:…'. */
function fetchFrom(ns: string, host: string, port: number, local?: string): Promise<string> {
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port}${
      local ? `, localAddress: ${JSON.stringify(local)}` : ''
    } });
    let out = '';
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, 1500);
    s.on('data', (d) => { out += d; });
    s.on('end', () => { clearTimeout(t); console.log(out); process.exit(0); });
    s.on('error', (e) => { clearTimeout(t); console.log('error:' + e.code); process.exit(0); });`;
  return runIn(ns, script);
}

describe('NodePort and LoadBalancer traffic from outside the node', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-nptraffic-${process.pid}`;
  const base = subnetBase();
  const outNs = `cts-${process.pid}-out`;
  const outIf = `cts${process.pid % 100000}out`.slice(0, 15);
  const node = `10.202.${base}.1`,
    client = `10.202.${base}.2`,
    deniedClient = `10.202.${base}.3`,
    lbIp = `10.203.${base}.10`,
    lbLocalIp = `10.203.${base}.11`;
  const pods: Pod[] = [];
  const procs: ChildProcess[] = [];
  let backends: Pod[] = [];
  let remote: Pod;
  let dp: LxcDatapath;
  let np: NodePortDatapath;
  let lb: LbMaps;

  const be = (p: Pod, id: number): LbBackend => ({ id, address: p.ip, port: 8080, protocol: 'TCP', state: 'active' });
  const services = (): LbService[] => [
    {
      id: 1,
      frontend: { address: node, port: NODEPORT, protocol: 'TCP', type: 'NodePort', scope: 'external' },
      backends: backends.map((p, i) => be(p, 11 + i)),
      sourceRanges: [],
    },
    {
      id: 2,
      frontend: { address: lbIp, port: 80, protocol: 'TCP', type: 'LoadBalancer', scope: 'external' },
      backends: backends.map((p, i) => be(p, 11 + i)),
      sourceRanges: [`${client}/32`],
    },
    {
      id: 3,
      frontend: { address: lbLocalIp, port: 80, protocol: 'TCP', type: 'LoadBalancer', scope: 'external' },
      backends: [be(backends[0]!, 11)],
      sourceRanges: [],
      externalTrafficLocal: true,
    },
    {
      id: 4,
      frontend: { address: node, port: NODEPORT + 1, protocol: 'TCP', type: 'NodePort', scope: 'external' },
      backends: [be(remote, 21)],
      sourceRanges: [],
    },
  ];

  before(async () => {
    backends = [createPod('np0', base), createPod('np1', base + 1)];
    remote = createPod('nprm', base + 2);
    pods.push(...backends, remote);
    for (const [i, p] of backends.entries()) procs.push(await startPeerServer(p.ns, `backend-${i}`));
    procs.push(await startPeerServer(remote.ns, 'remote'));

    ip('netns', 'add', outNs);
    ip('link', 'add', outIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outNs);
    ip('addr', 'add', `${node}/29`, 'dev', outIf);
    ip('link', 'set', outIf, 'up');
    // A native device forwards (Cilium requires it; the lab's outside link has it): bpf_fib_lookup checks it.
    execFileSync('sysctl', ['-q', '-w', `net.ipv4.conf.${outIf}.forwarding=1`]);
    ip('-n', outNs, 'link', 'set', 'lo', 'up');
    ip('-n', outNs, 'addr', 'add', `${client}/29`, 'dev', 'eth0');
    ip('-n', outNs, 'addr', 'add', `${deniedClient}/29`, 'dev', 'eth0');
    ip('-n', outNs, 'link', 'set', 'eth0', 'up');
    ip('-n', outNs, 'route', 'add', `10.203.${base}.0/24`, 'via', node);

    dp = LxcDatapath.load({ pinRoot, maglevTableSize: 251 });
    np = NodePortDatapath.load({ pinRoot, snatAddress: node, maglevTableSize: 251 });
    lb = new LbMaps(dp);
    backends.forEach((p, i) => {
      dp.maps.ipcache.update(`${p.ip}/32`, { identity: 53000 + i, tunnelEndpoint: null, flags: 0 });
      dp.maps.endpoints.update(p.hostIfindex, {
        epId: 300 + i,
        identity: 53000 + i,
        flags: 0,
        mode: EnforcementMode.DEFAULT,
        mac: p.mac,
        nodeMac: p.hostMac,
      });
      dp.maps.endpointsByIp.update(p.ip, p.hostIfindex);
      dp.attach(p.hostIfindex);
    });
    // Both the outside link and the link to the "remote" backend are native devices of the node.
    np.attach(outIf);
    np.attach(remote.hostIf);
    lb.sync(services());
  });

  after(() => {
    for (const p of procs) p.kill();
    for (const p of pods) deletePod(p);
    try {
      ip('netns', 'del', outNs);
    } catch {
      /* already gone */
    }
    try {
      ip('link', 'del', outIf);
    } catch {
      /* went with the namespace */
    }
    np?.close();
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('answers a NodePort from a local backend, which sees the client address; both backends serve', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) {
      const answer = await fetchFrom(outNs, node, NODEPORT);
      assert.match(answer, /^backend-[01] /, `answer ${answer}`);
      const [name, peer] = answer.split(' ');
      assert.equal(peer, client, 'a local backend sees the client (Cilium: no SNAT toward local backends)');
      seen.add(name!);
    }
    assert.equal(seen.size, 2, `only ${[...seen].join(', ')} answered`);
    // The request went through the backend's cil_to_container: its conntrack holds the ingress flow.
    const tracked = dp.maps.conntrack.entries().some(([k]) => k.saddr === client && k.dir === 'ingress');
    assert.ok(tracked, 'the pod ingress hook judged the north-south request');
  });

  it('answers a LoadBalancer IP for a client in its source ranges and not for one outside them', async () => {
    const answer = await fetchFrom(outNs, lbIp, 80, client);
    assert.ok(/^backend-[01] /.test(answer) && answer.endsWith(` ${client}`), `answer ${answer}`);
    assert.equal(await fetchFrom(outNs, lbIp, 80, deniedClient), 'timeout');
  });

  it('externalTrafficPolicy=Local: the backend sees the real client address', async () => {
    assert.equal(await fetchFrom(outNs, lbLocalIp, 80), `backend-0 ${client}`);
  });

  it('SNATs to the node for a backend elsewhere, and its reply returns to the client', async () => {
    assert.equal(await fetchFrom(outNs, node, NODEPORT + 1), `remote ${node}`);
  });

  it('detaches from the interface', () => {
    assert.equal(np.detach(outIf), true);
    assert.equal(np.detach(outIf), false);
    assert.equal(dp.addon.tcQuery(ifindexOf(outIf), 'ingress', 1, 1), null);
  });
});
