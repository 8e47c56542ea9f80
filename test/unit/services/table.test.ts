// The service table, table-tested: each case is Services + EndpointSlices + pods + this node → the
// entries, one rendered line each (fixtures.ts `render`), in the table's own order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { V1EndpointSlice, V1Pod, V1Service } from '@kubernetes/client-node';
import { buildServiceTable, serviceTable } from '../../../src/services/table.ts';
import type {
  EndpointSliceInput,
  NodeInput,
  PodInput,
  ServiceInput,
  TableOptions,
} from '../../../src/services/types.ts';
import { NODE, ep, pod, render, shuffled, slice, svc } from './fixtures.ts';

// The core's input types accept the client's API objects without conversion.
const _svcFits = (s: V1Service): ServiceInput => s;
const _sliceFits = (s: V1EndpointSlice): EndpointSliceInput => s;
const _podFits = (p: V1Pod): PodInput => p;
void _svcFits;
void _sliceFits;
void _podFits;

interface Case {
  name: string;
  services?: ServiceInput[];
  slices?: EndpointSliceInput[];
  pods?: PodInput[];
  node?: NodeInput;
  options?: TableOptions;
  want: string[];
}

const D = 'default';
const two = [ep('10.244.1.9', { node: 'n1' }), ep('10.244.2.10', { node: 'n2' })];
const localRemote = [ep('10.244.1.5', { node: 'n1' }), ep('10.244.2.5', { node: 'n2' })];
const np = (
  port: number,
  nodePort: number,
  name?: string,
): { port: number; nodePort: number; protocol: string; name?: string } => ({
  port,
  nodePort,
  protocol: 'TCP',
  ...(name ? { name } : {}),
});

const cases: Case[] = [
  // --- ClusterIP and EndpointSlices ------------------------------------------------------------
  {
    name: 'ClusterIP: one frontend per port; backends sorted numerically, with their node',
    services: [svc(D, 'web', { clusterIP: '10.96.0.10' })],
    slices: [slice(D, 'web', [ep('10.244.2.10', { node: 'n2' }), ep('10.244.1.9', { node: 'n1' })])],
    want: ['ClusterIP 10.96.0.10:80/TCP default/web: -> 10.244.1.9:8080@n1,10.244.2.10:8080@n2'],
  },
  {
    name: 'a Service without slices, or with empty ones, still has its frontend (traffic is refused)',
    services: [svc(D, 'a', { clusterIP: '10.96.0.10' }), svc(D, 'b', { clusterIP: '10.96.0.11' })],
    slices: [slice(D, 'b', [])],
    want: ['ClusterIP 10.96.0.10:80/TCP default/a: -> ', 'ClusterIP 10.96.0.11:80/TCP default/b: -> '],
  },
  {
    name: 'dual stack: one frontend per cluster IP, each with the backends of its family',
    services: [svc(D, 'ds', { clusterIPs: ['fd00:96::10', '10.96.0.10'], families: ['IPv6', 'IPv4'] })],
    slices: [
      slice(D, 'ds', [ep('10.244.1.9', { node: 'n1' })], { name: 'ds-v4' }),
      slice(D, 'ds', [ep('fd00:244:1::9', { node: 'n1' })], { name: 'ds-v6', addressType: 'IPv6' }),
    ],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/ds: -> 10.244.1.9:8080@n1',
      'ClusterIP [fd00:96::10]:80/TCP default/ds: -> [fd00:244:1::9]:8080@n1',
    ],
  },
  {
    name: 'addresses are canonicalised; an address of the other family or not parsing is dropped',
    services: [svc(D, 'c', { clusterIPs: ['FD00:96:0:0::A'] })],
    slices: [
      slice(D, 'c', [ep('FD00:244::0:5'), ep('10.244.1.1'), ep('not-an-ip'), ep('fd00:244::1%eth0')], {
        addressType: 'IPv6',
      }),
    ],
    want: ['ClusterIP [fd00:96::a]:80/TCP default/c: -> [fd00:244::5]:8080'],
  },
  {
    name: 'FQDN slices, slices of another namespace and slices without the service-name label are ignored',
    services: [svc(D, 'web', { clusterIP: '10.96.0.10' })],
    slices: [
      slice(D, 'web', [ep('10.244.1.1')], { name: 'fqdn', addressType: 'FQDN' }),
      slice('other', 'web', [ep('10.244.1.2')]),
      slice(D, 'web', [ep('10.244.1.3')], { name: 'orphan', label: null }),
      slice(D, 'web', [ep('10.244.1.4')], { name: 'ok' }),
    ],
    want: ['ClusterIP 10.96.0.10:80/TCP default/web: -> 10.244.1.4:8080'],
  },
  {
    name: 'several slices per Service are joined; an endpoint in two slices is listed once, active preferred',
    services: [svc(D, 'web', { clusterIP: '10.96.0.10' })],
    slices: [
      slice(D, 'web', [ep('10.244.1.1'), ep('10.244.1.2', { ready: false, serving: true, terminating: true })], {
        name: 'web-1',
      }),
      slice(D, 'web', [ep('10.244.1.2', { node: 'n2' }), ep('10.244.1.3')], { name: 'web-2' }),
    ],
    want: ['ClusterIP 10.96.0.10:80/TCP default/web: -> 10.244.1.1:8080,10.244.1.2:8080@n2,10.244.1.3:8080'],
  },
  {
    name: "only the first of an endpoint's addresses is used (they are fungible)",
    services: [svc(D, 'web', { clusterIP: '10.96.0.10' })],
    slices: [slice(D, 'web', [ep('10.244.1.1', { extra: ['10.244.1.100'] })])],
    want: ['ClusterIP 10.96.0.10:80/TCP default/web: -> 10.244.1.1:8080'],
  },

  // --- ports ------------------------------------------------------------------------------------
  {
    name: 'multi-port: each Service port takes the slice port of its name; a port the slice lacks has none',
    services: [
      svc(D, 'mp', {
        clusterIP: '10.96.0.10',
        ports: [
          { name: 'http', port: 80, protocol: 'TCP', targetPort: 'web' },
          { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 9100 },
          { name: 'admin', port: 81, protocol: 'TCP', targetPort: 'admin' },
        ],
      }),
    ],
    slices: [
      slice(D, 'mp', [ep('10.244.1.1')], {
        ports: [
          { name: 'http', port: 8080, protocol: 'TCP' },
          { name: 'metrics', port: 9100, protocol: 'TCP' },
        ],
      }),
    ],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/mp:http -> 10.244.1.1:8080',
      'ClusterIP 10.96.0.10:81/TCP default/mp:admin -> ',
      'ClusterIP 10.96.0.10:9090/TCP default/mp:metrics -> 10.244.1.1:9100',
    ],
  },
  {
    name: 'named targetPort numbered differently per pod: each slice gives the port of its endpoints',
    services: [svc(D, 'np', { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, targetPort: 'http' }] })],
    slices: [
      slice(D, 'np', [ep('10.244.1.1'), ep('10.244.1.2')], { name: 'np-a', ports: [{ name: 'http', port: 8080 }] }),
      slice(D, 'np', [ep('10.244.1.3')], { name: 'np-b', ports: [{ name: 'http', port: 9090 }] }),
    ],
    want: ['ClusterIP 10.96.0.10:80/TCP default/np:http -> 10.244.1.1:8080,10.244.1.2:8080,10.244.1.3:9090'],
  },
  {
    name: 'ports match on protocol too (DNS on 53/UDP and 53/TCP); an absent protocol is TCP',
    services: [
      svc('kube-system', 'kube-dns', {
        clusterIP: '10.96.0.10',
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns-tcp', port: 53 },
        ],
      }),
    ],
    slices: [
      slice('kube-system', 'kube-dns', [ep('10.244.1.5', { node: 'n1', pod: 'coredns-1' })], {
        ports: [
          { name: 'dns-tcp', port: 53 },
          { name: 'dns', port: 53, protocol: 'UDP' },
          { name: 'dns', port: 5353, protocol: 'TCP' },
        ],
      }),
    ],
    want: [
      'ClusterIP 10.96.0.10:53/TCP kube-system/kube-dns:dns-tcp -> 10.244.1.5:53@n1',
      'ClusterIP 10.96.0.10:53/UDP kube-system/kube-dns:dns -> 10.244.1.5:53@n1',
    ],
  },
  {
    name: 'SCTP is produced (the table is the kernel-agnostic part); an unknown protocol is skipped',
    services: [
      svc(D, 'sctp', {
        clusterIP: '10.96.0.10',
        ports: [
          { name: 's', port: 3868, protocol: 'SCTP' },
          { name: 'x', port: 1, protocol: 'ICMP' },
        ],
      }),
    ],
    slices: [slice(D, 'sctp', [ep('10.244.1.1')], { ports: [{ name: 's', port: 3868, protocol: 'SCTP' }] })],
    want: ['ClusterIP 10.96.0.10:3868/SCTP default/sctp:s -> 10.244.1.1:3868'],
  },
  {
    name: 'a slice port without a number serves nothing',
    services: [svc(D, 'web', { clusterIP: '10.96.0.10' })],
    slices: [slice(D, 'web', [ep('10.244.1.1')], { ports: [{ protocol: 'TCP' }] })],
    want: ['ClusterIP 10.96.0.10:80/TCP default/web: -> '],
  },

  // --- endpoint conditions -------------------------------------------------------------------------
  {
    name: 'conditions: nil ready is ready; not ready is out; serving+terminating is terminating; not serving is out',
    services: [svc(D, 'c', { clusterIP: '10.96.0.10' })],
    slices: [
      slice(D, 'c', [
        ep('10.244.1.1', { noConditions: true }),
        ep('10.244.1.2', { ready: true }),
        ep('10.244.1.3', { ready: false }),
        ep('10.244.1.4', { ready: false, serving: true, terminating: true }),
        ep('10.244.1.5', { ready: false, serving: false, terminating: true }),
        ep('10.244.1.6', { ready: true, serving: true, terminating: true }),
        ep('10.244.1.7', { ready: false, terminating: true }),
        ep('10.244.1.8', { ready: false, serving: true, terminating: false }),
      ]),
    ],
    // .6: ready wins even while terminating (publishNotReadyAddresses), as kube-proxy and Cilium read it.
    // .7: serving unset counts as serving (kube-proxy), so it is a terminating fallback.
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/c: -> ' +
        '10.244.1.1:8080,10.244.1.2:8080,10.244.1.4:8080(t),10.244.1.6:8080,10.244.1.7:8080(t)',
    ],
  },
  {
    name: 'terminating-only Service: the terminating backends are listed (and selectable, see selectable-backends)',
    services: [svc(D, 'c', { clusterIP: '10.96.0.10' })],
    slices: [
      slice(D, 'c', [
        ep('10.244.1.1', { ready: false, serving: true, terminating: true }),
        ep('10.244.1.2', { ready: false, serving: true, terminating: true }),
      ]),
    ],
    want: ['ClusterIP 10.96.0.10:80/TCP default/c: -> 10.244.1.1:8080(t),10.244.1.2:8080(t)'],
  },

  // --- NodePort, LoadBalancer, externalIPs ---------------------------------------------------------
  {
    name: 'NodePort: on every node address of the Service family, besides its ClusterIP; nodePort 0 gets none',
    services: [
      svc(D, 'np', {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        ports: [np(80, 30080, 'http'), { name: 'other', port: 81, protocol: 'TCP', nodePort: 0 }],
      }),
    ],
    slices: [
      slice(D, 'np', two, {
        ports: [
          { name: 'http', port: 8080 },
          { name: 'other', port: 8081 },
        ],
      }),
    ],
    node: { name: 'n1', addresses: ['192.168.1.10', '10.0.0.10', 'fd00:1::10', '192.168.1.10'] },
    want: [
      'NodePort 10.0.0.10:30080/TCP default/np:http -> 10.244.1.9:8080@n1,10.244.2.10:8080@n2',
      'ClusterIP 10.96.0.10:80/TCP default/np:http -> 10.244.1.9:8080@n1,10.244.2.10:8080@n2',
      'ClusterIP 10.96.0.10:81/TCP default/np:other -> 10.244.1.9:8081@n1,10.244.2.10:8081@n2',
      'NodePort 192.168.1.10:30080/TCP default/np:http -> 10.244.1.9:8080@n1,10.244.2.10:8080@n2',
    ],
  },
  {
    name: 'NodePort dual stack: ipFamilies absent, the families come from the cluster IPs',
    services: [svc(D, 'np', { type: 'NodePort', clusterIPs: ['10.96.0.10', 'fd00:96::10'], ports: [np(80, 30080)] })],
    slices: [
      slice(D, 'np', [ep('10.244.1.9', { node: 'n1' })], { name: 'v4' }),
      slice(D, 'np', [ep('fd00:244::9', { node: 'n1' })], { name: 'v6', addressType: 'IPv6' }),
    ],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/np: -> 10.244.1.9:8080@n1',
      'NodePort 192.168.1.10:30080/TCP default/np: -> 10.244.1.9:8080@n1',
      'NodePort [fd00:1::10]:30080/TCP default/np: -> [fd00:244::9]:8080@n1',
      'ClusterIP [fd00:96::10]:80/TCP default/np: -> [fd00:244::9]:8080@n1',
    ],
  },
  {
    name: 'LoadBalancer: ClusterIP + NodePort + each ingress IP (ipMode Proxy and hostname-only skipped)',
    services: [
      svc(D, 'lb', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        ports: [np(80, 30080)],
        ingress: [
          { ip: '172.20.0.2' },
          { ip: '172.20.0.1', ipMode: 'VIP' },
          { ip: '172.20.0.3', ipMode: 'Proxy' },
          { hostname: 'lb.example' },
        ],
      }),
    ],
    slices: [slice(D, 'lb', [ep('10.244.1.9', { node: 'n1' })])],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/lb: -> 10.244.1.9:8080@n1',
      'LoadBalancer 172.20.0.1:80/TCP default/lb: -> 10.244.1.9:8080@n1',
      'LoadBalancer 172.20.0.2:80/TCP default/lb: -> 10.244.1.9:8080@n1',
      'NodePort 192.168.1.10:30080/TCP default/lb: -> 10.244.1.9:8080@n1',
    ],
  },
  {
    name: 'LoadBalancer with allocateLoadBalancerNodePorts=false (no nodePort): no NodePort frontend',
    services: [
      svc(D, 'lb', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        allocateNodePorts: false,
        ingress: [{ ip: '172.20.0.1' }],
      }),
    ],
    slices: [slice(D, 'lb', [ep('10.244.1.9')])],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/lb: -> 10.244.1.9:8080',
      'LoadBalancer 172.20.0.1:80/TCP default/lb: -> 10.244.1.9:8080',
    ],
  },
  {
    name: 'a ClusterIP Service with ingress status gets no LoadBalancer frontend; externalIPs apply to any type',
    services: [
      svc(D, 'x', {
        clusterIP: '10.96.0.10',
        ingress: [{ ip: '172.20.0.1' }],
        externalIPs: ['203.0.113.7', 'fd00:ee::7'],
      }),
    ],
    slices: [slice(D, 'x', [ep('10.244.1.9')])],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/x: -> 10.244.1.9:8080',
      'ExternalIP 203.0.113.7:80/TCP default/x: -> 10.244.1.9:8080',
      'ExternalIP [fd00:ee::7]:80/TCP default/x: -> ',
    ],
  },

  // --- traffic policies (Cilium's two scopes) -------------------------------------------------------
  {
    name: 'eTP=Local, iTP=Cluster: external scope local only, internal twin of NodePort/LB all; ClusterIP all',
    services: [
      svc(D, 'e', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        etp: 'Local',
        ports: [np(80, 30080)],
        ingress: [{ ip: '172.20.0.1' }],
        externalIPs: ['203.0.113.7'],
      }),
    ],
    slices: [slice(D, 'e', localRemote)],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/e: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 eLocal',
      'LoadBalancer 172.20.0.1:80/TCP default/e: -> 10.244.1.5:8080@n1 eLocal',
      'LoadBalancer 172.20.0.1:80/TCP/i default/e: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 eLocal',
      'NodePort 192.168.1.10:30080/TCP default/e: -> 10.244.1.5:8080@n1 eLocal',
      'NodePort 192.168.1.10:30080/TCP/i default/e: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 eLocal',
      'ExternalIP 203.0.113.7:80/TCP default/e: -> 10.244.1.5:8080@n1 eLocal',
    ],
  },
  {
    name: 'eTP=Cluster, iTP=Local: external scope all, internal twin local only; ClusterIP local only',
    services: [
      svc(D, 'i', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        itp: 'Local',
        ports: [np(80, 30080)],
        ingress: [{ ip: '172.20.0.1' }],
        externalIPs: ['203.0.113.7'],
      }),
    ],
    slices: [slice(D, 'i', localRemote)],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/i: -> 10.244.1.5:8080@n1 iLocal',
      'LoadBalancer 172.20.0.1:80/TCP default/i: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 iLocal',
      'LoadBalancer 172.20.0.1:80/TCP/i default/i: -> 10.244.1.5:8080@n1 iLocal',
      'NodePort 192.168.1.10:30080/TCP default/i: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 iLocal',
      'NodePort 192.168.1.10:30080/TCP/i default/i: -> 10.244.1.5:8080@n1 iLocal',
      'ExternalIP 203.0.113.7:80/TCP default/i: -> 10.244.1.5:8080@n1,10.244.2.5:8080@n2 iLocal',
    ],
  },
  {
    name: 'both Local: one scope, every frontend local only',
    services: [
      svc(D, 'b', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        etp: 'Local',
        itp: 'Local',
        ports: [np(80, 30080)],
        ingress: [{ ip: '172.20.0.1' }],
      }),
    ],
    slices: [slice(D, 'b', localRemote)],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/b: -> 10.244.1.5:8080@n1 eLocal iLocal',
      'LoadBalancer 172.20.0.1:80/TCP default/b: -> 10.244.1.5:8080@n1 eLocal iLocal',
      'NodePort 192.168.1.10:30080/TCP default/b: -> 10.244.1.5:8080@n1 eLocal iLocal',
    ],
  },
  {
    name: 'Local with no local backend: the frontend has none (dropped, never sent to another node)',
    services: [
      svc(D, 'l', {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        etp: 'Local',
        itp: 'Local',
        ports: [np(80, 30080)],
      }),
    ],
    slices: [slice(D, 'l', [ep('10.244.2.5', { node: 'n2' }), ep('10.244.3.5')])],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/l: ->  eLocal iLocal',
      'NodePort 192.168.1.10:30080/TCP default/l: ->  eLocal iLocal',
    ],
  },
  {
    name: 'Local: a local terminating backend is kept even when remote ones are ready (it is the local fallback)',
    services: [
      svc(D, 'l', {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        etp: 'Local',
        ports: [np(80, 30080)],
      }),
    ],
    slices: [
      slice(D, 'l', [
        ep('10.244.1.5', { node: 'n1', ready: false, serving: true, terminating: true }),
        ep('10.244.2.5', { node: 'n2' }),
      ]),
    ],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/l: -> 10.244.1.5:8080@n1(t),10.244.2.5:8080@n2 eLocal',
      'NodePort 192.168.1.10:30080/TCP default/l: -> 10.244.1.5:8080@n1(t) eLocal',
      'NodePort 192.168.1.10:30080/TCP/i default/l: -> 10.244.1.5:8080@n1(t),10.244.2.5:8080@n2 eLocal',
    ],
  },

  // --- session affinity and source ranges ------------------------------------------------------------
  {
    name: 'sessionAffinity ClientIP: default 10800 s, its timeout when set, default again for 0; None has none',
    services: [
      svc(D, 'a', { clusterIP: '10.96.0.1', affinity: 'ClientIP' }),
      svc(D, 'b', { clusterIP: '10.96.0.2', affinity: 'ClientIP', affinityTimeout: 60 }),
      svc(D, 'c', { clusterIP: '10.96.0.3', affinity: 'ClientIP', affinityTimeout: 0 }),
      svc(D, 'd', { clusterIP: '10.96.0.4', affinity: 'None', affinityTimeout: 60 }),
      svc(D, 'e', {
        type: 'NodePort',
        clusterIP: '10.96.0.5',
        families: ['IPv4'],
        affinity: 'ClientIP',
        ports: [np(80, 30080)],
      }),
    ],
    want: [
      'ClusterIP 10.96.0.1:80/TCP default/a: ->  aff=10800',
      'ClusterIP 10.96.0.2:80/TCP default/b: ->  aff=60',
      'ClusterIP 10.96.0.3:80/TCP default/c: ->  aff=10800',
      'ClusterIP 10.96.0.4:80/TCP default/d: -> ',
      'ClusterIP 10.96.0.5:80/TCP default/e: ->  aff=10800',
      'NodePort 192.168.1.10:30080/TCP default/e: ->  aff=10800',
    ],
  },
  {
    name: 'loadBalancerSourceRanges: on LoadBalancer and ExternalIP frontends only, masked, sorted, bad ones dropped',
    services: [
      svc(D, 'lb', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        ports: [np(80, 30080)],
        ingress: [{ ip: '172.20.0.1' }],
        externalIPs: ['203.0.113.7'],
        sourceRanges: ['192.0.2.77/24', '10.0.0.0/8', 'bogus', 'fd00::1/64', '10.0.0.0/8'],
      }),
    ],
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/lb: -> ',
      'LoadBalancer 172.20.0.1:80/TCP default/lb: ->  src=10.0.0.0/8,192.0.2.0/24,fd00::/64',
      'NodePort 192.168.1.10:30080/TCP default/lb: -> ',
      'ExternalIP 203.0.113.7:80/TCP default/lb: ->  src=10.0.0.0/8,192.0.2.0/24,fd00::/64',
    ],
  },
  {
    name: 'the load-balancer-source-ranges annotation is read when the spec field is empty; the spec wins',
    services: [
      svc(D, 'a', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.1',
        ingress: [{ ip: '172.20.0.1' }],
        annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': ' 10.1.0.0/16 , 192.0.2.0/24' },
      }),
      svc(D, 'b', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.2',
        ingress: [{ ip: '172.20.0.2' }],
        sourceRanges: ['10.2.0.0/16'],
        annotations: { 'service.beta.kubernetes.io/load-balancer-source-ranges': '10.1.0.0/16' },
      }),
    ],
    want: [
      'ClusterIP 10.96.0.1:80/TCP default/a: -> ',
      'ClusterIP 10.96.0.2:80/TCP default/b: -> ',
      'LoadBalancer 172.20.0.1:80/TCP default/a: ->  src=10.1.0.0/16,192.0.2.0/24',
      'LoadBalancer 172.20.0.2:80/TCP default/b: ->  src=10.2.0.0/16',
    ],
  },
  {
    name: "sourceRangesAllTypes (Cilium's bpf-lb-source-range-all-types): every frontend checks them",
    services: [
      svc(D, 'lb', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        ports: [np(80, 30080)],
        ingress: [{ ip: '172.20.0.1' }],
        sourceRanges: ['10.0.0.0/8'],
      }),
    ],
    options: { sourceRangesAllTypes: true },
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/lb: ->  src=10.0.0.0/8',
      'LoadBalancer 172.20.0.1:80/TCP default/lb: ->  src=10.0.0.0/8',
      'NodePort 192.168.1.10:30080/TCP default/lb: ->  src=10.0.0.0/8',
    ],
  },

  // --- skipped Services --------------------------------------------------------------------------------
  {
    name: "skipped: headless (None or the headless label), ExternalName, another proxy's (service-proxy-name)",
    services: [
      svc(D, 'headless', { clusterIP: 'None', externalIPs: ['203.0.113.1'] }),
      svc(D, 'labelled', { clusterIP: '10.96.0.1', labels: { 'service.kubernetes.io/headless': '' } }),
      {
        metadata: { namespace: D, name: 'ext' },
        spec: { type: 'ExternalName', externalIPs: ['203.0.113.2'], ports: [{ port: 80 }] },
      },
      svc(D, 'other-proxy', { clusterIP: '10.96.0.2', labels: { 'service.kubernetes.io/service-proxy-name': 'foo' } }),
      svc(D, 'empty-proxy', { clusterIP: '10.96.0.3', labels: { 'service.kubernetes.io/service-proxy-name': '' } }),
      svc(D, 'kept', { clusterIP: '10.96.0.4' }),
    ],
    slices: [slice(D, 'headless', [ep('10.244.1.1')])],
    want: ['ClusterIP 10.96.0.4:80/TCP default/kept: -> '],
  },
  {
    name: 'IPv6 disabled: no IPv6 frontends nor backends',
    services: [svc(D, 'ds', { type: 'NodePort', clusterIPs: ['10.96.0.10', 'fd00:96::10'], ports: [np(80, 30080)] })],
    slices: [
      slice(D, 'ds', [ep('10.244.1.9')], { name: 'v4' }),
      slice(D, 'ds', [ep('fd00:244::9')], { name: 'v6', addressType: 'IPv6' }),
    ],
    options: { enableIPv6: false },
    want: [
      'ClusterIP 10.96.0.10:80/TCP default/ds: -> 10.244.1.9:8080',
      'NodePort 192.168.1.10:30080/TCP default/ds: -> 10.244.1.9:8080',
    ],
  },

  // --- hostPort ------------------------------------------------------------------------------------------
  {
    name: "hostPort: every node address of the pod's families → the pod on its containerPort",
    pods: [pod(D, 'hp', { ports: [{ name: 'web', containerPort: 8080, hostPort: 8000 }] })],
    want: ['HostPort 192.168.1.10:8000/TCP default/hp:host-port:8000:web -> 10.244.1.7:8080@n1'],
  },
  {
    name: 'hostPort: dual-stack pod on a dual-stack node gets a frontend per family',
    pods: [
      pod(D, 'hp', {
        ips: ['10.244.1.7', 'fd00:244::7'],
        ports: [{ containerPort: 53, hostPort: 5353, protocol: 'UDP' }],
      }),
    ],
    want: [
      'HostPort 192.168.1.10:5353/UDP default/hp:host-port:5353: -> 10.244.1.7:53@n1',
      'HostPort [fd00:1::10]:5353/UDP default/hp:host-port:5353: -> [fd00:244::7]:53@n1',
    ],
  },
  {
    name: "hostPort: a specific hostIP is the only frontend; 0.0.0.0 means the node's IPv4 addresses",
    pods: [
      pod(D, 'a', { ports: [{ containerPort: 80, hostPort: 8001, hostIP: '192.168.1.99' }] }),
      pod(D, 'b', {
        ips: ['10.244.1.8', 'fd00:244::8'],
        ports: [{ containerPort: 80, hostPort: 8002, hostIP: '0.0.0.0' }],
      }),
    ],
    want: [
      'HostPort 192.168.1.10:8002/TCP default/b:host-port:8002: -> 10.244.1.8:80@n1',
      'HostPort 192.168.1.99:8001/TCP default/a:host-port:8001: -> 10.244.1.7:80@n1',
    ],
  },
  {
    name: 'hostPort: init (sidecar) containers count; ports without hostPort do not',
    pods: [pod(D, 'hp', { ports: [{ containerPort: 80 }], initPorts: [{ containerPort: 9000, hostPort: 9001 }] })],
    want: ['HostPort 192.168.1.10:9001/TCP default/hp:host-port:9001: -> 10.244.1.7:9000@n1'],
  },
  {
    name: 'hostPort skipped: other node, not Running, deleting, hostNetwork, in the NodePort range, loopback hostIP',
    pods: [
      pod(D, 'other', { node: 'n2', ports: [{ containerPort: 80, hostPort: 8001 }] }),
      pod(D, 'pending', { phase: 'Pending', ports: [{ containerPort: 80, hostPort: 8002 }] }),
      pod(D, 'done', { phase: 'Succeeded', ports: [{ containerPort: 80, hostPort: 8003 }] }),
      pod(D, 'deleting', { deleting: true, ports: [{ containerPort: 80, hostPort: 8004 }] }),
      pod(D, 'hostnet', { hostNetwork: true, ports: [{ containerPort: 8005, hostPort: 8005 }] }),
      pod(D, 'inrange', { ports: [{ containerPort: 80, hostPort: 30500 }] }),
      pod(D, 'loop', { ports: [{ containerPort: 80, hostPort: 8006, hostIP: '127.0.0.1' }] }),
    ],
    want: [],
  },
  {
    name: 'hostPort off (enableHostPort false): none',
    pods: [pod(D, 'hp', { ports: [{ containerPort: 80, hostPort: 8000 }] })],
    options: { enableHostPort: false },
    want: [],
  },

  // --- one frontend, two claimants ----------------------------------------------------------------------------
  {
    name: 'two Services on one externalIP:port: the older keeps it',
    services: [
      svc(D, 'young', { clusterIP: '10.96.0.2', externalIPs: ['203.0.113.7'], created: '2026-02-01T00:00:00Z' }),
      svc(D, 'old', { clusterIP: '10.96.0.1', externalIPs: ['203.0.113.7'], created: '2026-01-01T00:00:00Z' }),
    ],
    want: [
      'ClusterIP 10.96.0.1:80/TCP default/old: -> ',
      'ClusterIP 10.96.0.2:80/TCP default/young: -> ',
      'ExternalIP 203.0.113.7:80/TCP default/old: -> ',
    ],
  },
  {
    name: "a hostPort on a Service's address and port loses to the Service",
    services: [svc(D, 's', { clusterIP: '10.96.0.1', externalIPs: ['192.168.1.10'], ports: [8000] })],
    pods: [pod(D, 'hp', { ports: [{ containerPort: 80, hostPort: 8000 }] })],
    want: ['ClusterIP 10.96.0.1:8000/TCP default/s: -> ', 'ExternalIP 192.168.1.10:8000/TCP default/s: -> '],
  },
  {
    name: 'one Service naming an address as LB IP and externalIP: the LoadBalancer frontend is kept',
    services: [
      svc(D, 's', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.1',
        ingress: [{ ip: '172.20.0.1' }],
        externalIPs: ['172.20.0.1'],
      }),
    ],
    want: ['ClusterIP 10.96.0.1:80/TCP default/s: -> ', 'LoadBalancer 172.20.0.1:80/TCP default/s: -> '],
  },
];

for (const c of cases) {
  test(`service table: ${c.name}`, () => {
    const got = serviceTable({
      services: c.services ?? [],
      endpointSlices: c.slices ?? [],
      pods: c.pods ?? [],
      node: c.node ?? NODE,
      ...(c.options ? { options: c.options } : {}),
    });
    assert.deepEqual(got.map(render), c.want);
  });
}

test('service table: the output does not depend on the order of the inputs', () => {
  for (const c of cases) {
    const base = {
      services: c.services ?? [],
      endpointSlices: c.slices ?? [],
      pods: c.pods ?? [],
      node: c.node ?? NODE,
      ...(c.options ? { options: c.options } : {}),
    };
    const want = buildServiceTable(base);
    for (let seed = 1; seed <= 5; seed++) {
      const got = buildServiceTable({
        ...base,
        services: shuffled(base.services, seed),
        endpointSlices: shuffled(base.endpointSlices, seed * 7),
        pods: shuffled(base.pods, seed * 13),
      });
      assert.deepEqual(got, want, `${c.name} (seed ${seed})`);
    }
  }
});

test('service table: a backend carries its pod, zone and node; a pod ref defaults to the slice namespace', () => {
  const got = serviceTable({
    services: [svc('shop', 'cart', { clusterIP: '10.96.0.10', affinity: 'ClientIP', affinityTimeout: 30 })],
    endpointSlices: [
      slice('shop', 'cart', [
        ep('10.244.1.1', { node: 'n1', zone: 'z1', pod: 'cart-1' }),
        ep('10.244.1.2', { pod: { namespace: 'elsewhere', name: 'cart-2' } }),
      ]),
    ],
    node: NODE,
  });
  assert.deepEqual(got, [
    {
      service: { namespace: 'shop', name: 'cart' },
      portName: '',
      frontend: { address: '10.96.0.10', port: 80, protocol: 'TCP', type: 'ClusterIP', scope: 'external' },
      backends: [
        {
          address: '10.244.1.1',
          port: 8080,
          protocol: 'TCP',
          state: 'active',
          nodeName: 'n1',
          zone: 'z1',
          pod: { namespace: 'shop', name: 'cart-1' },
        },
        {
          address: '10.244.1.2',
          port: 8080,
          protocol: 'TCP',
          state: 'active',
          pod: { namespace: 'elsewhere', name: 'cart-2' },
        },
      ],
      sessionAffinityTimeoutSec: 30,
      sourceRanges: [],
      externalTrafficLocal: false,
      internalTrafficLocal: false,
    },
  ]);
});

test('service table: conflicts name the kept and the dropped claimant', () => {
  const { conflicts } = buildServiceTable({
    services: [
      svc(D, 'young', { clusterIP: '10.96.0.2', externalIPs: ['203.0.113.7'], created: '2026-02-01T00:00:00Z' }),
      svc(D, 'old', { clusterIP: '10.96.0.1', externalIPs: ['203.0.113.7'], created: '2026-01-01T00:00:00Z' }),
    ],
    endpointSlices: [],
    pods: [pod(D, 'hp', { ports: [{ containerPort: 80, hostPort: 80, hostIP: '203.0.113.7' }] })],
    node: NODE,
  });
  assert.deepEqual(conflicts, [
    {
      frontend: { address: '203.0.113.7', port: 80, protocol: 'TCP', type: 'HostPort', scope: 'external' },
      kept: { namespace: D, name: 'old' },
      dropped: { namespace: D, name: 'hp:host-port:80', type: 'HostPort' },
    },
    {
      frontend: { address: '203.0.113.7', port: 80, protocol: 'TCP', type: 'ExternalIP', scope: 'external' },
      kept: { namespace: D, name: 'old' },
      dropped: { namespace: D, name: 'young', type: 'ExternalIP' },
    },
  ]);
});

test('service table: entries share no objects with each other (safe to mutate downstream)', () => {
  const input = {
    services: [
      svc(D, 'e', {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        families: ['IPv4'],
        etp: 'Local',
        ports: [np(80, 30080)],
      }),
    ],
    endpointSlices: [slice(D, 'e', [ep('10.244.1.5', { node: 'n1', pod: 'p' })])],
    node: NODE,
  };
  const got = serviceTable(input);
  assert.equal(got.length, 3);
  const be = got[0]?.backends[0];
  assert.ok(be?.pod);
  be.pod.name = 'changed';
  be.state = 'maintenance';
  assert.ok(got.slice(1).every((e) => e.backends[0]?.pod?.name === 'p' && e.backends[0]?.state === 'active'));
  assert.deepEqual(
    serviceTable(input).map((e) => e.backends[0]?.pod?.name),
    ['p', 'p', 'p'],
  );
});
