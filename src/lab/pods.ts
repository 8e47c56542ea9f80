// Lab pods: the lab has no kubelet, so it plays kubelet's part for a pod — the Pod object bound
// to the lab's node, a network namespace as the sandbox, our CNI plugin called exactly as a
// runtime calls it (the executable, CNI_* environment, the configuration on stdin), small TCP and
// UDP servers answering `namespace/name` inside the namespace as the "container" (or another
// command: CoreDNS for kube-dns), run in the lab's pods cgroup, the cluster resolver in the
// namespace's resolv.conf, and the Pod's status (podIP, Running, Ready). What a probe needs locally (namespace, address, ports) is kept in one JSON
// record per pod under the lab's folder, so `lab probe` does not need the apiserver.
import { spawn, execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ApiError, cluster, type Cluster, type Pod } from '../lib/fluent.ts';
import { repoRoot } from '../lib/paths.ts';
import { LAB_PODS_CGROUP, labPaths } from './paths.ts';
import { labNodeName } from './node.ts';
import { isMultiNode, labNodes } from './nodes-file.ts';
import { inCgroup } from './cgroup.ts';
import { ECHO_MARKER, echoCommand, startDetached } from './echo-server.ts';

export type PortProtocol = 'TCP' | 'UDP';
export interface PortSpec {
  name?: string;
  port: number;
  protocol: PortProtocol;
}

export interface LabPod {
  namespace: string;
  name: string;
  uid: string;
  labels: Record<string, string>;
  ports: PortSpec[];
  containerId: string;
  /** the network namespace's name (`ip netns`), and its path as CNI_NETNS */
  netns: string;
  netnsPath: string;
  ifname: string;
  ip: string;
  /** pid of the pod's "container" process (the echo servers, or CoreDNS), inside the namespace */
  echoPid: number;
  createdAt: string;
  /** multi-node labs: the node it runs on, its processes' cgroup, the node agent's CNI socket */
  node?: string;
  cgroup?: string;
  cniSocket?: string;
}

export interface LabPodOptions {
  kubeconfig: string;
  /** where the pod records live (one JSON file per pod) */
  stateDir: string;
  /** the agent's CNI socket the plugin is pointed at */
  cniSocket: string;
  /** the conflist whose first plugin is ours */
  cniConfList?: string;
  nodeName?: string;
  /** the plugin executable (default bin/cilium-ts-cni) */
  plugin?: string;
  /** the cluster DNS server (kube-dns ClusterIP): pods get it in their resolv.conf; none when unset */
  dnsServer?: string;
  /** where the pod's processes run (default LAB_PODS_CGROUP); set for a node of a multi-node lab */
  podsCgroup?: string;
}

/** What runs as the pod's container instead of the echo servers (CoreDNS for kube-dns). */
export interface PodContainer {
  name: string;
  image: string;
  /** the command, run inside the pod's network namespace and the pods cgroup */
  command: string[];
  /** resolves once the container serves (polled from inside the namespace, say); rejects if it never does */
  ready: (netns: string) => Promise<void>;
}

export interface AddPodExtras {
  container?: PodContainer;
  /** 'Default': the node's resolver, as kube-dns itself has; 'ClusterFirst' (default): the cluster's */
  dnsPolicy?: 'ClusterFirst' | 'Default';
  /** the address to ask the node's IPAM for (CNI_ARGS IP=, as host-local honours it) */
  ip?: string;
}

export const defaultCniConfList = join(repoRoot, 'config', 'agent', '05-cilium-ts.conflist');
export const defaultPlugin = join(repoRoot, 'bin', 'cilium-ts-cni');
/** The upstream NetworkPolicy e2e model's ports: 80 and 81 over TCP and UDP, named serve-<port>-<proto>. */
export const DEFAULT_PORTS: PortSpec[] = [80, 81].flatMap((port) =>
  (['TCP', 'UDP'] as const).map((protocol) => ({ name: `serve-${port}-${protocol.toLowerCase()}`, port, protocol })),
);

/** The lab's defaults: records and the CNI socket under the lab folder. */
export function labPodOptions(): LabPodOptions {
  const p = labPaths();
  const dnsServer = existsSync(p.kubeDnsFile) ? readFileSync(p.kubeDnsFile, 'utf8').trim() : '';
  return {
    kubeconfig: p.kubeconfig,
    stateDir: join(p.dir, 'pods'),
    cniSocket: process.env.CILIUM_TS_CNI_SOCKET ?? join(p.dir, 'cni.sock'),
    ...(dnsServer ? { dnsServer } : {}),
  };
}

/**
 * The options for a pod on one node. A single-node lab has one node (the machine) and keeps
 * labPodOptions(); a multi-node lab's pod goes to `nodeName`, or else to the node with the fewest
 * lab pods (the first such node), with that node's CNI socket and pods cgroup.
 */
export function podOptionsOn(nodeName?: string, base: LabPodOptions = labPodOptions()): LabPodOptions {
  const nodes = labNodes();
  if (!isMultiNode(nodes)) {
    if (nodeName !== undefined && nodeName !== (base.nodeName ?? labNodeName()) && nodeName !== nodes[0]?.name)
      throw new Error(`no lab node '${nodeName}' (nodes: ${nodes.map((n) => n.name).join(', ')})`);
    return base;
  }
  let node = nodes.find((n) => n.name === nodeName);
  if (nodeName !== undefined && !node)
    throw new Error(`no lab node '${nodeName}' (nodes: ${nodes.map((n) => n.name).join(', ')})`);
  if (!node) {
    const count = new Map(nodes.map((n) => [n.name, 0]));
    for (const p of listPods(base)) if (p.node && count.has(p.node)) count.set(p.node, count.get(p.node)! + 1);
    node = nodes.reduce((best, n) => (count.get(n.name)! < count.get(best.name)! ? n : best));
  }
  return {
    ...base,
    nodeName: node.name,
    cniSocket: node.cniSocket!,
    ...(node.podsCgroup ? { podsCgroup: node.podsCgroup } : {}),
  };
}

// --- parsing the command line's forms ---

const PORT_NAME = /^[a-z0-9]([a-z0-9-]{0,13}[a-z0-9])?$/;

/** "80/TCP,81/UDP,serve-81-udp=81/UDP" (protocol defaults to TCP). */
export function parsePorts(s: string): PortSpec[] {
  const out: PortSpec[] = [];
  for (const item of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const m = /^(?:([^=]+)=)?(\d+)(?:\/(\w+))?$/.exec(item);
    if (!m) throw new Error(`port '${item}' is not [NAME=]PORT[/TCP|UDP]`);
    const [, name, portStr, protoStr] = m;
    const port = Number(portStr);
    if (!(port >= 1 && port <= 65535)) throw new Error(`port '${item}': ${portStr} is not 1-65535`);
    const protocol = (protoStr ?? 'TCP').toUpperCase();
    if (protocol !== 'TCP' && protocol !== 'UDP') throw new Error(`port '${item}': protocol must be TCP or UDP`);
    if (name !== undefined && (!PORT_NAME.test(name) || !/[a-z]/.test(name) || name.includes('--'))) {
      throw new Error(
        `port '${item}': '${name}' is not a valid port name (IANA_SVC_NAME: 1-15 lower-case letters, digits, '-', at least one letter)`,
      );
    }
    if (out.some((p) => p.port === port && p.protocol === protocol))
      throw new Error(`port ${port}/${protocol} is given twice`);
    if (name !== undefined && out.some((p) => p.name === name)) throw new Error(`port name '${name}' is given twice`);
    out.push(name === undefined ? { port, protocol } : { name, port, protocol });
  }
  return out;
}

/** "k=v,k2=v2" */
export function parseLabels(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new Error(`label '${item}' is not KEY=VALUE`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

export function parsePodRef(s: string): { namespace: string; name: string } {
  const parts = s.split('/');
  if (parts.length === 1 && parts[0]) return { namespace: 'default', name: parts[0] };
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw new Error(`'${s}' is not NAMESPACE/NAME`);
  return { namespace: parts[0], name: parts[1] };
}

// --- records ---

function recordPath(o: LabPodOptions, namespace: string, name: string): string {
  return join(o.stateDir, `${namespace}_${name}.json`);
}

export function readPod(o: LabPodOptions, namespace: string, name: string): LabPod | undefined {
  const p = recordPath(o, namespace, name);
  return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as LabPod) : undefined;
}

export function listPods(o: LabPodOptions): LabPod[] {
  if (!existsSync(o.stateDir)) return [];
  return readdirSync(o.stateDir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(o.stateDir, f), 'utf8')) as LabPod)
    .sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** Namespace names unique per lab folder, so a test's pods never meet the lab's. */
function netnsName(o: LabPodOptions, namespace: string, name: string): string {
  return `cts-${createHash('sha256').update(o.stateDir).digest('hex').slice(0, 6)}-${namespace}-${name}`;
}

// --- the runtime's part ---

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { encoding: 'utf8' }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

export interface CniCallResult {
  code: number;
  stdout: string;
  parsed: Record<string, unknown> | undefined;
}

/** Calls the plugin executable as a runtime does: CNI_* environment, the plugin's configuration on stdin. */
export function execCni(
  o: LabPodOptions,
  command: string,
  pod: Pick<LabPod, 'containerId' | 'netnsPath' | 'ifname' | 'namespace' | 'name' | 'uid'>,
  requestedIp?: string,
): Promise<CniCallResult> {
  const list = JSON.parse(readFileSync(o.cniConfList ?? defaultCniConfList, 'utf8')) as {
    cniVersion: string;
    name: string;
    plugins: Array<Record<string, unknown>>;
  };
  const conf = { cniVersion: list.cniVersion, name: list.name, ...list.plugins[0], socketPath: o.cniSocket };
  const plugin = o.plugin ?? defaultPlugin;
  const env = {
    PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
    CNI_COMMAND: command,
    CNI_CONTAINERID: pod.containerId,
    CNI_NETNS: pod.netnsPath,
    CNI_IFNAME: pod.ifname,
    CNI_PATH: join(plugin, '..'),
    CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAMESPACE=${pod.namespace};K8S_POD_NAME=${pod.name};K8S_POD_INFRA_CONTAINER_ID=${pod.containerId};K8S_POD_UID=${pod.uid}${requestedIp ? `;IP=${requestedIp}` : ''}`,
  };
  return new Promise((resolve, reject) => {
    const child = spawn(plugin, [], { env, stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = out.trim() ? (JSON.parse(out) as Record<string, unknown>) : undefined;
      } catch {
        parsed = undefined;
      }
      resolve({ code: code ?? 1, stdout: out, parsed });
    });
    child.stdin.on('error', () => undefined); // a plugin that fails before reading stdin
    child.stdin.end(JSON.stringify(conf));
  });
}

function cniFailure(command: string, r: CniCallResult): Error {
  const e = r.parsed as { code?: number; msg?: string; details?: string } | undefined;
  return new Error(
    `CNI ${command} failed (code ${e?.code ?? '?'}): ${e?.msg ?? r.stdout.trim()}${e?.details ? ` (${e.details})` : ''}`,
  );
}

/** Runs the pod's container (default: the servers answering `namespace/name`) in its namespace. */
async function startContainer(
  o: LabPodOptions,
  pod: { namespace: string; name: string; netns: string },
  ports: PortSpec[],
  container: PodContainer | undefined,
): Promise<number> {
  mkdirSync(o.stateDir, { recursive: true });
  const logFile = join(o.stateDir, `${pod.namespace}_${pod.name}.log`);
  const command = container?.command ?? echoCommand(`${pod.namespace}/${pod.name}`, ports);
  const argv = inCgroup(o.podsCgroup ?? LAB_PODS_CGROUP, ['ip', 'netns', 'exec', pod.netns, ...command]);
  const what = `the ${container ? container.name : 'echo servers'} in ${pod.netns}`;
  return container
    ? startDetached(argv, logFile, { ready: () => container.ready(pod.netns), what, timeoutMs: 60_000 })
    : startDetached(argv, logFile, { readyLine: true, what });
}

/** The network namespace a process is in, as `net:[inode]`; undefined when it is gone. */
function netnsOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/net`);
  } catch {
    return undefined;
  }
}

/** Kills the pod's container process if the pid is still ours (pids get reused): the echo
 * servers carry a marker in their command line; any other container runs in the pod's namespace. */
function killEcho(pid: number, netnsPath?: string): void {
  try {
    const ours =
      readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(ECHO_MARKER) ||
      (netnsPath !== undefined && netnsOf(pid) === `net:[${statSync(netnsPath).ino}]`);
    if (ours) process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** `ip netns exec` bind-mounts /etc/netns/<name>/* over /etc: the pod's resolv.conf, as kubelet writes it. */
export function netnsEtcDir(netns: string): string {
  return join('/etc/netns', netns);
}

function writeResolvConf(netns: string, namespace: string, nameserver: string): void {
  mkdirSync(netnsEtcDir(netns), { recursive: true });
  const search = [`${namespace}.svc.cluster.local`, 'svc.cluster.local', 'cluster.local'];
  writeFileSync(
    join(netnsEtcDir(netns), 'resolv.conf'),
    `nameserver ${nameserver}\nsearch ${search.join(' ')}\noptions ndots:5\n`,
  );
}

function labCluster(o: LabPodOptions): Cluster {
  if (!existsSync(o.kubeconfig))
    throw new Error(`no lab is running: ${o.kubeconfig} does not exist (start one with 'cilium-ts lab up --detach')`);
  return cluster(o.kubeconfig);
}

async function ignore409<T>(p: Promise<T>): Promise<void> {
  try {
    await p;
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 409)) throw e;
  }
}

/** The lab's node and the namespace's default service account (the ServiceAccount admission
 * plugin refuses pods without it; the lab's controller-manager makes it, a bare control plane does not). */
async function ensurePrerequisites(k8s: Cluster, nodeName: string, namespace: string): Promise<void> {
  if (!(await k8s.get('Node', nodeName))) {
    await ignore409(
      k8s.create('Node', {
        metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName, 'kubernetes.io/os': 'linux' } },
      }),
    );
  }
  if (!(await k8s.get('ServiceAccount', 'default', namespace))) {
    await ignore409(k8s.create('ServiceAccount', { metadata: { name: 'default', namespace } }));
  }
}

function podObject(
  namespace: string,
  name: string,
  nodeName: string,
  labels: Record<string, string>,
  ports: PortSpec[],
  extras: AddPodExtras = {},
): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, labels },
    spec: {
      nodeName,
      automountServiceAccountToken: false,
      // With no kubelet to confirm a graceful deletion, 0 makes every delete immediate.
      terminationGracePeriodSeconds: 0,
      dnsPolicy: extras.dnsPolicy ?? 'ClusterFirst',
      containers: [
        {
          name: extras.container?.name ?? 'echo',
          image: extras.container?.image ?? 'cilium-ts.io/lab-echo:latest',
          ports: ports.map((p) => ({
            containerPort: p.port,
            protocol: p.protocol,
            ...(p.name ? { name: p.name } : {}),
          })),
        },
      ],
    },
  };
}

/** What kubelet reports for a started pod: a merge patch of the status, so no read-modify-write conflicts. */
async function markRunning(k8s: Cluster, pod: LabPod, container?: PodContainer): Promise<void> {
  const now = new Date();
  const cond = (type: string) => ({ type, status: 'True', lastTransitionTime: now });
  await k8s.patchStatus('Pod', {
    metadata: { name: pod.name, namespace: pod.namespace },
    status: {
      phase: 'Running',
      podIP: pod.ip,
      podIPs: [{ ip: pod.ip }],
      startTime: now,
      conditions: ['PodReadyToStartContainers', 'Initialized', 'Ready', 'ContainersReady', 'PodScheduled'].map(cond),
      containerStatuses: [
        {
          name: container?.name ?? 'echo',
          ready: true,
          started: true,
          restartCount: 0,
          image: container?.image ?? 'cilium-ts.io/lab-echo:latest',
          imageID: '',
          containerID: `cilium-ts-lab://${pod.containerId}`,
          state: { running: { startedAt: now } },
        },
      ],
    },
  });
}

/** Adds a pod; on any failure what was made so far is undone. */
export async function addPod(
  o: LabPodOptions,
  namespace: string,
  name: string,
  labels: Record<string, string>,
  ports: PortSpec[] = DEFAULT_PORTS,
  extras: AddPodExtras = {},
): Promise<LabPod> {
  if (readPod(o, namespace, name)) throw new Error(`lab pod ${namespace}/${name} exists already`);
  const k8s = labCluster(o);
  const nodeName = o.nodeName ?? labNodeName();
  const undo: Array<() => unknown> = [];
  try {
    await ensurePrerequisites(k8s, nodeName, namespace);
    const created = await k8s.create('Pod', podObject(namespace, name, nodeName, labels, ports, extras));
    undo.push(() => k8s.delete('Pod', name, namespace));
    const netns = netnsName(o, namespace, name);
    const add = await run('ip', ['netns', 'add', netns]);
    if (add.code !== 0) throw new Error(`ip netns add ${netns}: ${add.stderr.trim()}`);
    undo.push(() => run('ip', ['netns', 'del', netns]));
    const draft = {
      namespace,
      name,
      uid: created.metadata?.uid ?? '',
      containerId: randomBytes(32).toString('hex'),
      netnsPath: `/var/run/netns/${netns}`,
      ifname: 'eth0',
    };
    const res = await execCni(o, 'ADD', draft, extras.ip);
    undo.push(() => execCni(o, 'DEL', draft));
    if (res.code !== 0) throw cniFailure('ADD', res);
    const ips = (res.parsed?.ips ?? []) as Array<{ address: string }>;
    const ip = ips[0]?.address.split('/')[0];
    if (!ip) throw new Error(`CNI ADD returned no address: ${res.stdout}`);
    if (o.dnsServer && extras.dnsPolicy !== 'Default') {
      writeResolvConf(netns, namespace, o.dnsServer);
      undo.push(() => rmSync(netnsEtcDir(netns), { recursive: true, force: true }));
    }
    const echoPid = await startContainer(o, { namespace, name, netns }, ports, extras.container);
    undo.push(() => killEcho(echoPid, draft.netnsPath));
    const placed = o.podsCgroup ? { node: nodeName, cgroup: o.podsCgroup, cniSocket: o.cniSocket } : {};
    const pod: LabPod = { ...draft, labels, ports, netns, ip, echoPid, createdAt: new Date().toISOString(), ...placed };
    mkdirSync(o.stateDir, { recursive: true });
    writeFileSync(recordPath(o, namespace, name), JSON.stringify(pod, null, 2) + '\n');
    undo.push(() => rmSync(recordPath(o, namespace, name), { force: true }));
    await markRunning(k8s, pod, extras.container);
    return pod;
  } catch (e) {
    for (const step of undo.reverse()) {
      try {
        await step();
      } catch {
        /* best effort: the original error is the one to report */
      }
    }
    throw e;
  }
}

/**
 * Deletes a pod: CNI DEL, echo servers, namespace, Pod object, record. True when it existed.
 * `bestEffort` (a lab going down, the agent or apiserver maybe gone already) removes what it can
 * locally and reports nothing: the agent releases the address of a veth it finds gone at its
 * next start.
 */
export async function deletePod(
  o: LabPodOptions,
  namespace: string,
  name: string,
  opts: { bestEffort?: boolean } = {},
): Promise<boolean> {
  const pod = readPod(o, namespace, name);
  const attempt = async (fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (e) {
      if (!opts.bestEffort) throw e;
    }
  };
  if (pod) {
    await attempt(async () => {
      const res = await execCni({ ...o, cniSocket: pod.cniSocket ?? o.cniSocket }, 'DEL', pod);
      if (res.code !== 0) throw cniFailure('DEL', res);
    });
    killEcho(pod.echoPid, pod.netnsPath);
    rmSync(netnsEtcDir(pod.netns), { recursive: true, force: true });
    const del = await run('ip', ['netns', 'del', pod.netns]);
    if (del.code !== 0 && existsSync(pod.netnsPath)) throw new Error(`ip netns del ${pod.netns}: ${del.stderr.trim()}`);
  }
  let existed = pod !== undefined;
  await attempt(async () => {
    const k8s = labCluster(o);
    if (await k8s.get('Pod', name, namespace)) existed = true;
    await k8s.delete('Pod', name, namespace);
  });
  rmSync(recordPath(o, namespace, name), { force: true });
  rmSync(join(o.stateDir, `${namespace}_${name}.log`), { force: true });
  return existed;
}

/** Every lab pod, best effort (for `lab down`): nothing of them is left on the machine. */
export async function deleteAllPods(o: LabPodOptions): Promise<number> {
  const pods = listPods(o);
  await Promise.all(pods.map((p) => deletePod(o, p.namespace, p.name, { bestEffort: true })));
  return pods.length;
}

// --- the command line ---

const podUsage = `usage: cilium-ts lab pod add NAMESPACE/NAME [--labels k=v,...] [--ports 80/TCP,81/UDP,NAME=81/UDP,...]
                                          [--node NAME] [--ip ADDR]
       cilium-ts lab pod delete NAMESPACE/NAME
       cilium-ts lab pod list [-o text|json]
`;

export async function labPodCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      labels: { type: 'string', short: 'l', default: '' },
      ports: { type: 'string' },
      output: { type: 'string', short: 'o', default: 'text' },
      node: { type: 'string' },
      ip: { type: 'string' },
    },
  });
  const o = labPodOptions();
  if (sub === 'list') {
    const pods = listPods(o);
    if (values.output === 'json') {
      process.stdout.write(JSON.stringify(pods, null, 2) + '\n');
      return 0;
    }
    const withNode = pods.some((p) => p.node !== undefined);
    const rows = [
      ['NAMESPACE/NAME', 'IP', 'PORTS', 'LABELS', 'NETNS', ...(withNode ? ['NODE'] : [])],
      ...pods.map((p) => [
        `${p.namespace}/${p.name}`,
        p.ip,
        p.ports.map((x) => `${x.name ? x.name + '=' : ''}${x.port}/${x.protocol}`).join(','),
        Object.entries(p.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(','),
        p.netns,
        ...(withNode ? [p.node ?? ''] : []),
      ]),
    ];
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
    for (const r of rows)
      process.stdout.write(
        r
          .map((c, i) => c.padEnd(widths[i]!))
          .join('  ')
          .trimEnd() + '\n',
      );
    return 0;
  }
  if ((sub === 'add' || sub === 'delete') && positionals.length === 1) {
    const { namespace, name } = parsePodRef(positionals[0]!);
    if (sub === 'delete') {
      const existed = await deletePod(o, namespace, name);
      console.log(existed ? `pod ${namespace}/${name} deleted` : `pod ${namespace}/${name} not found`);
      return existed ? 0 : 1;
    }
    const ports = values.ports === undefined ? DEFAULT_PORTS : parsePorts(values.ports);
    const on = podOptionsOn(values.node, o);
    const extras = values.ip ? { ip: values.ip } : {};
    const pod = await addPod(on, namespace, name, parseLabels(values.labels), ports, extras);
    const where = pod.node ? `, node ${pod.node}` : '';
    console.log(`pod ${namespace}/${name} running: ${pod.ip} (netns ${pod.netns}${where})`);
    return 0;
  }
  process.stderr.write(podUsage);
  return 2;
}
