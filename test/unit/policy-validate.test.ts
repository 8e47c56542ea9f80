// `cilium-ts policy validate` as a CI pipeline runs it: files, folders, stdin, exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lib/paths.ts';

function cli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [join(repoRoot, 'src', 'cli', 'main.ts'), ...args],
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    child.stdin!.end(input ?? '');
  });
}

const good = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: good, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEndpoints: [{matchLabels: {app: client}}]}]
`;
const bad = `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: bad, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
    - toPorts: [{ports: [{port: "8080", endPort: 80, protocol: TCP}]}]
`;
const other = `apiVersion: v1
kind: ConfigMap
metadata: {name: ignored}
`;

test('a folder of manifests: other kinds skipped, the bad one reported as file:doc kind/ns/name: path: message', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'validate-'));
  try {
    mkdirSync(join(dir, 'nested'));
    writeFileSync(join(dir, 'a.yaml'), `${good}---\n${other}`);
    writeFileSync(join(dir, 'nested', 'b.yml'), `${other}---\n${bad}`);
    writeFileSync(join(dir, 'README.md'), 'not a manifest');
    const r = await cli(['policy', 'validate', dir]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^${join(dir, 'nested', 'b.yml')}:1 CiliumNetworkPolicy/shop/bad: spec\\.ingress\\[0\\]\\.toPorts\\[0\\]\\.ports\\[0\\]\\.endPort: `,
        'm',
      ),
    );
    assert.doesNotMatch(r.stdout, /good/);
    assert.match(r.stderr, /2 documents validated, 1 invalid, 2 of other kinds skipped/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stdin, as in `kustomize build | cilium-ts policy validate -`: exit 0 when all are valid', async () => {
  const r = await cli(['policy', 'validate', '-'], `${good}---\n${other}`);
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.equal(r.stdout, '');
});

test('--output json carries every report for CI annotations', async () => {
  const r = await cli(['policy', 'validate', '-o', 'json', '-'], `${good}---\n${bad}`);
  assert.equal(r.code, 1);
  const out = JSON.parse(r.stdout) as {
    documents: number;
    invalid: number;
    reports: Array<{ name: string; errors: Array<{ path: string }> }>;
  };
  assert.equal(out.documents, 2);
  assert.equal(out.invalid, 1);
  assert.equal(
    out.reports.find((x) => x.name === 'bad')!.errors[0]!.path,
    'spec.ingress[0].toPorts[0].ports[0].endPort',
  );
});

test('broken YAML is an invalid document, not a crash', async () => {
  const r = await cli(['policy', 'validate', '-'], 'kind: CiliumNetworkPolicy\n  bad: [indent\n');
  assert.equal(r.code, 1);
  assert.match(r.stdout, /<stdin>:0 .*not valid YAML/);
});
