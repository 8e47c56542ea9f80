// Calls every entry point of the native addon, including error paths, so valgrind can check
// it for invalid accesses and leaks. Not a node:test file; run through run.sh.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon } from '../../../src/datapath/addon.ts';
import { defaultObjectPath, ifindexOf } from '../../../src/datapath/loader.ts';
import * as pk from '../packets.ts';

const a = loadAddon();
const fixtures = fileURLToPath(new URL('../fixtures/', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-vg-'));
const pinRoot = `/sys/fs/bpf/cilium-ts-vg-${process.pid}`;
const veth = `ctsv${process.pid % 100000}`;
let cg = '';
const expectThrow = (f: () => unknown): void => {
  try {
    f();
  } catch {
    return;
  }
  throw new Error('expected a throw');
};

function compile(src: string): string {
  const out = join(tmp, src.replace(/\.c$/, '.o'));
  const arch = execFileSync('uname', ['-m'], { encoding: 'utf8' }).trim();
  execFileSync('clang', [
    '-O2',
    '-g',
    '-target',
    'bpf',
    `-I/usr/include/${arch}-linux-gnu`,
    '-c',
    join(fixtures, src),
    '-o',
    out,
  ]);
  return out;
}

async function main(): Promise<void> {
  mkdirSync(pinRoot, { recursive: true });
  // Objects: load, list, reuse of pinned maps by pin path and by fd, failure with verifier log.
  const obj = new a.BpfObject(defaultObjectPath, { pinRoot });
  obj.load();
  const maps = obj.maps(),
    progs = obj.programs();
  const fdOf = (n: string): number => maps.find((m) => m.name === n)!.fd;
  const obj2 = new a.BpfObject(defaultObjectPath, { pinRoot, reuseMaps: { cilium_lxc: fdOf('cilium_lxc') } });
  obj2.load();
  obj2.close();
  expectThrow(() => new a.BpfObject(defaultObjectPath, { reuseMaps: { no_such_map: 1 } }));
  const bad = new a.BpfObject(compile('bad_prog.c'), { pinRoot });
  expectThrow(() => bad.load());
  bad.close();
  expectThrow(() => bad.programs());
  expectThrow(() => new a.BpfObject('/nonexistent.o'));

  // Maps.
  const h = a.mapCreate({ type: 1, keySize: 4, valueSize: 8, maxEntries: 512, name: 'a_name_longer_than_fifteen' });
  const k = Buffer.alloc(4),
    v = Buffer.alloc(8, 7);
  a.mapUpdate(h, k, v, 0);
  a.mapLookup(h, k);
  a.mapLookup(h, Buffer.from([1, 0, 0, 0]));
  a.mapGetNextKey(h, null);
  a.mapGetNextKey(h, k);
  a.mapDelete(h, k);
  a.mapDelete(h, k);
  const keys = Buffer.alloc(4 * 300),
    vals = Buffer.alloc(8 * 300);
  for (let i = 0; i < 300; i++) keys.writeUInt32LE(i, i * 4);
  a.mapUpdateBatch(h, keys, vals, 0);
  let tok: Buffer | null = null;
  do {
    tok = a.mapLookupBatch(h, 64, tok).nextBatch;
  } while (tok);
  a.mapDeleteBatch(h, keys);
  expectThrow(() => a.mapLookup(h, Buffer.alloc(3)));
  expectThrow(() => a.mapUpdate(h, k, Buffer.alloc(3)));
  expectThrow(() => a.mapLookupBatch(h, 0, null));
  expectThrow(() => a.mapCreate({ type: 1, keySize: 0, valueSize: 0, maxEntries: 0 }));
  a.mapInfo(h);
  a.objPin(h, `${pinRoot}/vg_hash`);
  const h2 = a.objGet(`${pinRoot}/vg_hash`);
  a.mapGetFdById(a.mapInfo(h).id);
  expectThrow(() => a.objGet(`${pinRoot}/missing`));
  a.closeFd(h2);
  a.numPossibleCpus();
  a.mapLookup(fdOf('cilium_metrics'), Buffer.alloc(8)); // per-CPU value sizing

  // Programs: test_run with and without ctx, tc on a veth, XDP, cgroup.
  const from = progs.find((p) => p.name === 'cil_from_container')!.fd;
  a.mapUpdate(fdOf('cilium_lxc'), Buffer.from([1, 0, 0, 0]), Buffer.alloc(24, 0));
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 1, 2), { repeat: 10 });
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 1, 2), { ctxIn: Buffer.alloc(192) });
  expectThrow(() => a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 1, 2), { dataOutSize: 16 })); // ENOSPC
  expectThrow(() => a.progTestRun(from, Buffer.alloc(4)));
  a.progInfo(from);
  execFileSync('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', `${veth}p`]);
  const ifx = ifindexOf(veth);
  a.tcAttach(ifx, 'ingress', from, { handle: 1, priority: 1 });
  a.tcQuery(ifx, 'ingress', 1, 1);
  a.tcDetach(ifx, 'ingress', 1, 1);
  a.tcDetach(ifx, 'egress', 1, 1);
  a.tcHookDestroy(ifx);
  expectThrow(() => a.tcAttach(ifx, 'sideways' as 'ingress', from));
  const att = new a.BpfObject(compile('attach_progs.c'), { pinRoot });
  att.load();
  const xdp = att.programs().find((p) => p.name === 'xdp_pass')!.fd;
  const cgp = att.programs().find((p) => p.name === 'cg_pass')!.fd;
  a.xdpAttach(ifx, xdp, 2);
  a.xdpQuery(ifx, 2);
  a.xdpDetach(ifx, 2);
  const cgroot = readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup2')?.[1];
  if (cgroot) {
    cg = join(cgroot, `cilium-ts-vg-${process.pid}`);
    mkdirSync(cg);
    a.cgroupAttach(cg, cgp, 1);
    a.cgroupDetach(cg, cgp, 1);
    expectThrow(() => a.cgroupDetach(cg, cgp, 1));
  }
  expectThrow(() => a.cgroupAttach('/nonexistent', cgp, 1));
  att.close();

  // Ring buffer: synchronous consume, delivery through libuv, close from inside a callback.
  let got = 0;
  const rb = new a.RingBuffer(fdOf('cilium_events'), () => {
    got++;
  });
  a.mapUpdate(
    fdOf('cilium_lxc'),
    Buffer.from([1, 0, 0, 0]),
    Buffer.concat([Buffer.from([1, 0, 0, 0, 1, 0, 0, 0, 3, 1]), Buffer.alloc(14)]),
  );
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 3, 4));
  rb.consume();
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 5, 6));
  await new Promise((r) => setTimeout(r, 200));
  rb.close();
  rb.close();
  expectThrow(() => rb.consume());
  const rb2 = new a.RingBuffer(fdOf('cilium_events'), () => {
    rb2.close();
  });
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 7, 8));
  a.progTestRun(from, pk.tcp4('10.200.0.1', '10.200.0.2', 9, 10));
  await new Promise((r) => setTimeout(r, 200));
  expectThrow(() => new a.RingBuffer(h, () => {}));
  if (got < 2) throw new Error(`ring buffer delivered ${got} records`);

  obj.close();
  a.closeFd(h);
  console.log('exercise-addon: all entry points called');
}

try {
  await main();
  // Let V8 collect the wrapped native objects so their destructors run before exit and
  // valgrind sees them freed (objects alive at exit would be reported as lost).
  const gc = (globalThis as { gc?: () => void }).gc;
  for (let i = 0; i < 6 && gc; i++) {
    gc();
    await new Promise((r) => setTimeout(r, 50));
  }
} finally {
  try {
    execFileSync('ip', ['link', 'del', veth], { stdio: 'ignore' });
  } catch {
    /* not created */
  }
  if (cg)
    try {
      rmdirSync(cg);
    } catch {
      /* not created */
    }
  rmSync(pinRoot, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}
