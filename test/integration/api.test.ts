// Our CRDs on a real kube-apiserver, read the way a user reads them: kubectl's verdicts and
// messages, short names, printer columns, the samples and the kustomize layout.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { kinds } from '../../src/api/kinds.generated.ts';

let cp: ControlPlane;

before(async () => {
  cp = await startControlPlane({ crds: [join(repoRoot, 'crds')] });
});
after(async () => {
  await cp?.stop();
});

async function kubectlOk(args: string[], input?: string): Promise<string> {
  const r = await cp.kubectl(args, input);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const invalidDir = join(repoRoot, 'test', 'fixtures', 'invalid');
const invalid = readdirSync(invalidDir)
  .filter((f) => f.endsWith('.yaml'))
  .sort();

test('the invalid fixtures are many and say what they expect', () => {
  assert.ok(invalid.length >= 15, `only ${invalid.length} invalid documents`);
});

for (const file of invalid) {
  test(`rejects ${file} naming the field`, async () => {
    const text = readFileSync(join(invalidDir, file), 'utf8');
    const field = /^# expect: (\S+)/m.exec(text)?.[1];
    assert.ok(field, `${file} lacks an "# expect: <field path>" line`);
    const r = await cp.kubectl(
      ['apply', '--server-side', '--validate=strict', '--field-manager=test', '-f', '-'],
      text,
    );
    assert.notEqual(r.code, 0, `${file} was accepted:\n${r.stdout}`);
    assert.ok(r.stderr.includes(field), `the error does not name ${field}:\n${r.stderr}`);
  });
}

test('the samples apply cleanly with strict validation, and re-apply changes nothing', async () => {
  const first = await kubectlOk([
    'apply',
    '--server-side',
    '--validate=strict',
    '--field-manager=samples',
    '-k',
    join(repoRoot, 'config', 'samples'),
    '-o',
    'jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}',
  ]);
  const second = await kubectlOk([
    'apply',
    '--server-side',
    '--validate=strict',
    '--field-manager=samples',
    '-k',
    join(repoRoot, 'config', 'samples'),
    '-o',
    'jsonpath={range .items[*]}{.kind}/{.metadata.name}={.metadata.resourceVersion}{"\\n"}{end}',
  ]);
  assert.match(first, /CiliumNetworkPolicy\/frontend-to-backend=\d+/);
  assert.match(first, /CiliumLoadBalancerIPPool\/demo-pool=\d+/);
  assert.equal(second, first);
});

test("short names and categories resolve like Cilium's", async () => {
  for (const short of ['cnp', 'ccnp', 'cep', 'cid', 'ciliumid', 'cn', 'ippools']) {
    await kubectlOk(['get', short, '-A']);
  }
  const resources = await kubectlOk(['api-resources', '--api-group=cilium.io', '-o', 'name']);
  for (const k of kinds) assert.ok(resources.includes(`${k.plural}.cilium.io`), `${k.plural} not served`);
  // `kubectl get cilium` lists every kind in the category
  await kubectlOk(['get', 'cilium', '-A']);
});

test("kubectl get ciliumendpoints shows Cilium's columns, enforcement with -o wide", async () => {
  await kubectlOk(['create', 'namespace', 'shop']);
  await kubectlOk(
    ['apply', '--server-side', '--field-manager=test', '-f', '-'],
    `apiVersion: cilium.io/v2
kind: CiliumEndpoint
metadata: {name: web-0, namespace: shop}
status:
  id: 1234
  identity: {id: 56789, labels: ["k8s:app=web"]}
  state: ready
  networking:
    node: 10.0.0.1
    addressing: [{ipv4: 10.1.0.7, ipv6: "fd00::7"}]
  policy:
    ingress: {enforcing: true, state: enforcing}
    egress: {enforcing: false, state: non-enforcing}
`,
  );
  const plain = await kubectlOk(['get', 'cep', '-n', 'shop']);
  const [header, row] = plain.trim().split('\n');
  assert.deepEqual(header!.split(/\s{2,}/), ['NAME', 'SECURITY IDENTITY', 'ENDPOINT STATE', 'IPV4', 'IPV6']);
  assert.deepEqual(row!.split(/\s{2,}/), ['web-0', '56789', 'ready', '10.1.0.7', 'fd00::7']);
  const wide = await kubectlOk(['get', 'cep', '-n', 'shop', '-o', 'wide']);
  assert.match(wide, /INGRESS ENFORCEMENT\s+EGRESS ENFORCEMENT/);
  assert.match(wide, /enforcing\s+non-enforcing/);
});

test('kubectl get ippools shows DISABLED, CONFLICTING and IPS AVAILABLE', async () => {
  await kubectlOk(
    ['apply', '--server-side', '--field-manager=test', '-f', '-'],
    `apiVersion: cilium.io/v2
kind: CiliumLoadBalancerIPPool
metadata: {name: columns}
spec:
  blocks: [{cidr: 10.9.0.0/30}]
`,
  );
  await kubectlOk([
    'patch',
    'ippool',
    'columns',
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({
      status: {
        conditions: [
          {
            type: 'cilium.io/PoolConflict',
            status: 'False',
            reason: 'resolved',
            message: '',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
          {
            type: 'cilium.io/IPsAvailable',
            status: 'Unknown',
            reason: 'noreason',
            message: '4',
            lastTransitionTime: '2026-01-01T00:00:00Z',
          },
        ],
      },
    }),
  ]);
  const out = await kubectlOk(['get', 'ippools', 'columns']);
  const [header, row] = out.trim().split('\n');
  assert.deepEqual(header!.split(/\s{2,}/), ['NAME', 'DISABLED', 'CONFLICTING', 'IPS AVAILABLE', 'AGE']);
  assert.deepEqual(row!.split(/\s{2,}/).slice(0, 4), ['columns', 'false', 'False', '4']);
  // v2alpha1 is served too, from the same storage
  const alpha = await kubectlOk([
    'get',
    'ciliumloadbalancerippools.v2alpha1.cilium.io',
    'columns',
    '-o',
    'jsonpath={.apiVersion}',
  ]);
  assert.equal(alpha, 'cilium.io/v2alpha1');
});

test('config/default builds with the kustomize inside kubectl and carries every CRD', async () => {
  const out = await kubectlOk(['kustomize', join(repoRoot, 'config', 'default')]);
  const names = parseAllDocuments(out).map((d) => d.toJS() as { kind: string; metadata: { name: string } });
  for (const k of kinds) {
    assert.ok(
      names.some((n) => n.kind === 'CustomResourceDefinition' && n.metadata.name === `${k.plural}.${k.group}`),
      `config/default lacks the ${k.kind} CRD`,
    );
  }
  // and the server accepts the whole bundle as it is
  await kubectlOk(
    ['apply', '--server-side', '--field-manager=cilium-ts', '--force-conflicts', '--dry-run=server', '-f', '-'],
    out,
  );
});
