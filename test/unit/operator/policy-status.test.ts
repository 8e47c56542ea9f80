// The Valid condition is the webhook's verdict, computed from the stored policy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validCondition } from '../../../src/controllers/policy-status.ts';

const policy = (ports: object) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'p', namespace: 'shop', resourceVersion: '7', generation: 2, managedFields: [] },
  spec: { endpointSelector: { matchLabels: { app: 'web' } }, ingress: [{ toPorts: [{ ports: [ports] }] }] },
});

test('an invalid stored policy is Valid=False with the field path and the fix', () => {
  const c = validCondition(policy({ port: '8080', endPort: 80, protocol: 'TCP' }));
  assert.equal(c.type, 'Valid');
  assert.equal(c.status, 'False');
  assert.equal(c.reason, 'Invalid');
  assert.match(c.message, /^spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.endPort: endPort 80 is below port 8080/);
});

test('a valid policy is Valid=True; our own status is not judged', () => {
  const c = validCondition({
    ...policy({ port: '8080', endPort: 8090, protocol: 'TCP' }),
    status: {
      conditions: [{ type: 'Valid', status: 'False', reason: 'Invalid', message: 'x', lastTransitionTime: 'then' }],
    },
  });
  assert.equal(c.status, 'True');
  assert.equal(c.reason, 'Valid');
});
