// The webhook's decision as a pure function of the AdmissionReview.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { review, type AdmissionReview } from '../../src/webhooks/admission.ts';

const policy = (spec: unknown) => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNetworkPolicy',
  metadata: { name: 'web', namespace: 'shop' },
  spec,
});
const request = (operation: string, object: unknown): AdmissionReview => ({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  request: {
    uid: 'uid-1',
    kind: { group: 'cilium.io', version: 'v2', kind: 'CiliumNetworkPolicy' },
    operation,
    name: 'web',
    namespace: 'shop',
    object,
  },
});

test('a valid policy is allowed, with the request uid', () => {
  const d = review(request('CREATE', policy({ endpointSelector: {}, ingress: [{ fromEntities: ['cluster'] }] })));
  assert.equal(d.verdict, 'allowed');
  assert.deepEqual(d.review.response?.uid, 'uid-1');
  assert.equal(d.review.response?.allowed, true);
  assert.equal(d.review.apiVersion, 'admission.k8s.io/v1');
});

test('an invalid policy is denied with every error, each naming its field', () => {
  const d = review(
    request(
      'UPDATE',
      policy({
        endpointSelector: {},
        ingress: [{ fromEntities: ['galaxy'], toPorts: [{ ports: [{ port: '80', endPort: 70, protocol: 'TCP' }] }] }],
      }),
    ),
  );
  assert.equal(d.verdict, 'denied');
  const r = d.review.response!;
  assert.equal(r.allowed, false);
  assert.equal(r.status?.code, 422);
  assert.match(r.status.message, /^CiliumNetworkPolicy shop\/web is invalid \(\d+ errors?\):/);
  assert.match(r.status.message, /spec\.ingress\[0\]\.fromEntities\[0\]: /);
  assert.match(r.status.message, /spec\.ingress\[0\]\.toPorts\[0\]\.ports\[0\]\.endPort: /);
  assert.ok(d.errors >= 2);
});

test('warnings are returned on allowed requests and kept short', () => {
  const d = review(request('CREATE', policy({ endpointSelector: {}, egress: [{ toCIDR: ['0.0.0.0/0'] }] })));
  assert.equal(d.verdict, 'allowed');
  assert.ok(
    d.review.response?.warnings?.some((w) => w.startsWith('spec.egress[0].toCIDR[0]: ')),
    JSON.stringify(d.review.response),
  );
  for (const w of d.review.response!.warnings!) assert.ok(w.length <= 256);
});

test('DELETE and CONNECT are never blocked', () => {
  for (const op of ['DELETE', 'CONNECT']) assert.equal(review(request(op, undefined)).verdict, 'allowed');
});

test('a request without uid is refused as malformed', () => {
  assert.throws(() => review({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }), /request.uid/);
});
