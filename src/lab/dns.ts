// Cluster DNS for the lab, as kubeadm sets it up: the real CoreDNS as the lab pod
// kube-system/coredns (labels k8s-app=kube-dns) answering from the apiserver through its
// kubernetes plugin, and the kube-dns Service on the 10th address of the service CIDR selecting
// it (the controller-manager makes its EndpointSlice). Pods get that ClusterIP as their resolver.
// The apiserver listens on 127.0.0.1 only, which a pod cannot reach: a TCP relay in the node's
// root namespace on the pods' gateway (router) address, port 6443, pipes to it, and CoreDNS's
// kubeconfig points there with the serving certificate's name as tls-server-name.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { repoRoot } from '../lib/paths.ts';
import { SERVICE_CIDR_V4, type ControlPlane } from './control-plane.ts';
import { addPod, type LabPod, type LabPodOptions } from './pods.ts';
import type { LabPaths } from './paths.ts';

export const KUBE_DNS_NAMESPACE = 'kube-system';
export const COREDNS_POD = 'coredns';
export const KUBE_DNS_SERVICE = 'kube-dns';
/** The apiserver relay's port on the router address (the apiserver's usual port). */
export const APISERVER_RELAY_PORT = 6443;
/** A name in the apiserver's serving certificate (control-plane.ts issues it). */
const APISERVER_TLS_NAME = 'kubernetes.default.svc';
const READY_PORT = 8181;

/** The 10th address of an IPv4 CIDR, as kubeadm gives kube-dns (10.96.0.0/12 → 10.96.0.10). */
export function tenthAddress(cidr: string): string {
  const [base] = cidr.split('/');
  const n = base!.split('.').reduce((acc, o) => acc * 256 + Number(o), 0) + 10;
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export const KUBE_DNS_IP = tenthAddress(SERVICE_CIDR_V4);

export function corednsBinary(): string {
  const bin = join(repoRoot, '.tools', 'bin', 'coredns');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: build it with tools/coredns/build.sh (make deps)`);
  return bin;
}

export function corefile(kubeconfig: string): string {
  return [
    '.:53 {',
    '    errors',
    '    health :8080',
    `    ready :${READY_PORT}`,
    '    kubernetes cluster.local in-addr.arpa ip6.arpa {',
    `        kubeconfig ${kubeconfig}`,
    '        pods insecure',
    '        fallthrough in-addr.arpa ip6.arpa',
    '        ttl 30',
    '    }',
    '    prometheus :9153',
    // No forward: the lab has no resolver its pods could reach (there is no masquerading), so
    // names outside the cluster are not answered.
    '    cache 30',
    '    loadbalance',
    '}',
    '',
  ].join('\n');
}

/** The lab's admin kubeconfig, pointed at the relay; the certificate is checked against its real name. */
export function relayKubeconfig(adminKubeconfig: string, routerIp: string): string {
  const text = readFileSync(adminKubeconfig, 'utf8');
  const out = text.replace(
    /^(\s*)server: https:\/\/127\.0\.0\.1:\d+$/m,
    `$1server: https://${routerIp}:${APISERVER_RELAY_PORT}\n$1tls-server-name: ${APISERVER_TLS_NAME}`,
  );
  if (out === text) throw new Error(`no loopback server line in ${adminKubeconfig}`);
  return out;
}

/** Pipes every connection on host:port to target (the apiserver on loopback). */
export function startRelay(host: string, port: number, target: { host: string; port: number }): Promise<Server> {
  return new Promise((resolve, reject) => {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = createConnection(target);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('close', () => sockets.delete(s));
        s.on('error', () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream).pipe(client);
    });
    // close() waits for open connections (CoreDNS's watches): end them with the server.
    const close = server.close.bind(server);
    server.close = (cb) => {
      for (const s of sockets) s.destroy();
      return close(cb);
    };
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function ip(args: string[]): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile('ip', args, { encoding: 'utf8' }, (err, _o, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stderr }),
    );
  });
}

/** Polls CoreDNS's ready endpoint from inside its namespace (one short process, not one per try). */
function waitReadyInNetns(netns: string, timeoutMs: number): Promise<void> {
  const script = `
const deadline = Date.now() + ${timeoutMs};
const tryOnce = () => fetch('http://127.0.0.1:${READY_PORT}/ready').then((r) => r.status === 200, () => false);
(async () => { while (Date.now() < deadline) { if (await tryOnce()) process.exit(0); await new Promise((r) => setTimeout(r, 100)); } process.exit(1); })();
`;
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: 'ignore' });
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`CoreDNS in ${netns} not ready within ${timeoutMs} ms`)),
    );
  });
}

export interface ClusterDns {
  ip: string;
  pod: LabPod;
  routerIp: string;
  stop(): Promise<void>;
}

/**
 * Starts cluster DNS: the relay, the kube-dns Service, the CoreDNS pod; then records the
 * ClusterIP so pods added from now on get it as their resolver. `routerIp`: the pods' gateway.
 */
export async function startClusterDns(
  cp: ControlPlane,
  p: LabPaths,
  podOpts: LabPodOptions,
  routerIp: string,
  /** a multi-node lab's apiserver relay, already listening on this address (the underlay bridge's) */
  existingRelayHost?: string,
): Promise<ClusterDns> {
  const bin = corednsBinary();
  const dir = join(p.dir, 'coredns');
  mkdirSync(dir, { recursive: true });
  const undo: Array<() => unknown> = [];
  const stop = async () => {
    for (const step of undo.reverse()) await Promise.resolve(step()).catch(() => undefined);
    undo.length = 0;
  };
  try {
    // The router address is no device's yet (there is no cilium_host): on lo it is local to the
    // node, so the relay can listen on it and pods' packets to it are delivered to the node.
    // (Already there: a lab that died left it; it is the lab's all the same, and goes with it.)
    if (existingRelayHost === undefined) {
      const added = await ip(['addr', 'add', `${routerIp}/32`, 'dev', 'lo']);
      if (added.code !== 0 && !/exists|already assigned/i.test(added.stderr))
        throw new Error(`ip addr add ${routerIp}/32 dev lo: ${added.stderr.trim()}`);
      undo.push(() => ip(['addr', 'del', `${routerIp}/32`, 'dev', 'lo']));
      const api = new URL(cp.server);
      const relay = await startRelay(routerIp, APISERVER_RELAY_PORT, { host: api.hostname, port: Number(api.port) });
      undo.push(() => new Promise((r) => relay.close(r)));
    }

    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, relayKubeconfig(cp.kubeconfig, existingRelayHost ?? routerIp), { mode: 0o600 });
    const conf = join(dir, 'Corefile');
    writeFileSync(conf, corefile(kubeconfig));

    const service = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: {
        name: KUBE_DNS_SERVICE,
        namespace: KUBE_DNS_NAMESPACE,
        labels: { 'k8s-app': 'kube-dns', 'kubernetes.io/name': 'CoreDNS' },
      },
      spec: {
        selector: { 'k8s-app': 'kube-dns' },
        clusterIP: KUBE_DNS_IP,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    };
    const applied = await cp.kubectl(
      ['apply', '--server-side', '--field-manager=cilium-ts-lab', '-f', '-'],
      JSON.stringify(service),
    );
    if (applied.code !== 0) throw new Error(`creating Service kube-system/kube-dns failed: ${applied.stderr}`);

    const pod = await addPod(
      { ...podOpts, dnsServer: undefined },
      KUBE_DNS_NAMESPACE,
      COREDNS_POD,
      { 'k8s-app': 'kube-dns' },
      [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
        { name: 'metrics', port: 9153, protocol: 'TCP' },
      ],
      {
        dnsPolicy: 'Default',
        container: {
          name: 'coredns',
          image: 'registry.k8s.io/coredns/coredns:v1.15.0',
          command: [bin, '-conf', conf],
          ready: (netns) => waitReadyInNetns(netns, 45_000),
        },
      },
    );
    writeFileSync(p.kubeDnsFile, `${KUBE_DNS_IP}\n`);
    undo.push(() => rmSync(p.kubeDnsFile, { force: true }));
    return { ip: KUBE_DNS_IP, pod, routerIp, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
