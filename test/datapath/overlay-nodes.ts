// Two "nodes" for the cross-node datapath tests: each a network namespace of the test's own with an
// underlay veth to the other node, a pod namespace behind a veth with bpf_lxc on its node side, and
// (tunnel mode) a cilium_vxlan device with bpf_overlay. Programs are attached by a child process
// entered into the node's namespace (tc works in the caller's namespace), the maps are written from
// here through the node's pin root. Only addresses inside namespaces made here are used.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createTunnelDevice, linkIfindex } from '../../src/datapath/overlay.ts';
import type { Pod } from './netns.ts';

export interface Node {
  name: string;
  ns: string;
  underlayIf: string;
  underlayIp: string;
  podCidr: string;
  pinRoot: string;
  pod: Pod;
  /** The pod's host-side veth, in the node's namespace. */
  lxcIfindex: number;
  vxlanIfindex: number;
}

function ip(args: string[], netns?: string): string {
  return execFileSync('ip', netns ? ['-n', netns, ...args] : args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

function inNs(ns: string, cmd: string[]): void {
  execFileSync('ip', ['netns', 'exec', ns, ...cmd], { stdio: ['ignore', 'ignore', 'pipe'] });
}

function macOf(ifname: string, netns: string): string {
  return (JSON.parse(ip(['-j', 'link', 'show', 'dev', ifname], netns)) as Array<{ address: string }>)[0]!.address;
}

/** Subnet numbers of this process, so parallel runs do not collide. */
export function nodeSubnet(): number {
  return 10 + (process.pid % 120) * 2;
}

export interface TwoNodes {
  n1: Node;
  n2: Node;
  /** Removes every namespace (with its links) made here. */
  destroy(): void;
}

/** Builds both nodes; `podMtu` is the pods' eth0 MTU (the CNI lowers it by TUNNEL_OVERHEAD in tunnel mode). */
export function createTwoNodes(podMtu: number): TwoNodes {
  const b = nodeSubnet();
  const tag = `${process.pid}`;
  const made: string[] = [];
  const destroy = (): void => {
    for (const ns of made.reverse()) spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
  };
  try {
    const nodeNs = (i: number): string => {
      const ns = `cts-${tag}-node${i}`;
      ip(['netns', 'add', ns]);
      made.push(ns);
      ip(['link', 'set', 'lo', 'up'], ns);
      inNs(ns, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1']);
      return ns;
    };
    const ns1 = nodeNs(1),
      ns2 = nodeNs(2);
    // The underlay: one veth between the two nodes.
    ip(['link', 'add', 'ul1', 'type', 'veth', 'peer', 'name', 'ul2', 'netns', ns2], ns1);
    const underlay = (ns: string, ifname: string, addr: string): void => {
      ip(['addr', 'add', `${addr}/24`, 'dev', ifname], ns);
      ip(['link', 'set', ifname, 'up'], ns);
    };
    underlay(ns1, 'ul1', `172.31.${b}.1`);
    underlay(ns2, 'ul2', `172.31.${b}.2`);

    const node = (i: number, ns: string, underlayIf: string, cidrBase: string): Node => {
      const podNs = `cts-${tag}-pod${i}`;
      ip(['netns', 'add', podNs]);
      made.unshift(podNs); // removed before the nodes
      const hostIf = `lxc${i}`;
      ip(['link', 'add', 'eth0', 'mtu', String(podMtu), 'type', 'veth', 'peer', 'name', hostIf, 'netns', ns], podNs);
      const gw = `${cidrBase}.1`,
        podIp = `${cidrBase}.2`;
      ip(['addr', 'add', `${gw}/24`, 'dev', hostIf], ns);
      ip(['link', 'set', hostIf, 'up'], ns);
      ip(['addr', 'add', `${podIp}/24`, 'dev', 'eth0'], podNs);
      ip(['link', 'set', 'eth0', 'up'], podNs);
      ip(['link', 'set', 'lo', 'up'], podNs);
      ip(['route', 'add', 'default', 'via', gw], podNs);
      const lxcIfindex = linkIfindex(hostIf, ns);
      const pod: Pod = {
        ns: podNs,
        hostIf,
        hostIfindex: lxcIfindex,
        ip: podIp,
        gw,
        mac: macOf('eth0', podNs),
        hostMac: macOf(hostIf, ns),
      };
      return {
        name: `node${i}`,
        ns,
        underlayIf,
        underlayIp: `172.31.${b}.${i}`,
        podCidr: `${cidrBase}.0/24`,
        pinRoot: `/sys/fs/bpf/cilium-ts-test-overlay-${tag}-node${i}`,
        pod,
        lxcIfindex,
        vxlanIfindex: createTunnelDevice({ netns: ns, mtu: 1500 }),
      };
    };
    const n1 = node(1, ns1, 'ul1', `10.221.${b}`);
    const n2 = node(2, ns2, 'ul2', `10.222.${b}`);
    return { n1, n2, destroy };
  } catch (e) {
    destroy();
    throw e;
  }
}

/** Native routing: each node routes the other's pod CIDR via its underlay address. */
export function addNativeRoutes({ n1, n2 }: TwoNodes): void {
  ip(['route', 'replace', n2.podCidr, 'via', n2.underlayIp], n1.ns);
  ip(['route', 'replace', n1.podCidr, 'via', n1.underlayIp], n2.ns);
}

export function removeNativeRoutes({ n1, n2 }: TwoNodes): void {
  spawnSync('ip', ['-n', n1.ns, 'route', 'del', n2.podCidr], { stdio: 'ignore' });
  spawnSync('ip', ['-n', n2.ns, 'route', 'del', n1.podCidr], { stdio: 'ignore' });
}

/**
 * What a node's agent does at start, in the node's namespace: loads bpf_lxc.o and bpf_overlay.o
 * under the node's pin root and attaches them to the pod's veth and to cilium_vxlan, then exits.
 */
export function attachInNode(node: Node): void {
  const loader = new URL('../../src/datapath/loader.ts', import.meta.url).href;
  const overlay = new URL('../../src/datapath/overlay.ts', import.meta.url).href;
  const script = `import { LxcDatapath } from ${JSON.stringify(loader)};
    import { OverlayDatapath } from ${JSON.stringify(overlay)};
    const dp = LxcDatapath.load({ pinRoot: ${JSON.stringify(node.pinRoot)} });
    dp.attach(${node.lxcIfindex});
    dp.close();
    const ov = OverlayDatapath.load({ pinRoot: ${JSON.stringify(node.pinRoot)} });
    ov.attach(${node.vxlanIfindex});
    ov.close();`;
  // nsenter --net keeps our mount namespace, so the bpffs pins are the same ones.
  const r = spawnSync(
    'nsenter',
    [
      `--net=/run/netns/${node.ns}`,
      process.execPath,
      '--disable-warning=ExperimentalWarning',
      '--input-type=module',
      '-e',
      script,
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`attaching in ${node.ns} failed: ${r.stderr}`);
}

/** A TCP server in the pod that counts what a connection sent and answers the count when it ends. */
export async function startSink(pod: Pod, port: number): Promise<ChildProcess> {
  const script = `
    require('node:net').createServer((s) => {
      let n = 0;
      s.on('error', () => {});
      s.on('data', (d) => { n += d.length; });
      s.on('end', () => s.end(String(n)));
    }).listen(${port}, '0.0.0.0', () => console.log('ready'));`;
  const child = spawn('ip', ['netns', 'exec', pod.ns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const [chunk] = (await once(child.stdout, 'data')) as [Buffer];
  if (!chunk.toString().includes('ready')) throw new Error(`sink did not start: ${chunk.toString()}`);
  return child;
}

/** Sends `bytes` from the pod to the sink; resolves with the count the sink answered ('timeout' if none). */
export function sendBytes(from: Pod, host: string, port: number, bytes: number, timeoutMs = 20000): Promise<string> {
  const script = `
    const s = require('node:net').connect({ host: ${JSON.stringify(host)}, port: ${port} }, () => {
      s.end(Buffer.alloc(${bytes}, 7));
    });
    const t = setTimeout(() => { console.log('timeout'); process.exit(0); }, ${timeoutMs});
    let got = '';
    s.on('data', (d) => { got += d; });
    s.on('end', () => { console.log(got); clearTimeout(t); });
    s.on('error', (e) => { console.log('error:' + e.code); clearTimeout(t); });`;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', from.ns, process.execPath, '-e', script], {
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

export interface VxlanCapture {
  /** The first VXLAN packet seen on the underlay whose inner source is `innerSrc`: its VNI. */
  result: Promise<{ vni: number; innerSrc: string; innerDst: string } | null>;
  stop(): void;
}

/**
 * Captures on the node's underlay interface with an AF_PACKET socket (python3: Node has none) until
 * a VXLAN packet (UDP 8472) whose inner IPv4 source is `innerSrc` shows up.
 */
export async function captureVxlan(node: Node, innerSrc: string, timeoutS = 10): Promise<VxlanCapture> {
  const py = `
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
s.bind((${JSON.stringify(node.underlayIf)}, 0))
s.settimeout(${timeoutS})
print('ready', flush=True)
while True:
    try:
        f = s.recv(65535)
    except socket.timeout:
        print('none', flush=True); sys.exit(0)
    if len(f) < 34 or f[23] != 17:
        continue
    u = 14 + (f[14] & 15) * 4
    if len(f) < u + 16 + 34 or struct.unpack('!H', f[u + 2:u + 4])[0] != 8472:
        continue
    vni = int.from_bytes(f[u + 12:u + 15], 'big')
    inner = u + 16 + 14
    src = socket.inet_ntoa(f[inner + 12:inner + 16])
    dst = socket.inet_ntoa(f[inner + 16:inner + 20])
    if src == ${JSON.stringify(innerSrc)}:
        print(vni, src, dst, flush=True); sys.exit(0)
`;
  const child = spawn('nsenter', [`--net=/run/netns/${node.ns}`, 'python3', '-c', py], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  const lines: string[] = [];
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    lines.splice(0, lines.length, ...out.split('\n').filter(Boolean));
  });
  const [first] = (await once(child.stdout, 'data')) as [Buffer];
  if (!first.toString().includes('ready')) throw new Error(`capture did not start: ${first.toString()}`);
  const result = new Promise<{ vni: number; innerSrc: string; innerDst: string } | null>((resolve) => {
    child.on('close', () => {
      const last = lines[lines.length - 1]?.split(' ') ?? [];
      resolve(last.length === 3 ? { vni: Number(last[0]), innerSrc: last[1]!, innerDst: last[2]! } : null);
    });
  });
  return { result, stop: () => child.kill() };
}
