// Operator settings: flags, environment (the ConfigMap's keys) and their errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFrom, envName } from '../../../src/operator.ts';

test('defaults: Cilium durations for the lease, LB-IPAM, policy status and GC on, no pod-CIDR pool', () => {
  const c = configFrom({}, {});
  assert.equal(c.leaseName, 'cilium-operator-resource-lock');
  assert.deepEqual([c.leaseDurationMs, c.renewDeadlineMs, c.retryPeriodMs], [15_000, 10_000, 2_000]);
  assert.equal(c.lbIPAM?.enabled, true);
  assert.equal(c.podCIDR, undefined);
  assert.equal(c.policyStatus, true);
  assert.deepEqual(c.gc, {});
});

test('environment keys are the flag names in upper snake case; a flag wins', () => {
  assert.equal(envName('cluster-pool-ipv4-mask-size'), 'CLUSTER_POOL_IPV4_MASK_SIZE');
  const c = configFrom(
    { 'cluster-pool-ipv4-mask-size': '26' },
    {
      CLUSTER_POOL_IPV4_CIDR: '10.0.0.0/16, 10.1.0.0/16',
      CLUSTER_POOL_IPV4_MASK_SIZE: '24',
      GC_INTERVAL: '30s',
      IDENTITY_GC_GRACE: '15m',
      ENABLE_LB_IPAM: 'false',
    },
  );
  assert.deepEqual(c.podCIDR, { ipv4: { cidrs: ['10.0.0.0/16', '10.1.0.0/16'], maskSize: 26 } });
  assert.deepEqual(c.gc, { intervalMs: 30_000, identityGraceMs: 900_000 });
  assert.equal(c.lbIPAM, undefined);
});

test('a disabled family gets no pod-CIDR pool and no LB-IPAM addresses', () => {
  const c = configFrom(
    { 'enable-ipv6': 'false', 'cluster-pool-ipv6-cidr': 'fd00::/104', 'cluster-pool-ipv6-mask-size': '120' },
    {},
  );
  assert.equal(c.podCIDR, undefined);
  assert.equal(c.lbIPAM?.ipv6Enabled, false);
});

test('bad settings say which setting and what would be right', () => {
  assert.throws(
    () => configFrom({ 'cluster-pool-ipv4-cidr': '10.0.0.0/8' }, {}),
    /cluster-pool-ipv4-mask-size: set the mask size/,
  );
  assert.throws(() => configFrom({ 'gc-interval': 'often' }, {}), /gc-interval: 'often' is not a duration/);
  assert.throws(() => configFrom({ 'leader-elect': 'yes' }, {}), /leader-elect: 'yes' is not true or false/);
  assert.throws(() => configFrom({ 'health-port': '92.5' }, {}), /health-port: '92.5' is not an integer/);
});
