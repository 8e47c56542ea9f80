// Datapath costs on this kernel, with 10, 1,000, 10,000 and 100,000 policy entries:
//  1. per-packet decision time of bpf_lxc (BPF_PROG_TEST_RUN, kernel-measured, averaged over
//     `repeat` runs) for a new flow that the policy has to judge;
//  2. real TCP connections per second between two network namespaces through a veth, filtered
//     by bpf_lxc with that many entries, side by side with an iptables ruleset of the same size
//     (conntrack ESTABLISHED first, then one ACCEPT per entry, the matching one last) — the
//     classic per-packet linear walk that eBPF's hash/LPM lookups replace;
//  3. map write rates through the addon (one syscall per entry vs batched).
// Needs root; prints tables. Only addresses inside namespaces it creates are used.
import { rmSync, writeFileSync } from 'node:fs';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LxcDatapath } from '../src/datapath/loader.ts';
import { BpfMap } from '../src/datapath/bpf-map.ts';
import { policyEntryFor, u32Codec, type Codec, type PolicyEntry, type PolicyKey } from '../src/datapath/codecs.ts';
import { EndpointFlags, EnforcementMode, IpProto, MapType } from '../src/datapath/constants.ts';
import { syncMap } from '../src/datapath/map-sync.ts';
import * as pk from '../test/datapath/packets.ts';
import { createPod, deletePod, runInPod, startServer, subnetBase, type Pod } from '../test/datapath/netns.ts';

if (process.getuid?.() !== 0) {
  console.log('datapath bench skipped: needs root');
  process.exit(0);
}

const RULE_COUNTS = [10, 1_000, 10_000, 100_000];
const CONNECT_SECONDS = Number(process.env.BENCH_CONNECT_SECONDS ?? 3);
const PEER_ID = 2000,
  POD_ID = 1000;

function table(title: string, head: string[], rows: string[][]): void {
  const all = [head, ...rows];
  const w = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  console.log(`\n${title}`);
  for (const r of all) console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
}

/** `n` ingress entries: n - 1 for identities that never send, then the one that allows PEER. */
function policyOf(n: number, port: number): Array<[PolicyKey, PolicyEntry]> {
  const out: Array<[PolicyKey, PolicyEntry]> = [];
  for (let i = 0; i < n - 1; i++) {
    const key: PolicyKey = {
      identity: 100_000 + i,
      direction: 'ingress',
      protocol: IpProto.TCP,
      port,
      portPrefixLen: 16,
    };
    out.push([key, policyEntryFor(key)]);
  }
  const key: PolicyKey = { identity: PEER_ID, direction: 'ingress', protocol: IpProto.TCP, port, portPrefixLen: 16 };
  out.push([key, policyEntryFor(key)]);
  return out;
}

/** Completed TCP connections per second from `from` to host:port (4 in flight). */
function connectRate(from: Pod, host: string, port: number, seconds: number): Promise<number> {
  const script = `
    const net = require('node:net');
    const end = Date.now() + ${seconds * 1000};
    let ok = 0, running = 0;
    function one() {
      if (Date.now() > end) { if (--running === 0) { console.log(ok); process.exit(0); } return; }
      const s = net.connect({ host: ${JSON.stringify(host)}, port: ${port} });
      s.setTimeout(1000, () => s.destroy());
      s.on('data', () => { ok++; s.destroy(); });
      s.on('close', one);
      s.on('error', () => {});
    }
    for (let i = 0; i < 4; i++) { running++; one(); }`;
  return runInPod(from, script).then((out) => Number(out) / seconds);
}

/** A chain of n rules on the server's veth, as iptables-restore input (one syscall batch). */
function iptablesRules(chain: string, server: Pod, client: Pod, n: number, port: number): string {
  const lines = [
    '*filter',
    `:${chain} - [0:0]`,
    `-A FORWARD -o ${server.hostIf} -j ${chain}`,
    `-A ${chain} -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT`,
  ];
  for (let i = 0; i < n - 1; i++) {
    lines.push(`-A ${chain} -s 198.18.${(i >> 8) & 0xff}.${i & 0xff}/32 -p tcp --dport ${port} -j ACCEPT`);
  }
  lines.push(`-A ${chain} -s ${client.ip}/32 -p tcp --dport ${port} -j ACCEPT`, `-A ${chain} -j DROP`, 'COMMIT', '');
  return lines.join('\n');
}

function iptablesClear(chain: string, server: Pod): void {
  spawnSync('iptables', ['-D', 'FORWARD', '-o', server.hostIf, '-j', chain], { stdio: 'ignore' });
  spawnSync('iptables', ['-F', chain], { stdio: 'ignore' });
  spawnSync('iptables', ['-X', chain], { stdio: 'ignore' });
}

const pinRoot = `/sys/fs/bpf/cilium-ts-bench-${process.pid}`;
const dp = LxcDatapath.load({ pinRoot });
const pods: Pod[] = [];
const chain = `CTSBENCH${process.pid % 100000}`;
let server: Pod | undefined;
let serverProc: ChildProcess | undefined;
try {
  // --- 1. per-packet decision time by rule count -----------------------------------------------
  const POD = '10.200.0.10',
    PEER = '10.200.0.20';
  dp.maps.ipcache.update(`${POD}/32`, { identity: POD_ID, tunnelEndpoint: null, flags: 0 });
  dp.maps.ipcache.update(`${PEER}/32`, { identity: PEER_ID, tunnelEndpoint: null, flags: 0 });
  const ns = (data: Buffer, repeat = 200_000): number =>
    dp.addon.progTestRun(dp.progs.toContainer, data, { repeat }).duration;
  dp.maps.endpoints.delete(1);
  const base = ns(pk.tcp4(PEER, POD, 40000, 80));
  dp.maps.endpoints.update(1, {
    epId: 1,
    identity: POD_ID,
    flags: EndpointFlags.ENFORCE_INGRESS,
    mode: EnforcementMode.DEFAULT,
  });
  const perPacket: string[][] = [['not an endpoint (lookup miss, pass)', '-', `${base}`, '-']];
  let first = 0;
  for (const n of RULE_COUNTS) {
    const t = process.hrtime.bigint();
    dp.replaceEndpointPolicy(1, policyOf(n, 80));
    const loadMs = Number(process.hrtime.bigint() - t) / 1e6;
    // A new flow on a port the policy does not allow: the full policy walk, an event, metrics.
    const deny = ns(pk.tcp4(PEER, POD, 40002, 81));
    first ||= deny;
    perPacket.push([
      `new flow judged by policy, ${n.toLocaleString('en')} entries`,
      loadMs.toFixed(0),
      `${deny}`,
      `${(deny / first).toFixed(2)}x`,
    ]);
  }
  table(
    'Per-packet decision time (BPF_PROG_TEST_RUN, 200,000 repeats)',
    ['case', 'policy write ms', 'ns/packet', 'vs 10 entries'],
    perPacket,
  );

  // --- 2. real TCP connection rate, eBPF vs iptables -------------------------------------------
  const subnet = subnetBase();
  const client = createPod('bc', subnet);
  pods.push(client);
  server = createPod('bs', subnet + 1);
  pods.push(server);
  serverProc = await startServer(server, [8080]);
  const PORT = 8080;
  dp.maps.ipcache.update(`${client.ip}/32`, { identity: PEER_ID, tunnelEndpoint: null, flags: 0 });
  dp.maps.ipcache.update(`${server.ip}/32`, { identity: POD_ID, tunnelEndpoint: null, flags: 0 });
  const unfiltered = await connectRate(client, server.ip, PORT, CONNECT_SECONDS);
  const rates: string[][] = [];
  for (const n of RULE_COUNTS) {
    dp.maps.endpoints.update(server.hostIfindex, {
      epId: 2,
      identity: POD_ID,
      flags: EndpointFlags.ENFORCE_INGRESS,
      mode: EnforcementMode.DEFAULT,
    });
    dp.replaceEndpointPolicy(2, policyOf(n, PORT));
    dp.attach(client.hostIfindex);
    dp.attach(server.hostIfindex);
    const ebpf = await connectRate(client, server.ip, PORT, CONNECT_SECONDS);
    dp.detach(client.hostIfindex);
    dp.detach(server.hostIfindex);

    const file = join(tmpdir(), `cilium-ts-bench-${process.pid}.rules`);
    writeFileSync(file, iptablesRules(chain, server, client, n, PORT));
    const t = process.hrtime.bigint();
    execFileSync('iptables-restore', ['--noflush', file]);
    const loadMs = Number(process.hrtime.bigint() - t) / 1e6;
    rmSync(file);
    let ipt: number;
    try {
      ipt = await connectRate(client, server.ip, PORT, CONNECT_SECONDS);
    } finally {
      iptablesClear(chain, server);
    }
    rates.push([
      `${n.toLocaleString('en')} rules`,
      ebpf.toFixed(0),
      ipt.toFixed(0),
      `${(ebpf / ipt).toFixed(2)}x`,
      loadMs.toFixed(0),
    ]);
  }
  table(
    `TCP connections/s through a veth (${CONNECT_SECONDS} s each, 4 in flight; unfiltered: ${unfiltered.toFixed(0)} conn/s)`,
    ['rules', 'eBPF conn/s', 'iptables conn/s', 'eBPF/iptables', 'iptables-restore ms'],
    rates,
  );

  // --- 3. map writes: 20k hash entries, one syscall each vs one batch ---------------------------
  const n = 20_000;
  const u64: Codec<bigint> = {
    layout: { cName: 'u64', size: 8, fields: [] },
    encode: (v) => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b;
    },
    decode: (b) => b.readBigUInt64LE(0),
  };
  const mk = () =>
    new BpfMap(
      dp.addon,
      dp.addon.mapCreate({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: n }),
      'h',
      u32Codec,
      u64,
    );
  const single = mk(),
    batched = mk();
  let t = process.hrtime.bigint();
  for (let i = 0; i < n; i++) single.update(i, BigInt(i));
  const singleNs = Number(process.hrtime.bigint() - t) / n;
  t = process.hrtime.bigint();
  syncMap(
    batched,
    Array.from({ length: n }, (_, i) => [i, BigInt(i)] as const),
  );
  const batchNs = Number(process.hrtime.bigint() - t) / n;
  t = process.hrtime.bigint();
  const r = syncMap(
    batched,
    Array.from({ length: n }, (_, i) => [i, BigInt(i)] as const),
  );
  const noopNs = Number(process.hrtime.bigint() - t) / n;
  table(
    `Map writes (${n.toLocaleString('en')} hash entries)`,
    ['how', 'ns/entry', 'vs one call each'],
    [
      ['one bpf() call per entry', singleNs.toFixed(0), '1.00x'],
      ['syncMap, batched', batchNs.toFixed(0), `${(batchNs / singleNs).toFixed(2)}x`],
      [`syncMap, nothing to change (${r.unchanged})`, noopNs.toFixed(0), `${(noopNs / singleNs).toFixed(2)}x`],
    ],
  );
  dp.addon.closeFd(single.fd);
  dp.addon.closeFd(batched.fd);
} finally {
  serverProc?.kill();
  if (server) iptablesClear(chain, server);
  for (const p of pods) deletePod(p);
  dp.close();
  rmSync(pinRoot, { recursive: true, force: true });
}
