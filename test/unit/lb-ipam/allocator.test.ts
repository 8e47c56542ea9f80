import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1Service } from '@kubernetes/client-node';
import type { CiliumLoadBalancerIPPool } from '../../../src/api/types.generated.ts';
import {
  allocate,
  mergeConditions,
  type LBIPAMOptions,
  type LBPoolInput,
  type LBServiceInput,
} from '../../../src/controllers/lb-ipam/allocator.ts';
import * as C from '../../../src/controllers/lb-ipam/constants.ts';
import { applyResult, pool, svc } from './fixtures.ts';

// The core's input types accept the real API objects without conversion.
const _svcFits = (s: V1Service): LBServiceInput => s;
const _poolFits = (p: CiliumLoadBalancerIPPool): LBPoolInput => p;
void _svcFits;
void _poolFits;

interface Want {
  ips?: string[];
  reason?: string;
  message?: string | RegExp;
  pools?: string[];
  sharedWith?: string[];
}

interface Case {
  name: string;
  pools: LBPoolInput[];
  services: LBServiceInput[];
  options?: LBIPAMOptions;
  want?: Record<string, Want>;
  wantPools?: Record<
    string,
    { conflicting?: boolean; total?: bigint; used?: bigint; available?: bigint; message?: string | RegExp }
  >;
  wantReleased?: string[];
  wantIgnored?: string[];
}

const older = '2025-06-01T00:00:00Z';
const newer = '2025-07-01T00:00:00Z';
const sharing = (key: string, extra: Record<string, string> = {}): Record<string, string> => ({
  [C.ANNOTATION_SHARING_KEY]: key,
  ...extra,
});

const cases: Case[] = [
  // --- blocks ---------------------------------------------------------------------------------
  {
    name: 'a CIDR block hands out its first address; first/last are allowed by default',
    pools: [pool('blue', ['10.0.10.0/24'])],
    services: [svc('default', 'a')],
    want: { 'default/a': { ips: ['10.0.10.0'], pools: ['blue'] } },
    wantPools: { blue: { total: 256n, used: 1n, available: 255n, conflicting: false } },
  },
  {
    name: 'allowFirstLastIPs: No keeps network and broadcast back and counts them as used',
    pools: [pool('blue', ['10.0.10.0/30'], { allowFirstLastIPs: 'No' })],
    services: [svc('default', 'a'), svc('default', 'b'), svc('default', 'c')],
    want: {
      'default/a': { ips: ['10.0.10.1'] },
      'default/b': { ips: ['10.0.10.2'] },
      'default/c': { ips: [], reason: C.REASON_OUT_OF_IPS },
    },
    wantPools: { blue: { total: 4n, used: 4n, available: 0n } },
  },
  {
    name: 'allowFirstLastIPs: No has no effect on /31 and /32',
    pools: [pool('p', ['10.0.0.0/31', '10.0.1.9/32'], { allowFirstLastIPs: 'No' })],
    services: [svc('default', 'a'), svc('default', 'b'), svc('default', 'c')],
    want: {
      'default/a': { ips: ['10.0.0.0'] },
      'default/b': { ips: ['10.0.0.1'] },
      'default/c': { ips: ['10.0.1.9'] },
    },
  },
  {
    name: 'allowFirstLastIPs: No does not apply to start/stop ranges',
    pools: [pool('p', [{ start: '20.0.20.100', stop: '20.0.20.101' }], { allowFirstLastIPs: 'No' })],
    services: [svc('default', 'a'), svc('default', 'b'), svc('default', 'c')],
    want: {
      'default/a': { ips: ['20.0.20.100'] },
      'default/b': { ips: ['20.0.20.101'] },
      'default/c': { ips: [], reason: C.REASON_OUT_OF_IPS, message: /ran out of allocatable IPs/ },
    },
    wantPools: { p: { total: 2n, used: 2n, available: 0n } },
  },
  {
    name: 'a start without stop is a single address',
    pools: [pool('p', [{ start: '1.2.3.4' }])],
    services: [svc('default', 'a')],
    want: { 'default/a': { ips: ['1.2.3.4'] } },
    wantPools: { p: { total: 1n } },
  },
  {
    name: 'IPv6 blocks serve IPv6 single-stack services, printed compressed',
    pools: [pool('v6', ['2004::/64'])],
    services: [svc('default', 'a', { families: ['IPv6'], policy: 'SingleStack' })],
    want: { 'default/a': { ips: ['2004::'] } },
    wantPools: { v6: { total: 1n << 64n, used: 1n, available: (1n << 64n) - 1n } },
  },
  // --- families -------------------------------------------------------------------------------
  {
    name: 'RequireDualStack gets one address of each family',
    pools: [pool('mixed', ['10.0.0.0/24', '2001:db8::/120'])],
    services: [svc('default', 'a', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' })],
    want: { 'default/a': { ips: ['10.0.0.0', '2001:db8::'] } },
  },
  {
    name: 'RequireDualStack without an IPv6 pool keeps the IPv4 address but is unsatisfied',
    pools: [pool('v4', ['10.0.0.0/24'])],
    services: [svc('default', 'a', { families: ['IPv4', 'IPv6'], policy: 'RequireDualStack' })],
    want: { 'default/a': { ips: ['10.0.0.0'], reason: C.REASON_NO_POOL } },
  },
  {
    name: 'PreferDualStack asks for both families as Cilium does: unsatisfied while one is missing',
    pools: [pool('v4', ['10.0.0.0/24'])],
    services: [svc('default', 'a', { families: ['IPv4', 'IPv6'], policy: 'PreferDualStack' })],
    want: { 'default/a': { ips: ['10.0.0.0'], reason: C.REASON_NO_POOL } },
  },
  {
    name: 'PreferDualStack with a disabled family in the cluster asks only for the other',
    pools: [pool('v4', ['10.0.0.0/24'])],
    options: { ipv6Enabled: false },
    services: [svc('default', 'a', { families: ['IPv4', 'IPv6'], policy: 'PreferDualStack' })],
    want: { 'default/a': { ips: ['10.0.0.0'] } },
  },
  {
    name: 'no ipFamilies: IPv4 when enabled, else IPv6',
    pools: [pool('mixed', ['10.0.0.0/24', '2001:db8::/120'])],
    options: { ipv4Enabled: false },
    services: [svc('default', 'a')],
    want: { 'default/a': { ips: ['2001:db8::'] } },
  },
  {
    name: 'an existing address of a family no longer requested is released and the other family allocated',
    pools: [pool('mixed', ['10.0.0.0/24', '2001:db8::/120'])],
    services: [svc('default', 'a', { families: ['IPv4'], policy: 'SingleStack', ingress: ['2001:db8::5'] })],
    want: { 'default/a': { ips: ['10.0.0.0'] } },
  },
  // --- disabled pools -------------------------------------------------------------------------
  {
    name: 'a disabled pool gives no new addresses but services keep the ones they have',
    pools: [pool('off', ['10.0.0.0/24'], { disabled: true })],
    services: [svc('default', 'old', { ingress: ['10.0.0.7'] }), svc('default', 'new')],
    want: {
      'default/old': { ips: ['10.0.0.7'], pools: ['off'] },
      'default/new': {
        ips: [],
        reason: C.REASON_NO_POOL,
        message: 'There are no enabled CiliumLoadBalancerIPPools that match this service',
      },
    },
    wantPools: { off: { used: 1n, available: 255n } },
  },
  // --- selectors ------------------------------------------------------------------------------
  {
    name: 'matchLabels picks the pool; services it does not select go elsewhere',
    pools: [
      pool('blue', ['10.0.1.0/24'], { created: older, selector: { matchLabels: { color: 'blue' } } }),
      pool('any', ['10.0.2.0/24'], { created: newer }),
    ],
    services: [svc('default', 'b', { labels: { color: 'blue' } }), svc('default', 'r', { labels: { color: 'red' } })],
    want: { 'default/b': { ips: ['10.0.1.0'], pools: ['blue'] }, 'default/r': { ips: ['10.0.2.0'], pools: ['any'] } },
  },
  {
    name: 'selectors can match the virtual namespace and name labels',
    pools: [
      pool('team', ['10.0.1.0/24'], {
        selector: { matchExpressions: [{ key: C.LABEL_SERVICE_NAMESPACE, operator: 'In', values: ['team-a'] }] },
      }),
      pool('one', ['10.0.2.0/24'], { selector: { matchLabels: { [C.LABEL_SERVICE_NAME]: 'special' } } }),
    ],
    services: [svc('team-a', 'x'), svc('team-b', 'x'), svc('team-b', 'special')],
    want: {
      'team-a/x': { ips: ['10.0.1.0'] },
      'team-b/x': { ips: [], reason: C.REASON_NO_POOL },
      'team-b/special': { ips: ['10.0.2.0'] },
    },
  },
  {
    name: 'matchExpressions NotIn, Exists and DoesNotExist',
    pools: [
      pool('notin', ['10.0.1.0/24'], {
        created: older,
        selector: { matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }] },
      }),
      pool('exists', ['10.0.2.0/24'], {
        created: newer,
        selector: { matchExpressions: [{ key: 'env', operator: 'Exists' }] },
      }),
      pool('absent', ['10.0.3.0/24'], {
        created: newer,
        selector: {
          matchExpressions: [
            { key: 'env', operator: 'DoesNotExist' },
            { key: 'tier', operator: 'Exists' },
          ],
        },
      }),
    ],
    services: [
      svc('default', 'dev', { labels: { env: 'dev' } }),
      svc('default', 'prod', { labels: { env: 'prod' } }),
      svc('default', 'tier', { labels: { tier: 'web' } }),
    ],
    want: {
      'default/dev': { pools: ['notin'] },
      'default/prod': { pools: ['exists'] },
      'default/tier': { pools: ['notin'] },
    },
  },
  {
    name: 'an address from a pool that no longer selects the service is released and replaced',
    pools: [
      pool('blue', ['10.0.1.0/24'], { selector: { matchLabels: { color: 'blue' } } }),
      pool('any', ['10.0.2.0/24'], { created: newer }),
    ],
    services: [svc('default', 'a', { labels: { color: 'red' }, ingress: ['10.0.1.3'] })],
    want: { 'default/a': { ips: ['10.0.2.0'], pools: ['any'] } },
  },
  // --- requested addresses --------------------------------------------------------------------
  {
    name: 'requested addresses from the annotation, its alias and spec.loadBalancerIP',
    pools: [pool('p', ['10.0.10.0/24', '2001:db8::/64'])],
    services: [
      svc('default', 'a', { annotations: { [C.ANNOTATION_IPS]: '10.0.10.5, 2001:db8::0005' } }),
      svc('default', 'b', { annotations: { [C.ANNOTATION_IPS_ALIAS]: '10.0.10.6' } }),
      svc('default', 'c', { lbIP: '10.0.10.7' }),
    ],
    want: {
      'default/a': { ips: ['10.0.10.5', '2001:db8::5'] },
      'default/b': { ips: ['10.0.10.6'] },
      'default/c': { ips: ['10.0.10.7'] },
    },
  },
  {
    name: 'a requested address in no pool: no_pool; in a pool that does not select the service: pool_selector_mismatch',
    pools: [pool('blue', ['10.0.1.0/24'], { selector: { matchLabels: { color: 'blue' } } })],
    services: [svc('default', 'a', { lbIP: '192.0.2.1' }), svc('default', 'b', { lbIP: '10.0.1.1' })],
    want: {
      'default/a': { ips: [], reason: C.REASON_NO_POOL, message: "No pool exists with a CIDR containing '192.0.2.1'" },
      'default/b': {
        ips: [],
        reason: C.REASON_POOL_SELECTOR_MISMATCH,
        message: "The pool with the CIDR containing '10.0.1.1', doesn't select this service",
      },
    },
  },
  {
    name: 'a requested address already in use: already_allocated',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [svc('default', 'a', { ingress: ['10.0.1.9'] }), svc('default', 'b', { lbIP: '10.0.1.9' })],
    want: {
      'default/a': { ips: ['10.0.1.9'] },
      'default/b': {
        ips: [],
        reason: C.REASON_ALREADY_ALLOCATED,
        message: "The IP '10.0.1.9' is already allocated to another service",
      },
    },
  },
  {
    name: 'a requested reserved first/last address is refused',
    pools: [pool('p', ['10.0.1.0/24'], { allowFirstLastIPs: 'No' })],
    services: [svc('default', 'a', { lbIP: '10.0.1.255' })],
    want: { 'default/a': { ips: [], reason: C.REASON_ALREADY_ALLOCATED } },
  },
  {
    name: 'an existing address not among the requested ones is released',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [svc('default', 'a', { ingress: ['10.0.1.3'], lbIP: '10.0.1.4' })],
    want: { 'default/a': { ips: ['10.0.1.4'] } },
  },
  // --- sharing --------------------------------------------------------------------------------
  {
    name: 'services with the same sharing key and distinct ports share one address',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'http', { annotations: sharing('k'), ports: [80] }),
      svc('default', 'https', { annotations: sharing('k'), ports: [443] }),
    ],
    want: {
      'default/http': { ips: ['10.0.1.0'], sharedWith: ['default/https'] },
      'default/https': { ips: ['10.0.1.0'], sharedWith: ['default/http'] },
    },
    wantPools: { p: { used: 1n } },
  },
  {
    name: 'the same port and protocol clash: separate addresses',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'a', { annotations: sharing('k'), ports: [80] }),
      svc('default', 'b', { annotations: sharing('k'), ports: [80] }),
    ],
    want: { 'default/a': { ips: ['10.0.1.0'] }, 'default/b': { ips: ['10.0.1.1'] } },
  },
  {
    name: 'the same port with TCP and UDP shares when the datapath tells protocols apart',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'tcp', { annotations: sharing('dns'), ports: [{ port: 53, protocol: 'TCP' }] }),
      svc('default', 'udp', { annotations: sharing('dns'), ports: [{ port: 53, protocol: 'UDP' }] }),
    ],
    want: { 'default/tcp': { ips: ['10.0.1.0'] }, 'default/udp': { ips: ['10.0.1.0'] } },
  },
  {
    name: 'the same port with TCP and UDP clashes without protocol differentiation',
    pools: [pool('p', ['10.0.1.0/24'])],
    options: { protocolDifferentiation: false },
    services: [
      svc('default', 'tcp', { annotations: sharing('dns'), ports: [{ port: 53, protocol: 'TCP' }] }),
      svc('default', 'udp', { annotations: sharing('dns'), ports: [{ port: 53, protocol: 'UDP' }] }),
    ],
    want: { 'default/tcp': { ips: ['10.0.1.0'] }, 'default/udp': { ips: ['10.0.1.1'] } },
  },
  {
    name: 'different sharing keys never share',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'a', { annotations: sharing('k1'), ports: [80] }),
      svc('default', 'b', { annotations: sharing('k2'), ports: [443] }),
    ],
    want: { 'default/a': { ips: ['10.0.1.0'] }, 'default/b': { ips: ['10.0.1.1'] } },
  },
  {
    name: 'sharing across namespaces needs consent on both sides',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('a', 'x', { annotations: sharing('k', { [C.ANNOTATION_SHARING_CROSS_NAMESPACE]: 'b' }), ports: [80] }),
      svc('b', 'y', { annotations: sharing('k'), ports: [81] }),
      svc('c', 'z', { annotations: sharing('k2', { [C.ANNOTATION_SHARING_CROSS_NAMESPACE]: '*' }), ports: [80] }),
      svc('d', 'w', {
        annotations: sharing('k2', { [C.ANNOTATION_SHARING_CROSS_NAMESPACE_ALIAS]: 'c,e' }),
        ports: [81],
      }),
    ],
    want: {
      'a/x': { ips: ['10.0.1.0'], sharedWith: [] },
      'b/y': { ips: ['10.0.1.1'], sharedWith: [] },
      'c/z': { ips: ['10.0.1.2'], sharedWith: ['d/w'] },
      'd/w': { ips: ['10.0.1.2'], sharedWith: ['c/z'] },
    },
  },
  {
    name: 'externalTrafficPolicy Local shares only between services selecting the same pods',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'a', { annotations: sharing('k'), ports: [80], etp: 'Local', selector: { app: 'x' } }),
      svc('default', 'b', { annotations: sharing('k'), ports: [81], etp: 'Local', selector: { app: 'x' } }),
      svc('default', 'c', { annotations: sharing('k'), ports: [82], etp: 'Local', selector: { app: 'y' } }),
      svc('default', 'd', { annotations: sharing('k'), ports: [83] }),
    ],
    want: {
      'default/a': { ips: ['10.0.1.0'] },
      'default/b': { ips: ['10.0.1.0'] },
      'default/c': { ips: ['10.0.1.1'] },
      'default/d': { ips: ['10.0.1.2'] },
    },
  },
  {
    name: 'requesting an address held by an incompatible sharing service: already_allocated_incompatible_service',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'a', { annotations: sharing('k'), ports: [80], ingress: ['10.0.1.4'] }),
      svc('default', 'b', { annotations: sharing('k'), ports: [80], lbIP: '10.0.1.4' }),
      svc('default', 'c', { annotations: sharing('k'), ports: [443], lbIP: '10.0.1.4' }),
    ],
    want: {
      'default/a': { ips: ['10.0.1.4'] },
      'default/b': {
        ips: [],
        reason: C.REASON_ALREADY_ALLOCATED_INCOMPATIBLE,
        message: "The IP '10.0.1.4' is already allocated to an incompatible service. Reason: same port",
      },
      'default/c': { ips: ['10.0.1.4'] },
    },
  },
  {
    name: 'a dual-stack sharing service shares both families',
    pools: [pool('p', ['10.0.1.0/24', 'fd00::/120'])],
    services: [
      svc('default', 'a', { annotations: sharing('k'), ports: [80], policy: 'RequireDualStack' }),
      svc('default', 'b', { annotations: sharing('k'), ports: [81], policy: 'RequireDualStack' }),
    ],
    want: { 'default/a': { ips: ['10.0.1.0', 'fd00::'] }, 'default/b': { ips: ['10.0.1.0', 'fd00::'] } },
  },
  // --- responsibility -------------------------------------------------------------------------
  {
    name: 'only LoadBalancer services without a class or with a Cilium class are served',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'none'),
      svc('default', 'bgp', { cls: C.LB_CLASS_BGP }),
      svc('default', 'l2', { cls: C.LB_CLASS_L2 }),
      svc('default', 'other', { cls: 'example.com/lb' }),
      svc('default', 'clusterip', { type: 'ClusterIP' }),
      svc('default', 'was-ours', {
        cls: 'example.com/lb',
        ingress: ['10.0.1.9'],
        conditions: [{ type: C.CONDITION_REQUEST_SATISFIED }],
      }),
    ],
    want: {
      'default/bgp': { ips: ['10.0.1.0'] },
      'default/l2': { ips: ['10.0.1.1'] },
      'default/none': { ips: ['10.0.1.2'] },
    },
    wantIgnored: ['default/other', 'default/clusterip', 'default/was-ours'],
    wantReleased: ['default/was-ours'],
  },
  {
    name: 'defaultIPAM off: services without a class are left to another implementation',
    pools: [pool('p', ['10.0.1.0/24'])],
    options: { defaultIPAM: false },
    services: [svc('default', 'none'), svc('default', 'bgp', { cls: C.LB_CLASS_BGP })],
    want: { 'default/bgp': { ips: ['10.0.1.0'] } },
    wantIgnored: ['default/none'],
  },
  // --- conflicts ------------------------------------------------------------------------------
  {
    name: 'of two overlapping pools the newer is conflicting and gives nothing',
    pools: [
      pool('young', ['10.0.0.128/25'], { created: newer, selector: { matchLabels: { pool: 'young' } } }),
      pool('old', ['10.0.0.0/24'], { created: older, selector: { matchLabels: { pool: 'old' } } }),
    ],
    services: [svc('default', 'y', { labels: { pool: 'young' } }), svc('default', 'o', { labels: { pool: 'old' } })],
    want: { 'default/y': { ips: [], reason: C.REASON_NO_POOL }, 'default/o': { ips: ['10.0.0.0'] } },
    wantPools: {
      young: {
        conflicting: true,
        message:
          "Pool conflicts since range '10.0.0.128 - 10.0.0.255' overlaps range '10.0.0.0 - 10.0.0.255' from IP Pool 'old'",
      },
      old: { conflicting: false },
    },
  },
  {
    name: 'equal creation times: the name decides which pool is newer',
    pools: [pool('b', ['10.0.0.0/24']), pool('a', ['10.0.0.0/25'])],
    services: [],
    wantPools: { a: { conflicting: false }, b: { conflicting: true } },
  },
  {
    name: 'a pool whose own blocks overlap is conflicting',
    pools: [pool('self', ['10.0.0.0/24', { start: '10.0.0.10', stop: '10.0.0.20' }])],
    services: [svc('default', 'a')],
    want: { 'default/a': { ips: [], reason: C.REASON_NO_POOL } },
    wantPools: {
      self: {
        conflicting: true,
        message:
          "Pool conflicts since range '10.0.0.0 - 10.0.0.255' overlaps range '10.0.0.10 - 10.0.0.20' from IP Pool 'self'",
      },
    },
  },
  {
    name: 'blocks of different families never conflict',
    pools: [pool('a', ['0.0.0.0/0'], { created: older }), pool('b', ['::/0'], { created: newer })],
    services: [],
    wantPools: { a: { conflicting: false }, b: { conflicting: false } },
  },
  // --- pool removal and restart ---------------------------------------------------------------
  {
    name: 'a deleted pool releases its addresses; affected services get one from another matching pool',
    pools: [pool('remaining', ['10.0.2.0/24'])],
    services: [svc('default', 'a', { ingress: ['10.0.1.5'] })],
    want: { 'default/a': { ips: ['10.0.2.0'], pools: ['remaining'] } },
  },
  {
    name: 'restart keeps existing addresses even when lower ones are free',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [svc('default', 'a', { ingress: ['10.0.1.77'] }), svc('default', 'b', { created: older })],
    want: { 'default/a': { ips: ['10.0.1.77'] }, 'default/b': { ips: ['10.0.1.0'] } },
  },
  {
    name: 'two services claiming one address without a sharing key: the older keeps it',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [
      svc('default', 'young', { created: newer, ingress: ['10.0.1.9'] }),
      svc('default', 'old', { created: older, ingress: ['10.0.1.9'] }),
    ],
    want: { 'default/old': { ips: ['10.0.1.9'] }, 'default/young': { ips: ['10.0.1.0'] } },
  },
  {
    name: 'a reserved address a service already holds survives switching allowFirstLastIPs to No',
    pools: [pool('p', ['10.0.1.0/24'], { allowFirstLastIPs: 'No' })],
    services: [svc('default', 'a', { ingress: ['10.0.1.0'] })],
    want: { 'default/a': { ips: ['10.0.1.0'] } },
    wantPools: { p: { used: 2n, available: 254n } },
  },
  {
    name: 'invalid and duplicate ingress entries are dropped, one address per family kept',
    pools: [pool('p', ['10.0.1.0/24'])],
    services: [svc('default', 'a', { ingress: ['not-an-ip', '10.0.1.3', '10.0.1.3', '10.0.1.4'] })],
    want: { 'default/a': { ips: ['10.0.1.3'] } },
  },
];

for (const c of cases) {
  test(c.name, () => {
    const r = allocate(c.pools, c.services, c.options);
    for (const [key, w] of Object.entries(c.want ?? {})) {
      const s = r.services.find((x) => x.key === key);
      assert.ok(s, `${key} missing from result`);
      if (w.ips) assert.deepEqual(s.ingressIPs, w.ips, `${key} ingress`);
      const reason = w.reason ?? C.REASON_SATISFIED;
      assert.equal(s.condition.reason, reason, `${key} reason (${s.condition.message})`);
      assert.equal(s.condition.type, C.CONDITION_REQUEST_SATISFIED);
      assert.equal(s.condition.status, reason === C.REASON_SATISFIED ? 'True' : 'False');
      assert.equal(s.satisfied, reason === C.REASON_SATISFIED);
      if (typeof w.message === 'string') assert.equal(s.condition.message, w.message);
      else if (w.message) assert.match(s.condition.message, w.message);
      if (w.pools)
        assert.deepEqual(
          s.allocations.map((a) => a.pool),
          w.pools,
          `${key} pools`,
        );
      if (w.sharedWith)
        assert.deepEqual(
          s.allocations.flatMap((a) => a.sharedWith),
          w.sharedWith,
          `${key} sharing`,
        );
    }
    for (const [name, w] of Object.entries(c.wantPools ?? {})) {
      const p = r.pools.find((x) => x.name === name);
      assert.ok(p, `pool ${name} missing`);
      if (w.conflicting !== undefined) assert.equal(p.conflicting, w.conflicting, `${name} conflicting`);
      if (w.total !== undefined) assert.equal(p.ipsTotal, w.total, `${name} total`);
      if (w.used !== undefined) assert.equal(p.ipsUsed, w.used, `${name} used`);
      if (w.available !== undefined) assert.equal(p.ipsAvailable, w.available, `${name} available`);
      if (typeof w.message === 'string') assert.equal(p.conflictMessage, w.message);
      else if (w.message) assert.match(p.conflictMessage, w.message);
      assert.equal(p.ipsUsed + p.ipsAvailable, p.ipsTotal);
    }
    for (const key of c.wantIgnored ?? [])
      assert.ok(!r.services.some((x) => x.key === key), `${key} should be ignored`);
    assert.deepEqual(
      r.released.map((x) => x.key),
      c.wantReleased ?? [],
    );
    // Every scenario is a fixed point: writing the result back and running again changes nothing.
    const again = allocate(c.pools, applyResult(c.services, r), c.options);
    assert.deepEqual(
      again.services.map((s) => [s.key, s.ingressIPs]),
      r.services.map((s) => [s.key, s.ingressIPs]),
    );
  });
}

test('input order does not change the result', () => {
  const pools = [pool('a', ['10.0.1.0/28'], { created: older }), pool('b', ['10.0.2.0/28'], { created: newer })];
  const services = Array.from({ length: 20 }, (_, i) =>
    svc(`ns${i % 3}`, `s${i}`, { annotations: i % 4 === 0 ? sharing('k') : {}, ports: [80 + (i % 5)] }),
  );
  const r1 = allocate(pools, services);
  const r2 = allocate([...pools].reverse(), [...services].reverse());
  assert.deepEqual(r2, r1);
});

test('pool status conditions follow Cilium: counts in the message, status Unknown', () => {
  const r = allocate([pool('p', ['10.0.1.0/29'])], [svc('default', 'a')]);
  const p = r.pools[0]!;
  assert.deepEqual(p.conditions, [
    { type: C.POOL_CONDITION_CONFLICT, status: 'False', reason: C.REASON_RESOLVED, message: '' },
    { type: C.POOL_CONDITION_IPS_TOTAL, status: 'Unknown', reason: C.REASON_COUNT, message: '8' },
    { type: C.POOL_CONDITION_IPS_AVAILABLE, status: 'Unknown', reason: C.REASON_COUNT, message: '7' },
    { type: C.POOL_CONDITION_IPS_USED, status: 'Unknown', reason: C.REASON_COUNT, message: '1' },
  ]);
});

test('invalid blocks are reported and contribute nothing', () => {
  const r = allocate([pool('p', ['10.0.1.0/33', { start: '10.0.0.9', stop: '10.0.0.1' }, '10.0.2.0/31'])], []);
  assert.deepEqual(r.pools[0]!.invalidBlocks, ['10.0.1.0/33', '10.0.0.9-10.0.0.1']);
  assert.equal(r.pools[0]!.ipsTotal, 2n);
});

test('mergeConditions keeps the transition time while the status holds', () => {
  const existing = [
    { type: 'x', status: 'True' as const, reason: 'r', message: '', lastTransitionTime: 'T0' },
    { type: 'other', status: 'True' as const, reason: 'r', message: '', lastTransitionTime: 'T0' },
  ];
  const merged = mergeConditions(
    existing,
    [
      { type: 'x', status: 'True', reason: 'r2', message: 'm' },
      { type: 'y', status: 'False', reason: 'r', message: '' },
    ],
    'T1',
    3,
  );
  assert.deepEqual(merged, [
    { type: 'other', status: 'True', reason: 'r', message: '', lastTransitionTime: 'T0' },
    { type: 'x', status: 'True', reason: 'r2', message: 'm', lastTransitionTime: 'T0', observedGeneration: 3 },
    { type: 'y', status: 'False', reason: 'r', message: '', lastTransitionTime: 'T1', observedGeneration: 3 },
  ]);
});
