// `cilium-ts lab probe`: real connections from inside one lab pod's network namespace to
// another pod's address, as the upstream NetworkPolicy e2e suite probes its x/y/z model. One
// prober process per source pod (a process lives in one network namespace) tries all of that
// pod's targets at once, so a 9×9 matrix costs about one timeout, not 81.
// TCP: connect, send, and expect the echo. UDP: a datagram and its echo. ICMP: an echo request
// on a raw socket (python3: Node has no raw sockets, and ping is not on every machine).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { labPodOptions, listPods, parsePodRef, readPod, type LabPod, type LabPodOptions } from './pods.ts';

export type ProbeProtocol = 'TCP' | 'UDP' | 'ICMP';
export const DEFAULT_PROBE_TIMEOUT_MS = 1000;

const nodeProber = `
const net = require('node:net'), dgram = require('node:dgram');
const { protocol, port, timeoutMs, targets } = JSON.parse(process.argv[1]);
const one = (host) => new Promise((resolve) => {
  let done = false;
  const finish = (ok, close) => { if (done) return; done = true; clearTimeout(timer); try { close(); } catch {} resolve(ok); };
  let closer = () => {};
  const timer = setTimeout(() => finish(false, closer), timeoutMs);
  if (protocol === 'TCP') {
    const s = net.connect({ host, port });
    closer = () => s.destroy();
    s.on('connect', () => s.write('cilium-ts-probe'));
    s.on('data', () => finish(true, closer));
    s.on('error', () => finish(false, closer));
  } else {
    const u = dgram.createSocket('udp4');
    closer = () => u.close();
    u.on('message', () => finish(true, closer));
    u.on('error', () => finish(false, closer));
    u.connect(port, host, () => u.send('cilium-ts-probe'));
  }
});
Promise.all(targets.map(one)).then((r) => process.stdout.write(JSON.stringify(r) + '\\n'));
`;

const icmpProber = `
import json, os, select, socket, struct, sys, time
args = json.loads(sys.argv[1])
targets, timeout = args['targets'], args['timeoutMs'] / 1000.0
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
ident = os.getpid() & 0xffff
def checksum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
for seq, host in enumerate(targets):
    body = b'cilium-ts-probe'
    hdr = struct.pack('!BBHHH', 8, 0, 0, ident, seq)
    s.sendto(struct.pack('!BBHHH', 8, 0, checksum(hdr + body), ident, seq) + body, (host, 0))
ok = [False] * len(targets)
deadline = time.time() + timeout
while not all(ok):
    left = deadline - time.time()
    if left <= 0 or not select.select([s], [], [], left)[0]: break
    data, addr = s.recvfrom(2048)
    ihl = (data[0] & 0x0f) * 4
    typ, _code, _sum, rid, seq = struct.unpack('!BBHHH', data[ihl:ihl + 8])
    if typ == 0 and rid == ident and seq < len(targets) and addr[0] == targets[seq]: ok[seq] = True
print(json.dumps(ok))
`;

/** Probes every target from inside one pod; returns one verdict (reachable or not) per target. */
export function probeFrom(
  from: Pick<LabPod, 'netns'>,
  targets: string[],
  port: number,
  protocol: ProbeProtocol,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): Promise<boolean[]> {
  if (targets.length === 0) return Promise.resolve([]);
  const input = JSON.stringify({ protocol, port, timeoutMs, targets });
  const cmd = protocol === 'ICMP' ? ['python3', '-c', icmpProber, input] : [process.execPath, '-e', nodeProber, input];
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', from.netns, ...cmd], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '',
      err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      try {
        const r = JSON.parse(out) as boolean[];
        if (r.length === targets.length) return resolve(r);
      } catch {
        /* reported below */
      }
      reject(new Error(`probe from ${from.netns} failed (exit ${code}): ${err.trim() || out.trim()}`));
    });
  });
}

export interface ProbeMatrix {
  protocol: ProbeProtocol;
  port: number;
  /** "namespace/name", rows (from) and columns (to) in this order */
  pods: string[];
  /** allowed[from][to] */
  allowed: boolean[][];
  elapsedMs: number;
}

/** Every pod to every pod (itself included, as upstream's truth table does), in parallel. */
export async function probeMatrix(
  pods: LabPod[],
  port: number,
  protocol: ProbeProtocol,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): Promise<ProbeMatrix> {
  const started = Date.now();
  const ips = pods.map((p) => p.ip);
  const allowed = await Promise.all(pods.map((p) => probeFrom(p, ips, port, protocol, timeoutMs)));
  return {
    protocol,
    port,
    pods: pods.map((p) => `${p.namespace}/${p.name}`),
    allowed,
    elapsedMs: Date.now() - started,
  };
}

/** The truth table as upstream prints it: `.` allowed, `X` denied. */
export function formatMatrix(m: ProbeMatrix): string {
  const w = Math.max(...m.pods.map((p) => p.length), `${m.protocol}/${m.port}`.length);
  const head = `${m.protocol}/${m.port}`.padEnd(w) + '  ' + m.pods.map((p) => p.padEnd(w)).join(' ');
  const rows = m.pods.map(
    (from, i) => from.padEnd(w) + '  ' + m.allowed[i]!.map((ok) => (ok ? '.' : 'X').padEnd(w)).join(' '),
  );
  return [head, ...rows].map((l) => l.trimEnd()).join('\n') + '\n';
}

function requirePod(o: LabPodOptions, ref: string): LabPod {
  const { namespace, name } = parsePodRef(ref);
  const pod = readPod(o, namespace, name);
  if (!pod) throw new Error(`no lab pod ${namespace}/${name} (see 'cilium-ts lab pod list')`);
  return pod;
}

const probeUsage = `usage: cilium-ts lab probe FROM TO --port N [--protocol TCP|UDP|ICMP] [--timeout MS]
       cilium-ts lab probe --all --port N [--protocol TCP|UDP|ICMP] [--timeout MS] [-o text|json]
`;

export async function labProbeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      all: { type: 'boolean', default: false },
      port: { type: 'string' },
      protocol: { type: 'string', default: 'TCP' },
      timeout: { type: 'string', default: String(DEFAULT_PROBE_TIMEOUT_MS) },
      output: { type: 'string', short: 'o', default: 'text' },
    },
  });
  const protocol = values.protocol.toUpperCase();
  const port = values.port === undefined ? (protocol === 'ICMP' ? 0 : NaN) : Number(values.port);
  const timeoutMs = Number(values.timeout);
  if (
    (protocol !== 'TCP' && protocol !== 'UDP' && protocol !== 'ICMP') ||
    !Number.isInteger(port) ||
    port < 0 ||
    port > 65535 ||
    !(timeoutMs > 0) ||
    (values.all ? positionals.length !== 0 : positionals.length !== 2)
  ) {
    process.stderr.write(probeUsage);
    return 2;
  }
  const o = labPodOptions();
  if (values.all) {
    const pods = listPods(o);
    if (pods.length === 0) throw new Error("there are no lab pods (add some with 'cilium-ts lab pod add')");
    const m = await probeMatrix(pods, port, protocol, timeoutMs);
    process.stdout.write(values.output === 'json' ? JSON.stringify(m, null, 2) + '\n' : formatMatrix(m));
    return 0;
  }
  const from = requirePod(o, positionals[0]!),
    to = requirePod(o, positionals[1]!);
  const [ok] = await probeFrom(from, [to.ip], port, protocol, timeoutMs);
  console.log(ok ? 'allowed' : 'denied');
  return ok ? 0 : 1;
}
