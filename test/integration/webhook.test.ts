// The real apiserver calling our real webhook over TLS it trusts (caBundle injected by the webhook
// itself), as a user meets it through kubectl.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { runWebhook, type RunningWebhook } from '../../src/webhooks/webhook.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import { repoRoot } from '../../src/lib/paths.ts';

let cp: ControlPlane;
let webhook: RunningWebhook;

before(async () => {
  cp = await startControlPlane({ crds: [join(repoRoot, 'crds')] });
  webhook = await runWebhook({
    kc: loadKubeConfig(cp.kubeconfig),
    namespace: 'kube-system',
    host: '127.0.0.1',
    port: 0,
    registerUrlHost: '127.0.0.1',
    // short-lived serving certificates, so the rotation test sees several within seconds
    cert: { servingValidityMs: 9_000, renewFraction: 2 / 3 },
    checkIntervalMs: 500,
  });
  const ns = await cp.kubectl(['create', 'namespace', 'shop']);
  assert.equal(ns.code, 0, ns.stderr);
});

after(async () => {
  await webhook?.stop();
  await cp?.stop();
});

const apply = (yaml: string) => cp.kubectl(['apply', '--server-side', '--field-manager=test', '-f', '-'], yaml);

const good = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - fromEndpoints: [{matchLabels: {app: client}}]
      toPorts: [{ports: [{port: "8080", endPort: 8090, protocol: TCP}]}]
`;

test('a good policy is accepted', async () => {
  const r = await apply(good);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /ciliumnetworkpolicy.cilium.io\/web serverside-applied/);
});

test('a bad policy is rejected by kubectl apply with our message naming the field', async () => {
  const r = await apply(good.replace('name: web,', 'name: bad,').replace('endPort: 8090', 'endPort: 80'));
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /admission webhook "policy.validation.cilium-ts.io" denied the request/);
  assert.match(r.stderr, /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.endPort: /);
  const gone = await cp.kubectl(['get', 'cnp', 'bad', '-n', 'shop']);
  assert.notEqual(gone.code, 0, 'the rejected policy was stored');
});

test("a warning reaches kubectl's output", async () => {
  const r = await apply(`apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: everything-out, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  egress:
    - toCIDR: ["0.0.0.0/0"]
`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /Warning: spec\.egress\[0\]\.toCIDR\[0\]: .*world/);
});

test('an UPDATE that breaks a stored policy is rejected and the stored object is unchanged', async () => {
  const before = await cp.kubectl(['get', 'cnp', 'web', '-n', 'shop', '-o', 'json']);
  assert.equal(before.code, 0, before.stderr);
  const r = await apply(
    good.replace(
      'fromEndpoints: [{matchLabels: {app: client}}]',
      'fromEndpoints: [{matchLabels: {app: client}}]\n      fromCIDR: ["10.0.0.0/8"]\n      icmps: [{fields: [{type: 8}]}]',
    ),
  );
  assert.notEqual(r.code, 0, 'the breaking update was accepted');
  assert.match(r.stderr, /spec\.ingress\[0\]/);
  const after = await cp.kubectl(['get', 'cnp', 'web', '-n', 'shop', '-o', 'json']);
  const stored = (s: string) => JSON.parse(s) as { metadata: { resourceVersion: string }; spec: unknown };
  assert.equal(stored(after.stdout).metadata.resourceVersion, stored(before.stdout).metadata.resourceVersion);
  assert.equal(JSON.stringify(stored(after.stdout).spec), JSON.stringify(stored(before.stdout).spec));
});

test("kube-system's own objects are never held up by the webhook", async () => {
  const r = await cp.kubectl(
    ['create', '-f', '-'],
    good.replace('namespace: shop', 'namespace: kube-system').replace('endPort: 8090', 'endPort: 80'),
  );
  assert.equal(r.code, 0, `the webhook judged a kube-system object: ${r.stderr}`);
});

test('certificate rotation while requests flow loses none', async () => {
  const serial = () => new X509Certificate(webhook.certs.current!.certPem).serialNumber;
  const first = serial();
  const serials = new Set([first]);
  const deadline = Date.now() + 15_000;
  let requests = 0;
  const failures: string[] = [];
  // two clients in a loop, each request a dry-run create that the apiserver sends through the webhook
  const client = async (id: number) => {
    while (Date.now() < deadline) {
      const r = await cp.kubectl(
        ['create', '--dry-run=server', '-o', 'name', '-f', '-'],
        good.replace('name: web,', `name: rot-${id}-${requests},`),
      );
      requests++;
      if (r.code !== 0) failures.push(r.stderr.trim());
      serials.add(serial());
    }
  };
  await Promise.all([client(1), client(2)]);
  console.log(`rotation: ${requests} requests, ${serials.size} serving certificates, ${failures.length} failures`);
  assert.ok(serials.size >= 2, `no rotation happened in 15 s (${serials.size} certificate)`);
  assert.deepEqual(failures, []);
  // every replica would read the same certificate from the Secret
  const secret = await cp.kubectl([
    'get',
    'secret',
    '-n',
    'kube-system',
    'cilium-ts-webhook-tls',
    '-o',
    'jsonpath={.data.tls\\.crt}',
  ]);
  assert.equal(Buffer.from(secret.stdout, 'base64').toString(), webhook.certs.current!.certPem);
});
