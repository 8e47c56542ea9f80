// The Services bench's network and processes: a backend namespace answering on any address of a
// range, client namespaces routed to it through the root namespace, kube-proxy in its own namespace
// (its tables are that namespace's, never the machine's), a TCP relay to the apiserver (which listens
// on 127.0.0.1 of the root namespace only), and the long-lived client of services-client.ts.
// Everything made here registers its undo with a Teardown, run in reverse also when the bench fails.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const here = dirname(fileURLToPath(import.meta.url));

/** Backends: every address of this range is local in the backend namespace (an AnyIP route). */
export const BACKEND_RANGE = '172.28.0.0/15';
export const SERVICE_RANGE = '10.96.0.0/16';
export const BACKEND_PORT = 8080;

export class Teardown {
  readonly #steps: Array<{ what: string; run: () => unknown }> = [];
  #running: Promise<string[]> | undefined;
  add(what: string, run: () => unknown): void {
    this.#steps.push({ what, run });
  }
  /** Runs every undo, last first; a second call (a signal during a failing run) waits for the first. */
  run(): Promise<string[]> {
    this.#running ??= this.#runSteps();
    return this.#running;
  }
  async #runSteps(): Promise<string[]> {
    const failed: string[] = [];
    for (const s of this.#steps.splice(0).reverse()) {
      try {
        await s.run();
      } catch (e) {
        failed.push(`${s.what}: ${(e as Error).message.split('\n')[0]}`);
      }
    }
    return failed;
  }
}

export function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

const sysctl = (key: string, value: string) => writeFileSync(`/proc/sys/${key.replaceAll('.', '/')}`, value);

/** A process that dies with us (setpriv --pdeathsig); stdout/stderr to `logFile`, else stdout piped. */
export function spawnOwned(args: string[], logFile?: string): ChildProcess {
  const out = logFile === undefined ? 'pipe' : openSync(logFile, 'a');
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', ...args], {
    stdio: ['pipe', out, logFile === undefined ? 'inherit' : out],
  });
  if (typeof out === 'number') closeSync(out);
  return child;
}

export async function stopProcess(p: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const done = new Promise<void>((r) => p.once('exit', () => r()));
  p.kill('SIGCONT'); // a paused process must run to die of SIGTERM
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
  await done;
  clearTimeout(t);
}

export interface NetNs {
  name: string;
  hostIf: string;
  /** address of the namespace's end */
  addr: string;
  /** address of the root namespace's end (its gateway) */
  gw: string;
}

/** A namespace joined to the root namespace by a /30 veth, default route through the root end. */
export function makeNetns(td: Teardown, name: string, hostIf: string, subnet: number): NetNs {
  const gw = `10.212.${subnet}.1`,
    addr = `10.212.${subnet}.2`;
  ip('netns', 'add', name);
  // The root end of the veth goes with the namespace.
  td.add(`netns ${name}`, () => ip('netns', 'del', name));
  ip('link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
  ip('addr', 'add', `${gw}/30`, 'dev', hostIf);
  ip('link', 'set', hostIf, 'up');
  ip('-n', name, 'addr', 'add', `${addr}/30`, 'dev', 'eth0');
  ip('-n', name, 'link', 'set', 'eth0', 'up');
  ip('-n', name, 'link', 'set', 'lo', 'up');
  ip('-n', name, 'route', 'add', 'default', 'via', gw);
  // Forwarding only for what arrives on this interface, not machine-wide.
  sysctl(`net.ipv4.conf.${hostIf}.forwarding`, '1');
  sysctl(`net.ipv4.conf.${hostIf}.rp_filter`, '0');
  return { name, hostIf, addr, gw };
}

/**
 * A packet to a Service address that nobody translated (a Service not programmed yet) must not leave
 * the machine through the root namespace's default route: dropped when it comes from this client.
 */
export function blackholeServiceRange(td: Teardown, clientAddr: string, pref: number): void {
  const spec = ['from', `${clientAddr}/32`, 'to', SERVICE_RANGE, 'blackhole', 'pref', String(pref)];
  ip('rule', 'add', ...spec);
  td.add(`ip rule ${clientAddr}`, () => ip('rule', 'del', ...spec));
}

/** The backend namespace: the whole range local, routed from the root namespace; one server answering "x". */
export async function makeBackends(td: Teardown, ns: NetNs): Promise<ChildProcess> {
  ip('-n', ns.name, 'route', 'add', 'local', BACKEND_RANGE, 'dev', 'lo');
  ip('route', 'add', BACKEND_RANGE, 'via', ns.addr, 'dev', ns.hostIf);
  td.add('backend route', () => ip('route', 'del', BACKEND_RANGE, 'via', ns.addr, 'dev', ns.hostIf));
  const script = `
    const net = require('node:net');
    net.createServer((s) => { s.on('error', () => {}); s.end('x'); })
      .listen({ port: ${BACKEND_PORT}, host: '0.0.0.0', backlog: 4096 }, () => console.log('ready'));`;
  const p = spawnOwned(['ip', 'netns', 'exec', ns.name, process.execPath, '-e', script]);
  td.add('backend server', () => stopProcess(p));
  await firstLine(p, 'backend server');
  return p;
}

async function firstLine(p: ChildProcess, what: string): Promise<string> {
  const rl = createInterface({ input: p.stdout! });
  const line = await new Promise<string>((resolve, reject) => {
    rl.once('line', resolve);
    p.once('exit', (code) => reject(new Error(`${what} exited (${code}) before it was ready`)));
  });
  rl.close();
  return line;
}

/** A TCP relay in the root namespace: each `listen` address:port → 127.0.0.1:`target`. */
export async function startRelay(td: Teardown, target: number, listens: string[]): Promise<void> {
  const script = `
    const net = require('node:net');
    const [target, ...listens] = process.argv.slice(1);
    let up = 0;
    for (const l of listens) {
      const [host, port] = l.split(':');
      net.createServer((c) => {
        const u = net.connect(Number(target), '127.0.0.1');
        c.pipe(u); u.pipe(c);
        c.on('error', () => u.destroy()); u.on('error', () => c.destroy());
        c.on('close', () => u.destroy()); u.on('close', () => c.destroy());
      }).listen(Number(port), host, () => { if (++up === listens.length) console.log('ready'); });
    }`;
  const p = spawnOwned([process.execPath, '-e', script, String(target), ...listens]);
  td.add('relay', () => stopProcess(p));
  await firstLine(p, 'relay');
}

export interface KubeProxy {
  mode: 'iptables' | 'nftables';
  proc: ChildProcess;
  log: string;
  rssKiB(): number;
  pause(): void;
  resume(): void;
}

/** kube-proxy in `ns`, against the apiserver through the relay at `relay` (ip:port). */
export function startKubeProxy(
  td: Teardown,
  o: { mode: 'iptables' | 'nftables'; ns: NetNs; dir: string; adminKubeconfig: string; relay: string; node: string },
): KubeProxy {
  // The apiserver's certificate names localhost, not the relay's address.
  const kubeconfig = join(o.dir, `kube-proxy-${o.mode}.kubeconfig`);
  writeFileSync(
    kubeconfig,
    readFileSync(o.adminKubeconfig, 'utf8').replace(
      /server: https:\/\/127\.0\.0\.1:\d+/,
      `server: https://${o.relay}\n    tls-server-name: localhost`,
    ),
    { mode: 0o600 },
  );
  const config = join(o.dir, `kube-proxy-${o.mode}.yaml`);
  writeFileSync(
    config,
    [
      'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
      'kind: KubeProxyConfiguration',
      `mode: ${o.mode}`,
      `clientConnection: {kubeconfig: ${kubeconfig}}`,
      `hostnameOverride: ${o.node}`,
      // The node's IP: without it kube-proxy waits 30 s for the Node object to list one.
      `bindAddress: ${o.ns.addr}`,
      // The client's address counts as a pod's: Service traffic from it is not masqueraded.
      'clusterCIDR: 10.212.0.0/16',
      'detectLocalMode: ClusterCIDR',
      // The namespace's own loopback.
      'metricsBindAddress: 127.0.0.1:10249',
      'healthzBindAddress: 127.0.0.1:10256',
      'oomScoreAdj: 0',
      // 0: leave the conntrack limits and timeouts as they are (nf_conntrack_max is not per-namespace).
      'conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}',
      // No NodePort on 127.0.0.1: that would need route_localnet.
      'iptables: {localhostNodePorts: false}',
      '',
    ].join('\n'),
  );
  const log = join(o.dir, `kube-proxy-${o.mode}.log`);
  const proc = spawnOwned(
    ['ip', 'netns', 'exec', o.ns.name, join(here, '..', '.tools', 'bin', 'kube-proxy'), `--config=${config}`],
    log,
  );
  td.add(`kube-proxy ${o.mode}`, () => stopProcess(proc));
  return {
    mode: o.mode,
    proc,
    log,
    rssKiB: () => rssKiB(proc.pid!),
    pause: () => proc.kill('SIGSTOP'),
    resume: () => proc.kill('SIGCONT'),
  };
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

export interface LatencyResult {
  us: number[];
  errors: Record<string, number>;
}
export interface RateResult {
  count: number;
  failed: number;
  /** connections still open at the hard stop (3 s past the end), dropped */
  stuck: number;
  seconds: number;
}
export interface ReachResult {
  ok: boolean;
  ms: number;
}

/** services-client.ts in a namespace; one command at a time. */
export class Client {
  readonly #proc: ChildProcess;
  readonly #lines: string[] = [];
  #waiter: ((line: string) => void) | undefined;
  readonly name: string;

  private constructor(name: string, proc: ChildProcess) {
    this.name = name;
    this.#proc = proc;
    createInterface({ input: proc.stdout! }).on('line', (l) => {
      if (this.#waiter) {
        const w = this.#waiter;
        this.#waiter = undefined;
        w(l);
      } else this.#lines.push(l);
    });
  }

  static async start(td: Teardown, name: string, netns: string): Promise<Client> {
    const proc = spawnOwned([
      'ip',
      'netns',
      'exec',
      netns,
      process.execPath,
      '--disable-warning=ExperimentalWarning',
      join(here, 'services-client.ts'),
    ]);
    td.add(`client ${name}`, () => stopProcess(proc));
    const c = new Client(name, proc);
    await c.#next(10_000);
    return c;
  }

  #next(timeoutMs: number): Promise<unknown> {
    const l = this.#lines.shift();
    if (l !== undefined) return Promise.resolve(JSON.parse(l));
    return new Promise((resolve, reject) => {
      let settled = false;
      // After a long pause of this process's event loop the timer and the answer are both due: the
      // timer runs first, so the rejection waits one turn for input already there.
      const t = setTimeout(
        () =>
          setImmediate(() => {
            if (settled) return;
            settled = true;
            this.#waiter = undefined;
            reject(new Error(`client ${this.name}: no answer in ${timeoutMs} ms`));
          }),
        timeoutMs,
      );
      const onExit = () => reject(new Error(`client ${this.name} exited`));
      this.#proc.once('exit', onExit);
      this.#waiter = (line) => {
        settled = true;
        clearTimeout(t);
        this.#proc.off('exit', onExit);
        resolve(JSON.parse(line));
      };
    });
  }

  #send(o: object): void {
    this.#proc.stdin!.write(JSON.stringify(o) + '\n');
  }

  latency(targets: string[], port: number): Promise<LatencyResult> {
    this.#send({ op: 'latency', targets, port, timeoutMs: 1000 });
    return this.#next(targets.length * 1000 + 10_000) as Promise<LatencyResult>;
  }

  rate(targets: string[], port: number, seconds: number, inflight: number): Promise<RateResult> {
    this.#send({ op: 'rate', targets, port, seconds, inflight });
    return this.#next(seconds * 1000 + 10_000) as Promise<RateResult>;
  }

  /** Starts polling; resolves once the client's clock runs, with the promise of the result. */
  async reach(ip: string, port: number, deadlineMs: number): Promise<{ result: Promise<ReachResult> }> {
    this.#send({ op: 'reach', ip, port, deadlineMs, everyMs: 2 });
    await this.#next(10_000);
    return { result: this.#next(deadlineMs + 10_000) as Promise<ReachResult> };
  }
}
