// `cilium-ts lab probe`: real connections from inside one lab pod's network namespace (or the
// outside host's, or the node's) to a pod, a Service's ClusterIP or an address, as the upstream
// NetworkPolicy e2e suite probes its x/y/z model. One prober process per source (a process lives
// in one network namespace) tries all of that source's targets at once, so a 9×9 matrix costs
// about one timeout, not 81.
// TCP: connect, send, and expect an answer line. UDP: a datagram and its answer. The lab's
// servers answer with who they are (`namespace/name`), which the prober records. ICMP: an echo
// request on a raw socket (python3: Node has no raw sockets, and ping is not on every machine);
// who answered is the reply's source address.
import { spawn } from 'node:child_process';
import { isIPv4 } from 'node:net';
import { parseArgs } from 'node:util';
import { cluster } from '../lib/fluent.ts';
import { inCgroup } from './cgroup.ts';
import { labNodes } from './nodes-file.ts';
import { LAB_CGROUP, LAB_PODS_CGROUP, OUTSIDE_ADDR, OUTSIDE_NETNS } from './paths.ts';
import { labPodOptions, listPods, parsePodRef, readPod, type LabPod, type LabPodOptions } from './pods.ts';

export type ProbeProtocol = 'TCP' | 'UDP' | 'ICMP';
export const DEFAULT_PROBE_TIMEOUT_MS = 1000;

const nodeProber = `
const net = require('node:net'), dgram = require('node:dgram');
const { protocol, port, timeoutMs, targets } = JSON.parse(process.argv[1]);
// Only a text line names who answered (a DNS server, say, answers the probe with binary).
const who = (d) => { const l = d.toString('latin1').split('\\n')[0].trim(); return /^[\\x21-\\x7e]{1,253}$/.test(l) ? l : undefined; };
const one = (host) => new Promise((resolve) => {
  let done = false;
  const finish = (r, close) => { if (done) return; done = true; clearTimeout(timer); try { close(); } catch {} resolve(r); };
  let closer = () => {};
  const timer = setTimeout(() => finish({ ok: false }, closer), timeoutMs);
  if (protocol === 'TCP') {
    const s = net.connect({ host, port });
    closer = () => s.destroy();
    s.on('connect', () => s.write('cilium-ts-probe\\n'));
    s.on('data', (d) => finish({ ok: true, answeredBy: who(d) }, closer));
    s.on('error', () => finish({ ok: false }, closer));
  } else {
    const u = dgram.createSocket('udp4');
    closer = () => u.close();
    u.on('message', (d) => finish({ ok: true, answeredBy: who(d) }, closer));
    u.on('error', () => finish({ ok: false }, closer));
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
print(json.dumps([{'ok': o, 'answeredBy': t} if o else {'ok': False} for o, t in zip(ok, targets)]))
`;

/** One probe's result: reachable or not, and who answered (the server's `namespace/name`, `outside`, an address). */
export interface ProbeAnswer {
  ok: boolean;
  answeredBy?: string;
}

/**
 * Where a probe starts: a network namespace (a pod's, the outside host's) or, with netns
 * undefined, the node's root namespace; `cgroup` is where the prober process runs (socket-LB
 * translates only in the lab's cgroups).
 */
export interface ProbeSource {
  netns: string | undefined;
  cgroup?: string;
}

/** Probes every target from a lab pod; returns one verdict (reachable or not) per target. */
export async function probeFrom(
  from: Pick<LabPod, 'netns' | 'cgroup'>,
  targets: string[],
  port: number,
  protocol: ProbeProtocol,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): Promise<boolean[]> {
  const answers = await probeAnswers(
    { netns: from.netns, cgroup: from.cgroup ?? LAB_PODS_CGROUP },
    targets,
    port,
    protocol,
    timeoutMs,
  );
  return answers.map((a) => a.ok);
}

/** Probes every target from one source; one answer (with who answered) per target. */
export function probeAnswers(
  from: ProbeSource,
  targets: string[],
  port: number,
  protocol: ProbeProtocol,
  timeoutMs = DEFAULT_PROBE_TIMEOUT_MS,
): Promise<ProbeAnswer[]> {
  if (targets.length === 0) return Promise.resolve([]);
  const input = JSON.stringify({ protocol, port, timeoutMs, targets });
  const cmd = protocol === 'ICMP' ? ['python3', '-c', icmpProber, input] : [process.execPath, '-e', nodeProber, input];
  const inNetns = from.netns === undefined ? cmd : ['ip', 'netns', 'exec', from.netns, ...cmd];
  const argv = from.cgroup ? inCgroup(from.cgroup, inNetns) : inNetns;
  const where = from.netns ?? 'the node';
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
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
        const r = JSON.parse(out) as ProbeAnswer[];
        if (r.length === targets.length) return resolve(r);
      } catch {
        /* reported below */
      }
      reject(new Error(`probe from ${where} failed (exit ${code}): ${err.trim() || out.trim()}`));
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

/**
 * FROM: `outside` (the outside host), `node` (a host process of the lab's node; of its first node
 * in a multi-node lab), `node:NAME` (of that node) or a pod `NS/POD`.
 */
export function probeSource(o: LabPodOptions, ref: string): ProbeSource {
  if (ref === 'outside') return { netns: OUTSIDE_NETNS };
  if (ref === 'node' || ref.startsWith('node:')) {
    const nodes = labNodes();
    const node = ref === 'node' ? nodes[0] : nodes.find((n) => n.name === ref.slice(5));
    if (!node) throw new Error(`no lab node '${ref.slice(5)}' (nodes: ${nodes.map((n) => n.name).join(', ')})`);
    return { netns: node.netns, cgroup: node.cgroup ?? LAB_CGROUP };
  }
  const pod = requirePod(o, ref);
  return { netns: pod.netns, cgroup: pod.cgroup ?? LAB_PODS_CGROUP };
}

/** TO: an IPv4 address, a Service `svc:NS/NAME` (its ClusterIP, from the apiserver), `outside` or a pod `NS/POD`. */
export async function probeTarget(o: LabPodOptions, ref: string): Promise<string> {
  if (isIPv4(ref)) return ref;
  if (ref === 'outside') return OUTSIDE_ADDR;
  if (ref.startsWith('svc:')) {
    const { namespace, name } = parsePodRef(ref.slice(4));
    const svc = await cluster(o.kubeconfig).get('Service', name, namespace);
    if (!svc) throw new Error(`no Service ${namespace}/${name}`);
    const ip = svc.spec?.clusterIP;
    if (!ip || ip === 'None' || !isIPv4(ip))
      throw new Error(`Service ${namespace}/${name} has no IPv4 ClusterIP (${ip})`);
    return ip;
  }
  return requirePod(o, ref).ip;
}

const probeUsage = `usage: cilium-ts lab probe FROM TO --port N [--protocol TCP|UDP|ICMP] [--timeout MS] [-o text|json]
       cilium-ts lab probe --all --port N [--protocol TCP|UDP|ICMP] [--timeout MS] [-o text|json]
  FROM: NAMESPACE/POD, outside (the outside host), node or node:NAME (a host process of a lab node)
  TO:   NAMESPACE/POD, svc:NAMESPACE/NAME (the Service's ClusterIP), outside or an IPv4 address
  Prints allowed or denied (exit 0 or 1); who answered (namespace/name, outside) goes to stderr,
  and with -o json: {from, to, address, port, protocol, allowed, answeredBy}.
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
  const [fromRef, toRef] = [positionals[0]!, positionals[1]!];
  const from = probeSource(o, fromRef);
  const address = await probeTarget(o, toRef);
  const [answer] = await probeAnswers(from, [address], port, protocol, timeoutMs);
  const ok = answer?.ok === true;
  if (values.output === 'json') {
    const result = { from: fromRef, to: toRef, address, port, protocol, allowed: ok, answeredBy: answer?.answeredBy };
    process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  } else {
    // stdout stays the verdict alone (scripts compare it); who answered is for the person.
    console.log(ok ? 'allowed' : 'denied');
    if (ok && answer.answeredBy) process.stderr.write(`answered by ${answer.answeredBy}\n`);
  }
  return ok ? 0 : 1;
}
