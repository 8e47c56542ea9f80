// The native addon's entry points against the real kernel: maps (create, lookup, update
// flags, delete, iterate, batch, pin, open pinned, info, map of maps), errors with errno,
// syscall and verifier log, test_run, XDP and cgroup attach/detach, and syncMap.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, type Addon, type BpfError } from '../../src/datapath/addon.ts';
import { BpfMap } from '../../src/datapath/bpf-map.ts';
import { u32Codec, type Codec } from '../../src/datapath/codecs.ts';
import { MapType, UpdateFlags } from '../../src/datapath/constants.ts';
import { ensureBpffs, ifindexOf } from '../../src/datapath/loader.ts';
import { syncMap } from '../../src/datapath/map-sync.ts';
import { requireDatapath } from './env.ts';

requireDatapath();

const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
const BPF_CGROUP_INET_EGRESS = 1;
const XDP_FLAGS_SKB_MODE = 2;

function compile(src: string, outDir: string): string {
  const out = join(outDir, src.replace(/\.c$/, '.o'));
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

function u64Codec(): Codec<bigint> {
  return {
    layout: { cName: '__u64', size: 8, fields: [] },
    encode(v) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(v);
      return b;
    },
    decode(b) {
      return b.readBigUInt64LE(0);
    },
  };
}

function cgroup2Root(): string {
  for (const line of readFileSync('/proc/mounts', 'utf8').split('\n')) {
    const [, mnt, type] = line.split(' ');
    if (type === 'cgroup2' && mnt) return mnt;
  }
  throw new Error('no cgroup2 mount');
}

describe('addon', () => {
  let a: Addon;
  let tmp: string;
  const fds: number[] = [];
  const pinDir = `/sys/fs/bpf/cilium-ts-test-addon-${process.pid}`;
  const hash = (maxEntries = 64): number => {
    const fd = a.mapCreate({ type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries, name: 'cts_test_hash' });
    fds.push(fd);
    return fd;
  };

  before(() => {
    a = loadAddon();
    tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-addon-'));
    ensureBpffs();
    mkdirSync(pinDir, { recursive: true });
  });
  after(() => {
    for (const fd of fds) {
      try {
        a.closeFd(fd);
      } catch {
        /* closed by the test */
      }
    }
    rmSync(pinDir, { recursive: true, force: true });
    rmSync(tmp, { recursive: true, force: true });
  });

  it('creates a map and does lookup/update/delete with update flags', () => {
    const fd = hash();
    const k = u32Codec.encode(7),
      v = Buffer.from('abcdefgh');
    assert.equal(a.mapLookup(fd, k), null);
    a.mapUpdate(fd, k, v, UpdateFlags.NOEXIST);
    assert.deepEqual(a.mapLookup(fd, k), v);
    assert.throws(
      () => a.mapUpdate(fd, k, v, UpdateFlags.NOEXIST),
      (e: BpfError) => e.errno === 17 && e.code === 'EEXIST' && e.syscall === 'bpf_map_update_elem',
    );
    assert.throws(() => a.mapUpdate(fd, u32Codec.encode(8), v, UpdateFlags.EXIST), { code: 'ENOENT' });
    assert.equal(a.mapDelete(fd, k), true);
    assert.equal(a.mapDelete(fd, k), false);
  });

  it('refuses keys and values of the wrong size instead of letting the kernel overrun them', () => {
    const fd = hash();
    assert.throws(() => a.mapLookup(fd, Buffer.alloc(2)), RangeError);
    assert.throws(() => a.mapUpdate(fd, Buffer.alloc(4), Buffer.alloc(4)), RangeError);
    assert.throws(() => a.mapUpdateBatch(fd, Buffer.alloc(8), Buffer.alloc(8)), RangeError);
    assert.throws(() => a.mapLookup(fd, 'nope' as unknown as Buffer), TypeError);
    assert.throws(
      () => a.mapLookup(987654, Buffer.alloc(4)),
      (e: BpfError) => e.syscall === 'bpf_obj_get_info_by_fd' && (e.code === 'EBADF' || e.code === 'EBADFD'),
    );
  });

  it('iterates with getNextKey and with batch lookup; batch update and delete', () => {
    const fd = hash(1024);
    const n = 300;
    const keys = Buffer.concat(Array.from({ length: n }, (_, i) => u32Codec.encode(i)));
    const vals = Buffer.concat(
      Array.from({ length: n }, (_, i) => {
        const b = Buffer.alloc(8);
        b.writeBigUInt64LE(BigInt(i * 10));
        return b;
      }),
    );
    assert.equal(a.mapUpdateBatch(fd, keys, vals), n);
    let count = 0;
    for (let k = a.mapGetNextKey(fd, null); k; k = a.mapGetNextKey(fd, k)) count++;
    assert.equal(count, n);
    const m = new BpfMap(a, fd, 'h', u32Codec, u64Codec());
    const entries = m.entries();
    assert.equal(entries.length, n);
    assert.ok(entries.every(([k, v]) => v === BigInt(k * 10)));
    assert.equal(a.mapDeleteBatch(fd, keys.subarray(0, 100 * 4)), 100);
    assert.equal(m.entries().length, n - 100);
    // Deleting keys of which some are already gone still deletes the rest.
    m.deleteRaw([u32Codec.encode(0), u32Codec.encode(150), u32Codec.encode(151)]);
    assert.equal(m.entries().length, n - 102);
    const info = a.mapInfo(fd);
    assert.deepEqual(
      {
        type: info.type,
        keySize: info.keySize,
        valueSize: info.valueSize,
        maxEntries: info.maxEntries,
        name: info.name,
      },
      { type: MapType.HASH, keySize: 4, valueSize: 8, maxEntries: 1024, name: 'cts_test_hash' },
    );
  });

  it('falls back from batch to per-key calls on an LPM trie', () => {
    const fd = a.mapCreate({ type: MapType.LPM_TRIE, keySize: 8, valueSize: 4, maxEntries: 16, flags: 1 });
    fds.push(fd);
    const lpm: Codec<string> = {
      layout: { cName: 'lpm4', size: 8, fields: [] },
      encode(c) {
        const [ip = '', len = '32'] = c.split('/');
        const b = Buffer.alloc(8);
        b.writeUInt32LE(Number(len));
        Buffer.from(ip.split('.').map(Number)).copy(b, 4);
        return b;
      },
      decode(b) {
        return `${[...b.subarray(4)].join('.')}/${b.readUInt32LE(0)}`;
      },
    };
    const m = new BpfMap(a, fd, 'lpm', lpm, u32Codec);
    assert.deepEqual(
      syncMap(m, [
        ['10.0.0.0/8', 1],
        ['10.1.0.0/16', 2],
      ]),
      { added: 2, changed: 0, removed: 0, unchanged: 0 },
    );
    assert.deepEqual(new Set(m.entries().map(([k, v]) => `${k}=${v}`)), new Set(['10.0.0.0/8=1', '10.1.0.0/16=2']));
  });

  it('syncMap writes only the difference', () => {
    const fd = hash();
    const m = new BpfMap(a, fd, 'h', u32Codec, u64Codec());
    assert.deepEqual(
      syncMap(m, [
        [1, 1n],
        [2, 2n],
        [3, 3n],
      ]),
      { added: 3, changed: 0, removed: 0, unchanged: 0 },
    );
    assert.deepEqual(
      syncMap(m, [
        [1, 1n],
        [2, 20n],
        [4, 4n],
      ]),
      { added: 1, changed: 1, removed: 1, unchanged: 1 },
    );
    assert.deepEqual(
      syncMap(m, [
        [1, 1n],
        [2, 20n],
        [4, 4n],
      ]),
      { added: 0, changed: 0, removed: 0, unchanged: 3 },
    );
    assert.deepEqual(
      new Map(m.entries()),
      new Map([
        [1, 1n],
        [2, 20n],
        [4, 4n],
      ]),
    );
  });

  it('pins a map and opens it again by path', () => {
    const fd = hash();
    a.mapUpdate(fd, u32Codec.encode(1), Buffer.alloc(8, 1));
    const path = `${pinDir}/pinned`;
    a.objPin(fd, path);
    const fd2 = a.objGet(path);
    fds.push(fd2);
    assert.equal(a.mapInfo(fd2).id, a.mapInfo(fd).id);
    assert.deepEqual(a.mapLookup(fd2, u32Codec.encode(1)), Buffer.alloc(8, 1));
    assert.throws(() => a.objPin(fd, path), { code: 'EEXIST', syscall: 'bpf_obj_pin' });
    assert.throws(() => a.objGet(`${pinDir}/absent`), { code: 'ENOENT', syscall: 'bpf_obj_get' });
  });

  it('holds inner maps in a map of maps and swaps them', () => {
    const inner1 = hash(),
      inner2 = hash();
    const outer = a.mapCreate({
      type: MapType.HASH_OF_MAPS,
      keySize: 4,
      valueSize: 4,
      maxEntries: 8,
      innerMapFd: inner1,
    });
    fds.push(outer);
    a.mapUpdate(outer, u32Codec.encode(5), u32Codec.encode(inner1));
    const id1 = a.mapLookup(outer, u32Codec.encode(5))?.readUInt32LE(0);
    assert.equal(id1, a.mapInfo(inner1).id);
    a.mapUpdate(outer, u32Codec.encode(5), u32Codec.encode(inner2));
    assert.equal(a.mapLookup(outer, u32Codec.encode(5))?.readUInt32LE(0), a.mapInfo(inner2).id);
    const byId = a.mapGetFdById(a.mapInfo(inner2).id);
    fds.push(byId);
    assert.equal(a.mapInfo(byId).id, a.mapInfo(inner2).id);
  });

  it('reports the verifier log when a program is rejected', () => {
    const obj = new a.BpfObject(compile('bad_prog.c', tmp), { pinRoot: pinDir });
    try {
      assert.throws(
        () => obj.load(),
        (e: BpfError) => {
          assert.equal(e.syscall, 'bpf_object__load');
          assert.equal(typeof e.errno, 'number');
          assert.match(e.verifierLog ?? '', /invalid access to packet|R\d+ invalid mem access|BEGIN PROG LOAD LOG/);
          return true;
        },
      );
    } finally {
      obj.close();
    }
    assert.throws(() => new a.BpfObject(join(tmp, 'missing.o')), { code: 'ENOENT', syscall: 'bpf_object__open_file' });
  });

  it('runs programs with test_run (repeat, duration) and attaches XDP and cgroup programs', (t) => {
    const obj = new a.BpfObject(compile('attach_progs.c', tmp), { pinRoot: pinDir });
    const dummy = `ctsd${process.pid % 100000}`;
    const cg = join(cgroup2Root(), `cilium-ts-test-${process.pid}`);
    t.after(() => {
      try {
        execFileSync('ip', ['link', 'del', dummy], { stdio: 'ignore' });
      } catch {
        /* not created */
      }
      try {
        rmdirSync(cg);
      } catch {
        /* not created */
      }
      obj.close();
    });
    obj.load();
    const progs = new Map(obj.programs().map((p) => [p.name, p.fd]));
    const xdp = progs.get('xdp_pass')!,
      cgProg = progs.get('cg_pass')!;
    const r = a.progTestRun(xdp, Buffer.alloc(64), { repeat: 100 });
    assert.equal(r.retval, 2); // XDP_PASS
    assert.equal(r.data.length, 64);
    assert.ok(r.duration >= 0);
    assert.equal(a.progInfo(xdp).name, 'xdp_pass');

    execFileSync('ip', ['link', 'add', dummy, 'type', 'veth', 'peer', 'name', `${dummy}p`]);
    const ifindex = ifindexOf(dummy);
    a.xdpAttach(ifindex, xdp, XDP_FLAGS_SKB_MODE);
    assert.equal(a.xdpQuery(ifindex, XDP_FLAGS_SKB_MODE), a.progInfo(xdp).id);
    a.xdpDetach(ifindex, XDP_FLAGS_SKB_MODE);
    assert.equal(a.xdpQuery(ifindex, XDP_FLAGS_SKB_MODE), 0);

    mkdirSync(cg);
    a.cgroupAttach(cg, cgProg, BPF_CGROUP_INET_EGRESS);
    const shown = execFileSync('bpftool', ['-j', 'cgroup', 'show', cg], { encoding: 'utf8' });
    assert.ok((JSON.parse(shown) as Array<{ id: number }>).some((p) => p.id === a.progInfo(cgProg).id));
    a.cgroupDetach(cg, cgProg, BPF_CGROUP_INET_EGRESS);
    assert.throws(() => a.cgroupDetach(cg, cgProg, BPF_CGROUP_INET_EGRESS), { syscall: 'bpf_prog_detach2' });
  });
});
