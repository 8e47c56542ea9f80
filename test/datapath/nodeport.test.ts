// North-south services in bpf_host (cil_from_netdev) and the reply hook in bpf_lxc, driven with
// BPF_PROG_TEST_RUN and hand-built frames (test_run gives skb->ifindex = 1, so the interface the
// requests "came in on" is 1, and so is the host veth of the backend registered as local).
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { LxcDatapath } from '../../src/datapath/loader.ts';
import { NodePortDatapath } from '../../src/datapath/nodeport.ts';
import { EnforcementMode, TcAction } from '../../src/datapath/constants.ts';
import { LbMaps, type LbBackend, type LbService } from '../../src/datapath/lb.ts';
import { syncMap } from '../../src/datapath/map-sync.ts';
import { ipToBytes } from '../../src/datapath/ip.ts';
import type { Frontend } from '../../src/services/types.ts';
import { requireDatapath } from './env.ts';
import * as pk from './packets.ts';

requireDatapath();

const NODE = '192.168.50.10',
  LBIP = '203.0.113.10',
  EXTIP = '198.51.100.20',
  CLUSTERIP = '10.96.0.50',
  CLIENT = '192.0.2.7',
  DENIED = '198.18.0.9';
const B1 = '10.200.0.21',
  B2 = '10.200.0.22',
  B3 = '10.200.0.23',
  REMOTE = '10.201.0.30';
const NODEPORT = 30080,
  LO = 1,
  M = 251;
const POD_MAC = '02:00:00:00:01:01',
  VETH_MAC = '02:00:00:00:01:02';
// packets.ts frames go from MAC_A (the client's next hop) to MAC_B (the node's interface)
const CLIENT_MAC = '02:00:00:00:00:0a',
  IF_MAC = '02:00:00:00:00:0b';

// --- checksums --------------------------------------------------------------------------------

function sum16(buf: Buffer, sum = 0): number {
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  return sum;
}
const fold = (sum: number): number => {
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
};
/** IPv4 TCP/UDP only: [pseudo-header, L4, checksum offset in L4]. */
function l4Of(frame: Buffer): [Buffer, Buffer, number] {
  const l3 = frame.subarray(14);
  const hl = (l3[0]! & 0xf) * 4;
  const l4 = l3.subarray(hl, l3.readUInt16BE(2));
  const pseudo = Buffer.alloc(12);
  l3.copy(pseudo, 0, 12, 20);
  pseudo[9] = l3[9]!;
  pseudo.writeUInt16BE(l4.length, 10);
  return [pseudo, l4, l3[9] === 6 ? 16 : 6];
}
function withL4Csum(frame: Buffer): Buffer {
  const out = Buffer.from(frame);
  const [pseudo, l4, at] = l4Of(out);
  l4.writeUInt16BE(0, at);
  l4.writeUInt16BE(~fold(sum16(l4, sum16(pseudo))) & 0xffff, at);
  return out;
}
const l4Residue = (f: Buffer): number => {
  const [pseudo, l4] = l4Of(f);
  return ~fold(sum16(l4, sum16(pseudo))) & 0xffff;
};
const ipResidue = (f: Buffer): number => pk.ipv4Checksum(f.subarray(14, 34));

const ip4 = (b: Buffer, off: number): string => [...b.subarray(off, off + 4)].join('.');
const dst4 = (f: Buffer) => `${ip4(f, 30)}:${f.readUInt16BE(36)}`;
const src4 = (f: Buffer) => `${ip4(f, 26)}:${f.readUInt16BE(34)}`;
const macs = (f: Buffer) => ({
  dst: [...f.subarray(0, 6)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
  src: [...f.subarray(6, 12)].map((x) => x.toString(16).padStart(2, '0')).join(':'),
});

// --- the Maglev pick, as bpf_host computes it ----------------------------------------------------

const rol = (v: number, s: number): number => ((v << s) | (v >>> (32 - s))) >>> 0;
function jhash3(a: number, b: number, c: number, init: number): number {
  const iv = (0xdeadbeef + 12 + init) >>> 0;
  a = (a + iv) >>> 0;
  b = (b + iv) >>> 0;
  c = (c + iv) >>> 0;
  c = ((c ^ b) - rol(b, 14)) >>> 0;
  a = ((a ^ c) - rol(c, 11)) >>> 0;
  b = ((b ^ a) - rol(a, 25)) >>> 0;
  c = ((c ^ b) - rol(b, 16)) >>> 0;
  a = ((a ^ c) - rol(c, 4)) >>> 0;
  b = ((b ^ a) - rol(a, 14)) >>> 0;
  c = ((c ^ b) - rol(b, 24)) >>> 0;
  return c;
}
/** The flow hash of a TCP tuple: members are the raw network-order words a little-endian CPU loads. */
function flowHash(src: string, dst: string, sport: number, dport: number): number {
  const word = (a: string) => ipToBytes(a).readUInt32LE(0);
  const be16 = (p: number) => ((p & 0xff) << 8) | (p >> 8);
  return jhash3(word(src), word(dst), ((be16(sport) << 16) | be16(dport)) >>> 0, 6);
}

// --- services ------------------------------------------------------------------------------------

const be = (id: number, address: string): LbBackend => ({ id, address, port: 8080, protocol: 'TCP', state: 'active' });
function svc(
  id: number,
  type: Frontend['type'],
  address: string,
  backends: LbBackend[],
  extra: Partial<LbService> = {},
): LbService {
  const port = type === 'NodePort' ? NODEPORT : 80;
  return {
    id,
    frontend: { address, port, protocol: 'TCP', type, scope: 'external' },
    backends,
    sourceRanges: [],
    ...extra,
  };
}

describe('north-south services in bpf_host', () => {
  const pinRoot = `/sys/fs/bpf/cilium-ts-test-nodeport-${process.pid}`;
  let dp: LxcDatapath;
  let np: NodePortDatapath;
  let lb: LbMaps;
  let sport = 40000;

  const fromNetdev = (f: Buffer) => dp.addon.progTestRun(np.progs.fromNetdev, f);
  const fromContainer = (f: Buffer) => dp.addon.progTestRun(dp.progs.fromContainer, f);
  const syn = (dst: string, dport: number, from = CLIENT, port = sport++) =>
    withL4Csum(pk.tcp4(from, dst, port, dport));
  /** The backend's SYN-ACK to whatever the request arrived as. */
  const answer = (req: Buffer): Buffer =>
    withL4Csum(
      pk.tcp4(ip4(req, 30), ip4(req, 26), req.readUInt16BE(36), req.readUInt16BE(34), pk.TCP_SYN | pk.TCP_ACK),
    );

  before(() => {
    dp = LxcDatapath.load({ pinRoot, maglevTableSize: M });
    np = NodePortDatapath.load({ pinRoot, snatAddress: NODE, maglevTableSize: M });
    lb = new LbMaps(dp);
    // B1..B3 are pods of this node behind the host veth "1"; REMOTE is not.
    dp.maps.endpoints.update(LO, {
      epId: 7,
      identity: 5000,
      flags: 0,
      mode: EnforcementMode.DEFAULT,
      mac: POD_MAC,
      nodeMac: VETH_MAC,
    });
    for (const b of [B1, B2, B3]) dp.maps.endpointsByIp.update(b, LO);
  });

  after(() => {
    np?.close();
    dp?.close();
    rmSync(pinRoot, { recursive: true, force: true });
  });

  beforeEach(() => {
    syncMap(np.maps.nat, []);
    syncMap(dp.maps.conntrack, []);
  });

  it('sends a SYN to a NodePort to a local backend: client kept, checksums valid, L2 for the pod', () => {
    lb.sync([svc(1, 'NodePort', NODE, [be(11, B1), be(12, B2), be(13, B3)])]);
    const r = fromNetdev(syn(NODE, NODEPORT, CLIENT, 41000));
    assert.equal(r.retval, TcAction.REDIRECT);
    assert.match(dst4(r.data), /^10\.200\.0\.2[123]:8080$/);
    assert.equal(src4(r.data), `${CLIENT}:41000`, 'a local backend sees the client (no SNAT)');
    assert.equal(ipResidue(r.data), 0, 'IPv4 header checksum');
    assert.equal(l4Residue(r.data), 0, 'TCP checksum');
    assert.deepEqual(macs(r.data), { dst: POD_MAC, src: VETH_MAC });
    assert.equal(r.data[22], 63, 'TTL decremented');
  });

  it('picks the backend with Maglev: the table entry of the flow hash, the same for the same 5-tuple', () => {
    lb.sync([svc(1, 'NodePort', NODE, [be(11, B1), be(12, B2), be(13, B3)])]);
    const table = lb.maglevTableOf(4, 1);
    assert.equal(table.length, M);
    const addrOf = new Map([
      [11, B1],
      [12, B2],
      [13, B3],
    ]);
    const seen = new Set<string>();
    for (let port = 42000; port < 42040; port++) {
      const want = addrOf.get(table[flowHash(CLIENT, NODE, port, NODEPORT) % M]!);
      const first = dst4(fromNetdev(syn(NODE, NODEPORT, CLIENT, port)).data);
      syncMap(np.maps.nat, []); // forget the flow: the second pick is Maglev's again, not the NAT entry's
      const again = dst4(fromNetdev(syn(NODE, NODEPORT, CLIENT, port)).data);
      assert.equal(first, `${want}:8080`, `source port ${port}`);
      assert.equal(again, first);
      seen.add(first);
    }
    assert.equal(seen.size, 3, 'source ports spread over the backends');
  });

  it('reverse-translates the local backend reply in cil_from_container and sends it out where the SYN came in', () => {
    lb.sync([svc(1, 'NodePort', NODE, [be(11, B1)])]);
    const req = fromNetdev(syn(NODE, NODEPORT, CLIENT, 43000)).data;
    const r = fromContainer(answer(req));
    assert.equal(r.retval, TcAction.REDIRECT);
    assert.equal(src4(r.data), `${NODE}:${NODEPORT}`, 'the frontend is the source again');
    assert.equal(dst4(r.data), `${CLIENT}:43000`);
    assert.equal(ipResidue(r.data), 0);
    assert.equal(l4Residue(r.data), 0);
    assert.deepEqual(macs(r.data), { dst: CLIENT_MAC, src: IF_MAC });
  });

  it('SNATs a flow to a backend on another node and reverses its reply arriving at the interface', () => {
    lb.sync([svc(1, 'NodePort', NODE, [be(21, REMOTE)])]);
    const r = fromNetdev(syn(NODE, NODEPORT, CLIENT, 44000));
    assert.equal(dst4(r.data), `${REMOTE}:8080`);
    const [srcAddr, srcPort] = src4(r.data).split(':');
    assert.equal(srcAddr, NODE, 'the source is the node');
    assert.ok(Number(srcPort) >= 32768 && Number(srcPort) <= 65535, `SNAT port ${srcPort}`);
    assert.equal(l4Residue(r.data), 0);
    assert.equal(ipResidue(r.data), 0);
    const rev = np.maps.nat.entries().find(([k]) => k.dir === 'rev');
    assert.deepEqual(rev?.[0], {
      saddr: REMOTE,
      daddr: NODE,
      sport: 8080,
      dport: Number(srcPort),
      protocol: 6,
      dir: 'rev',
    });
    // The same flow keeps its port; the reply comes back through the node's interface.
    assert.equal(src4(fromNetdev(syn(NODE, NODEPORT, CLIENT, 44000)).data), src4(r.data));
    const reply = fromNetdev(answer(r.data));
    assert.equal(reply.retval, TcAction.REDIRECT);
    assert.equal(src4(reply.data), `${NODE}:${NODEPORT}`);
    assert.equal(dst4(reply.data), `${CLIENT}:44000`);
    assert.equal(l4Residue(reply.data), 0);
    assert.equal(ipResidue(reply.data), 0);
    // A local pod cannot pass a reply to the SNAT address off as its own (and vice versa).
    assert.equal(fromContainer(answer(r.data)).retval, TcAction.OK);
  });

  it('serves LoadBalancer IPs and externalIPs; a ClusterIP is not reachable from outside', () => {
    lb.sync([
      svc(1, 'LoadBalancer', LBIP, [be(11, B1)]),
      svc(2, 'ExternalIP', EXTIP, [be(12, B2)]),
      svc(3, 'ClusterIP', CLUSTERIP, [be(13, B3)]),
    ]);
    assert.equal(dst4(fromNetdev(syn(LBIP, 80)).data), `${B1}:8080`);
    assert.equal(dst4(fromNetdev(syn(EXTIP, 80)).data), `${B2}:8080`);
    const c = fromNetdev(syn(CLUSTERIP, 80));
    assert.equal(c.retval, TcAction.OK);
    assert.equal(dst4(c.data), `${CLUSTERIP}:80`);
  });

  it('drops clients outside loadBalancerSourceRanges and a frontend without backends', () => {
    lb.sync([
      svc(1, 'LoadBalancer', LBIP, [be(11, B1)], { sourceRanges: ['192.0.2.0/24'] }),
      svc(2, 'ExternalIP', EXTIP, []),
    ]);
    assert.equal(fromNetdev(syn(LBIP, 80, CLIENT)).retval, TcAction.REDIRECT);
    const denied = fromNetdev(syn(LBIP, 80, DENIED));
    assert.equal(denied.retval, TcAction.SHOT);
    assert.equal(fromNetdev(syn(EXTIP, 80)).retval, TcAction.SHOT);
  });

  it('externalTrafficPolicy=Local: only the local backends, the client address preserved, no SNAT entry', () => {
    lb.sync([svc(1, 'LoadBalancer', LBIP, [be(11, B1)], { externalTrafficLocal: true })]);
    const r = fromNetdev(syn(LBIP, 80, CLIENT, 45000));
    assert.equal(src4(r.data), `${CLIENT}:45000`);
    assert.equal(dst4(r.data), `${B1}:8080`);
    assert.ok(np.maps.nat.entries().every(([, v]) => v.flags === 0));
  });

  it('leaves other traffic to the stack untouched', () => {
    lb.sync([svc(1, 'NodePort', NODE, [be(11, B1)])]);
    const other = syn(NODE, 22);
    const r = fromNetdev(other);
    assert.equal(r.retval, TcAction.OK);
    assert.deepEqual(r.data, other);
  });
});
