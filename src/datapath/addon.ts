// Loads the native addon (addon/build/Release/cilium_ts_bpf.node, built by
// tools/setup/addon.sh) and describes its surface. Every function throws an Error with
// errno, code, syscall (and verifierLog on load failures) when the kernel says no.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface ProgramDesc {
  name: string;
  section: string;
  fd: number;
  type: number;
  /** the expected attach type libbpf took from the section name (enum bpf_attach_type) */
  attachType: number;
}
export interface MapDesc {
  name: string;
  fd: number;
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  pinPath?: string;
}
export interface MapInfo {
  type: number;
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags: number;
  name: string;
}
export interface BpfObjectOptions {
  pinRoot?: string;
  reuseMaps?: Record<string, number>;
}
export interface NativeBpfObject {
  load(): void;
  programs(): ProgramDesc[];
  maps(): MapDesc[];
  close(): void;
}
export interface NativeRingBuffer {
  consume(): number;
  close(): void;
  ref(): void;
  unref(): void;
}
export interface TestRunResult {
  retval: number;
  data: Buffer;
  duration: number;
  ctxOut?: Buffer;
}
export interface BatchLookup {
  keys: Buffer;
  values: Buffer;
  count: number;
  nextBatch: Buffer | null;
}
export interface CreateMapOptions {
  type: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  flags?: number;
  name?: string;
  innerMapFd?: number;
}
export interface TcLink {
  handle: number;
  priority: number;
  progId: number;
}

export interface Addon {
  BpfObject: new (path: string, opts?: BpfObjectOptions) => NativeBpfObject;
  RingBuffer: new (mapFd: number, onRecord: (record: Buffer) => void) => NativeRingBuffer;
  mapCreate(opts: CreateMapOptions): number;
  mapLookup(fd: number, key: Buffer): Buffer | null;
  mapUpdate(fd: number, key: Buffer, value: Buffer, flags?: number): void;
  mapDelete(fd: number, key: Buffer): boolean;
  mapGetNextKey(fd: number, key: Buffer | null): Buffer | null;
  mapLookupBatch(fd: number, maxCount: number, inBatch: Buffer | null): BatchLookup;
  mapUpdateBatch(fd: number, keys: Buffer, values: Buffer, flags?: number): number;
  mapDeleteBatch(fd: number, keys: Buffer): number;
  mapInfo(fd: number): MapInfo;
  objPin(fd: number, path: string): void;
  objGet(path: string): number;
  closeFd(fd: number): void;
  numPossibleCpus(): number;
  mapGetFdById(id: number): number;
  progTestRun(
    fd: number,
    data: Buffer,
    opts?: { repeat?: number; ctxIn?: Buffer; dataOutSize?: number },
  ): TestRunResult;
  progInfo(fd: number): { id: number; type: number; name: string; tag: string };
  tcAttach(
    ifindex: number,
    point: 'ingress' | 'egress',
    progFd: number,
    opts?: { handle?: number; priority?: number; replace?: boolean },
  ): TcLink;
  tcDetach(ifindex: number, point: 'ingress' | 'egress', handle: number, priority: number): boolean;
  tcQuery(ifindex: number, point: 'ingress' | 'egress', handle: number, priority: number): number | null;
  tcHookDestroy(ifindex: number): void;
  xdpAttach(ifindex: number, progFd: number, flags?: number): void;
  xdpDetach(ifindex: number, flags?: number): void;
  xdpQuery(ifindex: number, flags?: number): number;
  cgroupAttach(cgroupPath: string, progFd: number, attachType: number, flags?: number): void;
  cgroupDetach(cgroupPath: string, progFd: number, attachType: number): void;
  /** A cgroup link (multi-attach); detached when its last fd and pin are gone, or by linkDetach. */
  cgroupLinkCreate(cgroupPath: string, progFd: number, attachType: number): number;
  linkUpdate(linkFd: number, progFd: number): void;
  linkDetach(linkFd: number): void;
  /** Ids of the programs attached to the cgroup for one attach type (effective: with inherited ones). */
  cgroupQuery(cgroupPath: string, attachType: number, effective?: boolean): number[];
  progGetFdById(id: number): number;
  /** The calling thread's network namespace cookie (SO_NETNS_COOKIE), as bpf_get_netns_cookie sees it. */
  netnsCookie(): bigint;
}

/** Errors thrown by the addon carry these. */
export interface BpfError extends Error {
  errno?: number;
  code?: string;
  syscall?: string;
  verifierLog?: string;
}

export const addonPath = fileURLToPath(new URL('../../addon/build/Release/cilium_ts_bpf.node', import.meta.url));

let cached: Addon | undefined;

export function loadAddon(): Addon {
  if (cached) return cached;
  if (!existsSync(addonPath)) {
    throw new Error(`native addon not built: ${addonPath} is missing; run bash tools/setup/addon.sh`);
  }
  const require = createRequire(import.meta.url);
  cached = require(addonPath) as Addon;
  return cached;
}
