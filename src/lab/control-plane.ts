// A real, local Kubernetes control plane: etcd, kube-apiserver and (optionally)
// kube-controller-manager on free loopback ports, with a throwaway PKI and an admin kubeconfig.
// Used by the integration tests (one per suite) and by `cilium-ts lab up`.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'node:https';
import { createCA, issue, keyPair } from '../lib/pki.ts';
import { logger, type Logger } from '../lib/log.ts';

export interface ControlPlaneOptions {
  /** state folder (certs, etcd data, logs, kubeconfig); a temp folder when unset */
  dir?: string;
  /** run kube-controller-manager too (garbage collection, namespace deletion, EndpointSlices) */
  controllerManager?: boolean;
  /** CRD manifests (files or folders of *.yaml) to install and wait for */
  crds?: string[];
  /** keep the state folder on stop (the lab's .lab/ is removed by `lab down`, not here) */
  keepDir?: boolean;
  log?: Logger;
}

export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ControlPlane {
  dir: string;
  kubeconfig: string;
  server: string;
  caPem: string;
  /** kubectl against this control plane; never throws on a non-zero exit */
  kubectl(args: string[], input?: string): Promise<KubectlResult>;
  stop(): Promise<void>;
}

// Dual stack, so Services can ask for IPv6 and both families (LB-IPAM's ipFamilyPolicy).
export const SERVICE_CIDR_V4 = '10.96.0.0/16';
const serviceCIDR = `${SERVICE_CIDR_V4},fd00:10:96::/112`;

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolvePort(addr.port) : reject(new Error('no port'))));
    });
  });
}

class Component {
  readonly name: string;
  readonly logFile: string;
  proc: ChildProcess;
  exited: { code: number | null; signal: string | null } | null = null;

  constructor(name: string, bin: string, args: string[], logDir: string) {
    this.name = name;
    this.logFile = join(logDir, `${name}.log`);
    const fd = openSync(this.logFile, 'a');
    // setpriv --pdeathsig: the kernel kills the component if this process dies without cleaning
    // up (SIGKILL, a crashed test runner), so no orphan keeps a port or etcd data busy.
    // detached: a Ctrl-C on the terminal reaches only us, and we stop the components in order.
    this.proc = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, ...args], {
      stdio: ['ignore', fd, fd],
      detached: true,
    });
    closeSync(fd);
    this.proc.on('exit', (code, signal) => (this.exited = { code, signal }));
  }

  logTail(lines = 25): string {
    try {
      return readFileSync(this.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  async stop(timeoutMs = 10_000): Promise<void> {
    if (this.exited) return;
    const done = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    await done;
    clearTimeout(timer);
  }
}

function httpsGet(
  url: string,
  tls: { ca: string; cert: string; key: string },
): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { ...tls, timeout: 2000 }, (r) => {
      let body = '';
      r.on('data', (c) => (body += c));
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('error', rej);
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function waitFor(
  what: string,
  comp: Component[],
  check: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const dead = comp.find((c) => c.exited);
    if (dead)
      throw new Error(
        `${dead.name} exited (${JSON.stringify(dead.exited)}) while waiting for ${what}:\n${dead.logTail()}`,
      );
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}\n${comp.map((c) => `--- ${c.name}\n${c.logTail(10)}`).join('\n')}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function kubeconfigYaml(server: string, caPem: string, certPem: string, keyPem: string, user = 'admin'): string {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: cilium-ts-lab',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${b64(caPem)}`,
    'users:',
    `- name: ${user}`,
    '  user:',
    `    client-certificate-data: ${b64(certPem)}`,
    `    client-key-data: ${b64(keyPem)}`,
    'contexts:',
    '- name: cilium-ts-lab',
    '  context:',
    '    cluster: cilium-ts-lab',
    `    user: ${user}`,
    'current-context: cilium-ts-lab',
    '',
  ].join('\n');
}

export function runKubectl(kubeconfig: string, args: string[], input?: string): Promise<KubectlResult> {
  return new Promise((res) => {
    const child = execFile(
      'kubectl',
      ['--kubeconfig', kubeconfig, ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        res({ code, stdout, stderr });
      },
    );
    if (input !== undefined) child.stdin!.end(input);
  });
}

export async function startControlPlane(opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = opts.log ?? logger('control-plane');
  const started = Date.now();
  const dir = resolve(opts.dir ?? mkdtempSync(join(tmpdir(), 'cilium-ts-cp-')));
  const pki = join(dir, 'pki');
  const logs = join(dir, 'logs');
  for (const d of [pki, logs]) mkdirSync(d, { recursive: true });
  const components: Component[] = [];
  const stop = async () => {
    for (const c of [...components].reverse()) await c.stop();
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  };

  try {
    const [etcdPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const ca = await createCA('cilium-ts-lab-ca');
    const serving = await issue(ca, {
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: [
        'localhost',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ipAddresses: ['127.0.0.1', '10.96.0.1'],
    });
    const admin = await issue(ca, {
      commonName: 'cilium-ts-admin',
      organizations: ['system:masters'],
      usage: 'client',
    });
    const sa = await keyPair();
    const files = {
      ca: join(pki, 'ca.crt'),
      caKey: join(pki, 'ca.key'),
      cert: join(pki, 'apiserver.crt'),
      key: join(pki, 'apiserver.key'),
      saPub: join(pki, 'sa.pub'),
      saKey: join(pki, 'sa.key'),
    };
    writeFileSync(files.ca, ca.certPem);
    writeFileSync(files.caKey, ca.keyPem, { mode: 0o600 });
    writeFileSync(files.cert, serving.certPem);
    writeFileSync(files.key, serving.keyPem, { mode: 0o600 });
    writeFileSync(files.saPub, sa.publicPem);
    writeFileSync(files.saKey, sa.privatePem, { mode: 0o600 });
    const server = `https://127.0.0.1:${apiPort}`;
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, kubeconfigYaml(server, ca.certPem, admin.certPem, admin.keyPem), { mode: 0o600 });

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = new Component(
      'etcd',
      'etcd',
      [
        '--name=lab',
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=lab=${peerUrl}`,
        // a throwaway cluster: durability is not worth the fsync latency
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logs,
    );
    components.push(etcd);

    const apiserver = new Component(
      'kube-apiserver',
      'kube-apiserver',
      [
        `--etcd-servers=${etcdUrl}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--tls-cert-file=${files.cert}`,
        `--tls-private-key-file=${files.key}`,
        `--client-ca-file=${files.ca}`,
        `--service-account-key-file=${files.saPub}`,
        `--service-account-signing-key-file=${files.saKey}`,
        '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
        `--service-cluster-ip-range=${serviceCIDR}`,
        '--authorization-mode=Node,RBAC',
        '--allow-privileged=true',
        '--enable-priority-and-fairness=false',
        '--profiling=false',
        '--v=1',
      ],
      logs,
    );
    components.push(apiserver);
    const tls = { ca: ca.certPem, cert: admin.certPem, key: admin.keyPem };
    await waitFor(
      'kube-apiserver /readyz',
      components,
      async () => (await httpsGet(`${server}/readyz`, tls)).status === 200,
      60_000,
    );

    if (opts.controllerManager) {
      const kcmPort = await freePort();
      components.push(
        new Component(
          'kube-controller-manager',
          'kube-controller-manager',
          [
            `--kubeconfig=${kubeconfig}`,
            `--authentication-kubeconfig=${kubeconfig}`,
            `--authorization-kubeconfig=${kubeconfig}`,
            '--bind-address=127.0.0.1',
            `--secure-port=${kcmPort}`,
            '--leader-elect=false',
            `--service-account-private-key-file=${files.saKey}`,
            `--root-ca-file=${files.ca}`,
            `--cluster-signing-cert-file=${files.ca}`,
            `--cluster-signing-key-file=${files.caKey}`,
            `--service-cluster-ip-range=${serviceCIDR}`,
            '--use-service-account-credentials=false',
            // no kubelet, no cloud: only the controllers that make the API behave like a cluster's
            '--controllers=*,-nodeipam,-nodelifecycle,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller,-persistentvolume-binder,-attachdetach,-persistentvolume-expander,-ttl,-bootstrapsigner,-tokencleaner',
            '--v=1',
          ],
          logs,
        ),
      );
    }

    const cp: ControlPlane = {
      dir,
      kubeconfig,
      server,
      caPem: ca.certPem,
      kubectl: (args, input) => runKubectl(kubeconfig, args, input),
      stop,
    };
    if (opts.crds?.length) await installCrds(cp, opts.crds);
    log.info('control plane ready', { server, kubeconfig, ms: Date.now() - started });
    return cp;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Server-side apply of CRD manifests, then wait until every one is Established; returns their names. */
export async function installCrds(cp: ControlPlane, paths: string[]): Promise<string[]> {
  const args = ['apply', '--server-side', '--field-manager=cilium-ts', '--force-conflicts'];
  for (const p of paths) {
    if (!existsSync(p)) throw new Error(`CRD path ${p} does not exist`);
    args.push(existsSync(join(p, 'kustomization.yaml')) ? '-k' : '-f', p);
  }
  const applied = await cp.kubectl([...args, '-o', 'name']);
  if (applied.code !== 0) throw new Error(`installing CRDs failed: ${applied.stderr}`);
  const names = applied.stdout.split('\n').filter((l) => l.startsWith('customresourcedefinition'));
  const waited = await cp.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (waited.code !== 0) throw new Error(`CRDs not established: ${waited.stderr}`);
  return names;
}
