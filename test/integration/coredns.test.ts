// The real CoreDNS (v1.15.0, built from the Go module proxy by tools/coredns/build.sh and cached)
// answering cluster DNS from the real apiserver through its kubernetes plugin: a Service's A, AAAA,
// SRV and PTR records, a headless Service's endpoint records, NXDOMAIN for a missing name, and a
// Service created and deleted while CoreDNS watches. Its hosts plugin is checked first, without the
// apiserver, so a broken binary fails on its own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Resolver } from 'node:dns/promises';
import { freePort, startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { waitFor } from '../harness/wait.ts';

const NS = 'dns-test';

function buildCoreDns(): string {
  // A no-op when the cached build is current; cold, it takes a few minutes.
  const out = execFileSync('bash', [join(repoRoot, 'tools', 'coredns', 'build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  return join(out.trim().split('\n').at(-1)!, 'coredns');
}

interface CoreDns {
  resolver: Resolver;
  logTail(): string;
  stop(): Promise<void>;
}

/** Starts CoreDNS on free loopback ports; `serverBlocks` gets the DNS port and the ready port. */
async function startCoreDns(
  bin: string,
  serverBlocks: (dnsPort: number, readyPort: number) => string,
): Promise<CoreDns> {
  const dir = mkdtempSync(join(tmpdir(), 'cilium-ts-coredns-'));
  const [dnsPort, readyPort] = [await freePort(), await freePort()];
  const corefile = join(dir, 'Corefile');
  writeFileSync(corefile, serverBlocks(dnsPort, readyPort));
  const logFile = join(dir, 'coredns.log');
  const fd = openSync(logFile, 'a');
  // --pdeathsig: a crashed test runner leaves no CoreDNS holding its port.
  const proc: ChildProcess = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', bin, '-conf', corefile], {
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited: string | false = false;
  proc.on('exit', (code, signal) => (exited = `CoreDNS exited (${code ?? signal})`));
  const logTail = () => readFileSync(logFile, 'utf8').trimEnd().split('\n').slice(-20).join('\n');
  const stop = async () => {
    if (!exited) {
      const gone = new Promise((r) => proc.once('exit', r));
      proc.kill('SIGTERM');
      await gone;
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const resolver = new Resolver({ timeout: 2000, tries: 2 });
  resolver.setServers([`127.0.0.1:${dnsPort}`]);
  const giveUpIf = () => exited && `${exited}:\n${logTail()}`;
  try {
    // The ready plugin answers 200 once every plugin that reports readiness (kubernetes: its
    // informers synced with the apiserver) is ready.
    await waitFor(
      'CoreDNS to be ready',
      async () => (await fetch(`http://127.0.0.1:${readyPort}/ready`)).status === 200,
      { timeoutMs: 30_000, giveUpIf },
    );
    // Ready can answer before the DNS listener is bound: wait for any DNS reply (a name outside the
    // server's zones gets REFUSED) rather than a refused connection or a timeout.
    await waitFor(
      'CoreDNS to answer on its DNS port',
      async () => !['ECONNREFUSED', 'ETIMEOUT'].includes(await lookupError(resolver.resolve4('probe.invalid'))),
      { giveUpIf },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { resolver, logTail, stop };
}

/** The DNS error code of a failed lookup ('ENOTFOUND' is NXDOMAIN, 'ENODATA' an empty answer). */
async function lookupError(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return 'answered';
}

let bin = '';

before(() => {
  bin = buildCoreDns();
});

describe('CoreDNS hosts plugin', () => {
  it('answers A queries from its hosts block, SERVFAIL for other names in the zone', async () => {
    const dns = await startCoreDns(bin, (dnsPort, readyPort) =>
      [
        `lab.test:${dnsPort} {`,
        '  bind 127.0.0.1',
        `  ready 127.0.0.1:${readyPort}`,
        '  hosts {',
        '    192.0.2.10 web.lab.test',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
    try {
      assert.deepEqual(await dns.resolver.resolve4('web.lab.test'), ['192.0.2.10']);
      // hosts has no SOA to put in an NXDOMAIN, so it answers SERVFAIL by design.
      assert.equal(await lookupError(dns.resolver.resolve4('nope.lab.test')), 'ESERVFAIL');
    } finally {
      await dns.stop();
    }
  });
});

describe('CoreDNS kubernetes plugin against the real apiserver', () => {
  let cp: ControlPlane;
  let dns: CoreDns;

  const apply = async (manifest: object) => {
    const r = await cp.kubectl(['apply', '-f', '-'], JSON.stringify(manifest));
    assert.equal(r.code, 0, r.stderr);
  };
  const jsonpath = async (args: string[]) => {
    const r = await cp.kubectl(args);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const service = (name: string, spec: object) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: NS },
    spec: { selector: { app: name }, ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
  });

  before(async () => {
    cp = await startControlPlane();
    await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    await apply(service('web', {}));
    await apply(service('dual', { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] }));
    await apply(service('db', { clusterIP: 'None' }));
    // No controller-manager: the headless Service's EndpointSlice is written here, as the
    // EndpointSlice controller would for two ready pods (one with a hostname, as a StatefulSet's).
    await apply({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'db-abcde', namespace: NS, labels: { 'kubernetes.io/service-name': 'db' } },
      addressType: 'IPv4',
      endpoints: [
        { addresses: ['10.0.1.5'], hostname: 'db-0', conditions: { ready: true } },
        { addresses: ['10.0.1.6'], conditions: { ready: true } },
      ],
      ports: [{ name: 'http', port: 80, protocol: 'TCP' }],
    });
    const kubeconfig = cp.kubeconfig;
    dns = await startCoreDns(bin, (dnsPort, readyPort) =>
      [
        `cluster.local:${dnsPort} in-addr.arpa:${dnsPort} ip6.arpa:${dnsPort} {`,
        '  bind 127.0.0.1',
        '  errors',
        `  ready 127.0.0.1:${readyPort}`,
        '  kubernetes cluster.local in-addr.arpa ip6.arpa {',
        `    kubeconfig ${kubeconfig}`,
        '    ttl 1',
        '  }',
        '}',
        '',
      ].join('\n'),
    );
  });
  after(async () => {
    await dns?.stop();
    await cp?.stop();
  });

  it('answers a ClusterIP Service A record with its ClusterIP, and the PTR back', async () => {
    const ip = await jsonpath(['get', 'svc', '-n', NS, 'web', '-o', 'jsonpath={.spec.clusterIP}']);
    assert.match(ip, /^10\.96\./);
    assert.deepEqual(await dns.resolver.resolve4(`web.${NS}.svc.cluster.local`), [ip]);
    assert.deepEqual(await dns.resolver.reverse(ip), [`web.${NS}.svc.cluster.local`]);
  });

  it('answers A and AAAA for a dual-stack Service, and SRV for its named port', async () => {
    const ips = (await jsonpath(['get', 'svc', '-n', NS, 'dual', '-o', 'jsonpath={.spec.clusterIPs[*]}'])).split(' ');
    assert.equal(ips.length, 2);
    const name = `dual.${NS}.svc.cluster.local`;
    assert.deepEqual(await dns.resolver.resolve4(name), [ips[0]]);
    assert.deepEqual(await dns.resolver.resolve6(name), [ips[1]]);
    const srv = await dns.resolver.resolveSrv(`_http._tcp.${name}`);
    assert.deepEqual(
      srv.map((r) => ({ name: r.name, port: r.port })),
      [{ name, port: 80 }],
    );
  });

  it("answers a headless Service with its endpoints' addresses and per-endpoint names", async () => {
    const all = await dns.resolver.resolve4(`db.${NS}.svc.cluster.local`);
    assert.deepEqual(all.sort(), ['10.0.1.5', '10.0.1.6']);
    assert.deepEqual(await dns.resolver.resolve4(`db-0.db.${NS}.svc.cluster.local`), ['10.0.1.5']);
    // An endpoint without a hostname is named by its dashed address.
    assert.deepEqual(await dns.resolver.resolve4(`10-0-1-6.db.${NS}.svc.cluster.local`), ['10.0.1.6']);
  });

  it('answers NXDOMAIN for a Service or namespace that does not exist', async () => {
    assert.equal(await lookupError(dns.resolver.resolve4(`missing.${NS}.svc.cluster.local`)), 'ENOTFOUND');
    assert.equal(await lookupError(dns.resolver.resolve4('web.no-such-ns.svc.cluster.local')), 'ENOTFOUND');
  });

  it('follows a Service created and deleted while it runs', async () => {
    const name = `late.${NS}.svc.cluster.local`;
    await apply(service('late', {}));
    const ip = await jsonpath(['get', 'svc', '-n', NS, 'late', '-o', 'jsonpath={.spec.clusterIP}']);
    const found = await waitFor('CoreDNS to answer the new Service', async () => {
      const got = await dns.resolver.resolve4(name);
      return got.length > 0 && got;
    });
    assert.deepEqual(found, [ip]);
    const del = await cp.kubectl(['delete', 'svc', '-n', NS, 'late', '--wait=true']);
    assert.equal(del.code, 0, del.stderr);
    await waitFor(
      'CoreDNS to answer NXDOMAIN for the deleted Service',
      async () => (await lookupError(dns.resolver.resolve4(name))) === 'ENOTFOUND',
    );
  });
});
