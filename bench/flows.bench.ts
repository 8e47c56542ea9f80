// Flows from kernel event to gRPC client: bpf_lxc emits real drop events (BPF_PROG_TEST_RUN in
// batches at a target rate), the agent side drains the ring buffer on the event loop, turns each
// event into a Hubble flow and pushes it into the ring; a follower in another process
// (GetFlows follow over gRPC) counts what it receives. Reported per target rate: delivered
// flows/s, lost, and the CPU of the producing process (datapath reader + flow building + gRPC
// server). Needs root.
import { rmSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { LxcDatapath } from '../src/datapath/loader.ts';
import { flowEventCodec } from '../src/datapath/codecs.ts';
import { EndpointFlags, EnforcementMode } from '../src/datapath/constants.ts';
import { FlowRing } from '../src/hubble/flow-ring.ts';
import { flowFromEvent } from '../src/hubble/flow.ts';
import { startHubbleServer } from '../src/hubble/server.ts';
import * as pk from '../test/datapath/packets.ts';

if (process.getuid?.() !== 0) {
  console.log('flows bench skipped: needs root');
  process.exit(0);
}

const SECONDS = Number(process.env.BENCH_FLOW_SECONDS ?? 4);
const RATES = [10_000, 50_000, 100_000];
const pinRoot = `/sys/fs/bpf/cilium-ts-bench-flows-${process.pid}`;
const dp = LxcDatapath.load({ pinRoot });
const ring = new FlowRing(4095);
const server = await startHubbleServer({ ring, nodeName: 'bench', listen: '127.0.0.1:0' });
const rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => {
  ring.push(flowFromEvent(flowEventCodec.decode(rec), { nodeName: 'bench' }));
});
const rows: string[][] = [];
try {
  dp.maps.ipcache.update('10.200.0.10/32', { identity: 1000, tunnelEndpoint: null, flags: 0 });
  dp.maps.ipcache.update('10.200.0.20/32', { identity: 2000, tunnelEndpoint: null, flags: 0 });
  dp.maps.endpoints.update(1, {
    epId: 1,
    identity: 1000,
    flags: EndpointFlags.ENFORCE_INGRESS,
    mode: EnforcementMode.DEFAULT,
  });
  const packet = pk.tcp4('10.200.0.20', '10.200.0.10', 40000, 80);
  for (const rate of RATES) {
    // The follower: another process, counting the flows it is sent.
    const script = `
      const { ObserverClient } = await import(${JSON.stringify(new URL('../src/hubble/client.ts', import.meta.url).href)});
      const c = new ObserverClient(${JSON.stringify(server.address)});
      let n = 0, lost = 0;
      process.stdin.on('data', () => { console.log(JSON.stringify({ n, lost })); process.exit(0); });
      console.log('ready');
      for await (const r of c.getFlows({ follow: true })) { if (r.flow) n++; else if (r.lost_events) lost += Number(r.lost_events.num_events_lost); }`;
    const child = spawn(
      process.execPath,
      ['--disable-warning=ExperimentalWarning', '--input-type=module', '-e', script],
      { stdio: ['pipe', 'pipe', 'inherit'] },
    );
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    while (!out.includes('ready')) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 300)); // the follow call is established
    const lostBefore = dp.eventsLost();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let sent = 0;
    // Batches every 10 ms; the event loop drains the ring buffer between them.
    while (performance.now() - t0 < SECONDS * 1000) {
      const due = Math.floor(((performance.now() - t0) / 1000) * rate);
      if (due > sent) {
        dp.addon.progTestRun(dp.progs.toContainer, packet, { repeat: due - sent });
        sent = due;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 500));
    rb.consume();
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    await new Promise((r) => setTimeout(r, 500));
    child.stdin.write('done\n');
    await new Promise((r) => child.on('close', r));
    const got = JSON.parse(out.split('\n').find((l) => l.startsWith('{')) ?? '{"n":0,"lost":0}') as {
      n: number;
      lost: number;
    };
    const kernelLost = dp.eventsLost() - lostBefore;
    rows.push([
      `${rate.toLocaleString('en')}/s`,
      sent.toLocaleString('en'),
      got.n.toLocaleString('en'),
      (got.n / elapsed).toFixed(0),
      String(kernelLost),
      String(got.lost),
      `${(((cpu.user + cpu.system) / 1e6 / elapsed) * 100).toFixed(0)}%`,
    ]);
  }
} finally {
  rb.close();
  await server.stop();
  dp.close();
  rmSync(pinRoot, { recursive: true, force: true });
}
const head = [
  'target',
  'events',
  'delivered',
  'flows/s at client',
  'lost in kernel',
  'lost to follower',
  'CPU (producer, 1 core = 100%)',
];
const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
console.log(`\nKernel event -> Hubble flow -> gRPC follower (${SECONDS} s per rate)`);
for (const r of [head, ...rows])
  console.log(r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join('  '));
