// Two "pods": network namespaces joined to the host by veth pairs, as a CNI plugin would
// make them. Only addresses inside namespaces this module creates are ever used.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { ifindexOf } from '../../src/datapath/loader.ts';
import { waitFor } from '../harness/wait.ts';

export interface Pod {
  ns: string;
  hostIf: string;
  hostIfindex: number;
  ip: string;
  gw: string;
  mac: string;
  hostMac: string;
}

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Subnet number for this process, so parallel runs do not collide. */
export function subnetBase(): number {
  return 10 + (process.pid % 120) * 2;
}

export function createPod(name: string, subnet: number): Pod {
  const ns = `cts-${process.pid}-${name}`;
  const hostIf = `cts${process.pid % 100000}${name}`.slice(0, 15);
  const gw = `10.200.${subnet}.1`,
    podIp = `10.200.${subnet}.2`;
  ip('netns', 'add', ns);
  try {
    return setUp(ns, hostIf, gw, podIp);
  } catch (e) {
    // Half-made pods are removed here: the caller only learns about complete ones.
    try {
      ip('netns', 'del', ns);
    } catch {
      /* best effort */
    }
    try {
      ip('link', 'del', hostIf);
    } catch {
      /* best effort */
    }
    throw e;
  }
}

function setUp(ns: string, hostIf: string, gw: string, podIp: string): Pod {
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns);
  ip('addr', 'add', `${gw}/24`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  ip('-n', ns, 'addr', 'add', `${podIp}/24`, 'dev', 'eth0');
  ip('-n', ns, 'link', 'set', 'eth0', 'up');
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  ip('-n', ns, 'route', 'add', 'default', 'via', gw);
  // Forwarding only between these two host interfaces, not machine-wide.
  execFileSync('sysctl', ['-q', '-w', `net.ipv4.conf.${hostIf}.forwarding=1`]);
  const links = JSON.parse(
    execFileSync('ip', ['-n', ns, '-j', 'link', 'show', 'eth0'], { encoding: 'utf8' }),
  ) as Array<{ address: string }>;
  return {
    ns,
    hostIf,
    hostIfindex: ifindexOf(hostIf),
    ip: podIp,
    gw,
    mac: links[0]?.address ?? '',
    hostMac: readFileSync(`/sys/class/net/${hostIf}/address`, 'utf8').trim(),
  };
}

export function setForwarding(pod: Pod, on: boolean): void {
  execFileSync('sysctl', ['-q', '-w', `net.ipv4.conf.${pod.hostIf}.forwarding=${on ? 1 : 0}`]);
}

export function deletePod(pod: Pod): void {
  try {
    ip('netns', 'del', pod.ns);
  } catch {
    /* already gone */
  }
  try {
    ip('link', 'del', pod.hostIf);
  } catch {
    /* went with the namespace */
  }
}

/** Runs a Node script inside the pod and resolves with what it printed once it exits. */
export function runInPod(pod: Pod, script: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}

/** Starts a long-running Node script inside the pod; resolves once it printed "ready". */
async function startInPod(pod: Pod, what: string, script: string): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (!chunk.toString().includes('ready')) throw new Error(`${what} did not start: ${chunk.toString()}`);
  return child;
}

/** A TCP server in the pod answering every connection on the given ports with "hello". */
export async function startServer(pod: Pod, ports: number[]): Promise<ChildProcess> {
  const script = `
    const net = require('node:net');
    let up = 0;
    for (const port of ${JSON.stringify(ports)}) {
      net.createServer((s) => { s.on('error', () => {}); s.end('hello'); })
        .listen(port, '0.0.0.0', () => { if (++up === ${ports.length}) console.log('ready'); });
    }`;
  return startInPod(pod, 'server', script);
}

/** Connects from the pod; resolves 'ok' when the server answered, else 'timeout'/'error'. */
export function tryConnect(from: Pod, host: string, port: number, timeoutMs = 1500): Promise<string> {
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port} });
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, ${timeoutMs});
    s.on('data', (d) => { console.log(d.toString() === 'hello' ? 'ok' : 'bad'); clearTimeout(t); s.destroy(); });
    s.on('error', (e) => { console.log('error:' + e.code); clearTimeout(t); });`;
  return runInPod(from, script);
}

/** UDP servers in the pod echoing every datagram back to its sender. */
export async function startUdpEcho(pod: Pod, ports: number[]): Promise<ChildProcess> {
  const script = `
    const dgram = require('node:dgram');
    let up = 0;
    for (const port of ${JSON.stringify(ports)}) {
      const s = dgram.createSocket('udp4');
      s.on('message', (m, r) => s.send(m, r.port, r.address));
      s.bind(port, '0.0.0.0', () => { if (++up === ${ports.length}) console.log('ready'); });
    }`;
  return startInPod(pod, 'UDP server', script);
}

/**
 * Sends `count` datagrams from the pod, each from a fresh socket (so each is a new flow that
 * the datapath judges by policy, not by conntrack), `concurrency` at a time; resolves with how
 * many were echoed back within `timeoutMs`.
 */
export function udpProbe(
  from: Pod,
  host: string,
  port: number,
  opts: { count?: number; concurrency?: number; timeoutMs?: number } = {},
): Promise<number> {
  const count = opts.count ?? 1,
    concurrency = opts.concurrency ?? 1,
    timeoutMs = opts.timeoutMs ?? 1000;
  const script = `
    const dgram = require('node:dgram');
    let next = 0, answered = 0, running = 0;
    function one() {
      if (next >= ${count}) { if (running === 0) { console.log(answered); process.exit(0); } return; }
      const i = next++; running++;
      const s = dgram.createSocket('udp4');
      const done = (ok) => { if (ok) answered++; clearTimeout(t); s.close(); running--; one(); };
      const t = setTimeout(() => done(false), ${timeoutMs});
      s.on('message', (m) => done(m.toString() === 'p' + i));
      s.send('p' + i, ${port}, ${JSON.stringify(host)});
    }
    for (let k = 0; k < ${concurrency}; k++) one();`;
  return runInPod(from, script).then(Number);
}

/** One ICMP echo from the pod: true when answered. */
export function ping(from: Pod, host: string, timeoutS = 1): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', from.ns, 'ping', '-c1', '-W', String(timeoutS), host], {
      stdio: 'ignore',
    });
    child.on('error', reject);
    child.on('close', (code) => resolve(code === 0));
  });
}

/** A TCP server in the pod that echoes what it receives, connections kept open. */
export async function startEchoServer(pod: Pod, port: number): Promise<ChildProcess> {
  const script = `
    require('node:net').createServer((s) => { s.on('error', () => {}); s.pipe(s); })
      .listen(${port}, '0.0.0.0', () => console.log('ready'));`;
  return startInPod(pod, 'echo server', script);
}

/** A long-lived TCP connection from the pod; `roundTrip` sends a word and waits for its echo. */
export interface Connection {
  roundTrip(word: string, timeoutMs?: number): Promise<boolean>;
  close(): void;
}

export async function openConnection(from: Pod, host: string, port: number): Promise<Connection> {
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port} }, () => console.log('connected'));
    s.on('error', (e) => { console.log('error:' + e.code); process.exit(1); });
    s.on('data', (d) => process.stdout.write(d));
    process.stdin.on('data', (d) => s.write(d));
    process.stdin.on('end', () => { s.destroy(); process.exit(0); });`;
  const child = spawn('ip', ['netns', 'exec', from.ns, process.execPath, '-e', script], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const printed = (text: string, timeoutMs: number): Promise<boolean> =>
    waitFor(`${JSON.stringify(text)} from the client`, () => out.includes(text), {
      timeoutMs,
      intervalMs: 10,
      giveUpIf: () => child.exitCode !== null && 'the client exited',
    }).then(
      () => true,
      () => false,
    );
  if (!(await printed('connected', 3000))) {
    child.kill();
    throw new Error(`connection to ${host}:${port} failed: ${out}`);
  }
  return {
    async roundTrip(word, timeoutMs = 1500) {
      child.stdin.write(`${word}\n`);
      return printed(`${word}\n`, timeoutMs);
    },
    close() {
      child.stdin.end();
      child.kill();
    },
  };
}
