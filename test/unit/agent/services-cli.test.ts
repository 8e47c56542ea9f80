// The command line's side of Services: the `KubeProxyReplacement:` status line as Cilium prints it,
// and `policy explain FROM svc:NS/NAME --offline` (the Service's selector and targetPort, one
// answer per Pod behind it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kubeProxyReplacementLine, renderStatus } from '../../../src/cli/status.ts';
import { explainServiceOffline } from '../../../src/cli/explain-offline.ts';
import type { StatusResponse } from '../../../src/cli/agent-wire.ts';

const kpr = {
  enabled: true,
  features: ['ClusterIP', 'NodePort', 'SessionAffinity'],
  services: 4,
  backends: 6,
  lastSync: '2026-01-01T00:00:00.000Z',
  error: null,
};

test('KubeProxyReplacement: True with the features in use; False when off; a failing sync named', () => {
  assert.equal(kubeProxyReplacementLine(kpr), 'True   [ClusterIP, NodePort, SessionAffinity]');
  assert.equal(kubeProxyReplacementLine({ ...kpr, enabled: false, features: [] }), 'False');
  assert.match(kubeProxyReplacementLine({ ...kpr, error: 'map full' }), /^True {3}\[.*\] {3}Failure: .*map full$/);
  const status: StatusResponse = {
    node: 'n1',
    agent: 'ok',
    kubernetes: [],
    datapath: { mode: 'tc', pinRoot: '/sys/fs/bpf/x', podCidr: null },
    enforcementMode: 'default',
    endpoints: { total: 0, ready: 0, enforcingIngress: 0, enforcingEgress: 0 },
    identities: 0,
    policies: 0,
    maps: [],
    kubeProxyReplacement: kpr,
  };
  const text = renderStatus(status, false);
  assert.match(text, /^KubeProxyReplacement: +True {3}\[ClusterIP, NodePort, SessionAffinity\]$/m);
  assert.match(text, /^Services: +4 frontends, 6 backends$/m);
  const older = renderStatus({ ...status, kubeProxyReplacement: undefined }, false);
  assert.doesNotMatch(older, /KubeProxyReplacement/);
});

test('policy explain svc: offline: one answer per selected Pod, on its (named) target port', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svc-explain-'));
  try {
    const file = join(dir, 'all.yaml');
    writeFileSync(
      file,
      `
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo, labels: {app: client}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: demo, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 8080}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: demo, labels: {app: web}}
spec: {containers: [{name: c, ports: [{name: http, containerPort: 9090}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: other, namespace: demo, labels: {app: other}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec:
  clusterIP: 10.96.0.50
  selector: {app: web}
  ports: [{port: 80, targetPort: http}]
---
apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web-in, namespace: demo}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: client}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
`,
    );
    const e = explainServiceOffline([file], 'demo/client', 'demo/web', 80, 'TCP');
    assert.equal(e.frontend, '10.96.0.50:80/TCP');
    assert.deepEqual(
      e.backends.map((b) => [b.pod, b.port, b.verdict]),
      [
        ['demo/web-1', 8080, 'allowed'],
        ['demo/web-2', 9090, 'default-denied'],
      ],
    );
    assert.equal(e.verdict, 'mixed');
    assert.throws(() => explainServiceOffline([file], 'demo/client', 'demo/web', 81, 'TCP'), /no port 81\/TCP/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
