// AdmissionReview latency and throughput over TLS: our webhook server on loopback, a keep-alive
// HTTPS client like the apiserver's. Open loop at a steady 200 req/s (latency p50/p99), then a
// closed loop to find the ceiling. Prints a table; never part of `make test`.
import { Agent, request } from 'node:https';
import { createCA, issue } from '../src/lib/pki.ts';
import { startWebhookServer } from '../src/webhooks/server.ts';
import { logger } from '../src/lib/log.ts';

const policy = {
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'web', namespace: 'shop' },
  spec: {
    endpointSelector: { matchLabels: { app: 'web' } },
    ingress: [
      {
        fromEndpoints: [{ matchLabels: { app: 'client', 'k8s:io.kubernetes.pod.namespace': 'shop' } }],
        toPorts: [
          { ports: [{ port: '8080', protocol: 'TCP' }], rules: { http: [{ method: 'GET', path: '/api/v[0-9]+/.*' }] } },
        ],
      },
    ],
    egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['10.96.0.0/12'] }] }, { toEntities: ['kube-apiserver'] }],
  },
};
const body = (uid: number) =>
  JSON.stringify({
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: String(uid),
      kind: { group: 'cilium.io', version: 'v2', kind: 'CiliumNetworkPolicy' },
      operation: 'CREATE',
      object: policy,
    },
  });

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

async function main(): Promise<void> {
  const ca = await createCA('bench-ca');
  const cert = await issue(ca, { commonName: 'localhost', usage: 'server', ipAddresses: ['127.0.0.1'] });
  // logs stay on, as in production (JSON to stderr): their cost is part of the figure
  const log = logger('webhook');
  const server = await startWebhookServer({
    host: '127.0.0.1',
    port: 0,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    log,
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 16, ca: ca.certPem });
  let uid = 0;
  const send = () =>
    new Promise<number>((resolve, reject) => {
      const started = process.hrtime.bigint();
      const req = request(
        {
          host: '127.0.0.1',
          port: server.port,
          path: '/validate',
          method: 'POST',
          agent,
          headers: { 'content-type': 'application/json' },
        },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(Number(process.hrtime.bigint() - started) / 1e6)
              : reject(new Error(`HTTP ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body(uid++));
    });

  for (let i = 0; i < 200; i++) await send(); // warm up: JIT, TLS sessions, schema compile

  const rate = 200;
  const seconds = 10;
  const lat: number[] = [];
  const t0 = Date.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < rate * seconds; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - Date.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(send().then((ms) => void lat.push(ms)));
  }
  await Promise.all(inflight);
  const openSeconds = (Date.now() - t0) / 1000;
  lat.sort((a, b) => a - b);

  const closedMs = 5000;
  let done = 0;
  const tc = Date.now();
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (Date.now() - tc < closedMs) {
        await send();
        done++;
      }
    }),
  );
  const ceiling = done / ((Date.now() - tc) / 1000);
  await server.close();
  agent.destroy();

  const rows = [
    ['measure', 'value'],
    ['open loop offered', `${rate} req/s for ${seconds} s`],
    ['open loop achieved', `${(lat.length / openSeconds).toFixed(1)} req/s`],
    ['latency p50', `${quantile(lat, 0.5).toFixed(2)} ms`],
    ['latency p99', `${quantile(lat, 0.99).toFixed(2)} ms`],
    ['latency max', `${lat.at(-1)!.toFixed(2)} ms`],
    ['closed loop (8 clients)', `${ceiling.toFixed(0)} req/s`],
    ['headroom vs 200 req/s', `${(ceiling / rate).toFixed(1)}×`],
  ];
  console.log('\nAdmissionReview over TLS (keep-alive), one webhook process, this machine');
  for (const [a, b] of rows) console.log(`  ${a!.padEnd(26)} ${b}`);
}

await main();
