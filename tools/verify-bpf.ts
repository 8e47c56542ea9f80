// The verifier is part of the build: every program object in bpf/build is loaded into this
// kernel (maps pinned under a throwaway pin root) and the build fails, printing the verifier's
// log, when the kernel refuses one, or when objects disagree on a map they share by pinned name.
// Run by `make build` after the objects and the addon.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { loadAddon, type BpfError } from '../src/datapath/addon.ts';
import { ensureBpffs } from '../src/datapath/loader.ts';
import { repoRoot } from '../src/lib/paths.ts';

// Objects that only carry BTF for the layout test, never loaded by the agent.
const notPrograms = new Set(['btf_types.o']);

const addon = loadAddon();
ensureBpffs();
const dir = join(repoRoot, 'bpf', 'build');
const objects = readdirSync(dir).filter((n) => n.endsWith('.o') && !notPrograms.has(n));
let failed = 0;
for (const name of objects.sort()) {
  const pinRoot = mkdtempSync('/sys/fs/bpf/cilium-ts-verify-');
  const t = process.hrtime.bigint();
  const obj = new addon.BpfObject(join(dir, name), { pinRoot });
  try {
    obj.load();
    const programs = obj.programs().map((p) => p.name);
    const ms = Number(process.hrtime.bigint() - t) / 1e6;
    console.log(`verifier: ${name} accepted (${programs.join(', ')}) in ${ms} ms`);
  } catch (e) {
    failed++;
    const err = e as BpfError;
    const logTail = (err.verifierLog ?? '').split('\n').slice(-40).join('\n');
    console.error(`verifier: ${name} REJECTED: ${err.message}\n${logTail}`);
  } finally {
    obj.close();
    rmSync(pinRoot, { recursive: true, force: true });
  }
}

// The objects share maps by pinned name (bpf_sock.o reads the service maps bpf_lxc.o pins): loaded
// one after another under one pin root, each must accept the pins the others left (libbpf refuses
// a pinned map whose type, sizes or flags differ from the object's definition).
const sharedRoot = mkdtempSync('/sys/fs/bpf/cilium-ts-verify-shared-');
try {
  for (const name of objects.sort()) {
    const obj = new addon.BpfObject(join(dir, name), { pinRoot: sharedRoot });
    try {
      obj.load();
    } catch (e) {
      failed++;
      console.error(`verifier: ${name} does not share the pinned maps of the others: ${(e as BpfError).message}`);
    } finally {
      obj.close();
    }
  }
  if (!failed) console.log(`verifier: ${objects.join(', ')} share their pinned maps`);
} finally {
  rmSync(sharedRoot, { recursive: true, force: true });
}
process.exitCode = failed ? 1 : 0;
