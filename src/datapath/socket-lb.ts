// Socket-LB: bpf_sock.o's cgroup programs (connect, sendmsg, recvmsg, getpeername; IPv4 and IPv6)
// attached to one cgroup of cilium-ts's own, never the machine's root. The object shares the
// service maps with bpf_lxc by pinned name under the same pin root; its config map (host network
// namespace cookie, hostNamespaceOnly) is its own, unpinned, held by the attached programs.
//
// Each program is attached through a bpf link pinned at <pinRoot>/sock-lb/<cgroup>/<program>:
//   - the attachment outlives the agent (services keep answering across a restart, like the
//     pinned maps); attaching again swaps the programs in place (bpf_link_update), no gap;
//   - detachSocketLb() (lab down, agent stop with the lab) detaches every pinned link at once;
//   - a crashed lab leaves its pins behind: the next `lab up` finds them with detachSocketLb()
//     before attaching. Removing the pin root (rm -rf) detaches them too: a link lives only while
//     a pin or an fd holds it. A cgroup that was removed takes its attachments with it.
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAddon, type Addon, type NativeBpfObject } from './addon.ts';
import { BpfMap } from './bpf-map.ts';
import {
  lb4ReverseSkCodec,
  lb4ReverseSkKeyCodec,
  lb6ReverseSkCodec,
  lb6ReverseSkKeyCodec,
  sockLbConfigCodec,
  SOCK_LB_HOST_NS_ONLY,
  u32Codec,
  type LbReverseSk,
  type LbReverseSkKey,
} from './codecs.ts';
import { DEFAULT_PIN_ROOT, MapName } from './constants.ts';
import { ensureBpffs } from './loader.ts';
import { sizedMaps } from './map-sizes.ts';

export const defaultSockObjectPath = fileURLToPath(new URL('../../bpf/build/bpf_sock.o', import.meta.url));

/** enum bpf_attach_type of the socket-LB hooks (uapi/linux/bpf.h). */
export const SockAttachType = {
  INET4_CONNECT: 10,
  INET6_CONNECT: 11,
  UDP4_SENDMSG: 14,
  UDP6_SENDMSG: 15,
  UDP4_RECVMSG: 19,
  UDP6_RECVMSG: 20,
  INET4_GETPEERNAME: 29,
  INET6_GETPEERNAME: 30,
} as const;

/** The programs of bpf_sock.o, by name, with the hook each attaches to. */
export const SockPrograms: Readonly<Record<string, number>> = {
  cil_sock4_connect: SockAttachType.INET4_CONNECT,
  cil_sock4_sendmsg: SockAttachType.UDP4_SENDMSG,
  cil_sock4_recvmsg: SockAttachType.UDP4_RECVMSG,
  cil_sock4_getpeername: SockAttachType.INET4_GETPEERNAME,
  cil_sock6_connect: SockAttachType.INET6_CONNECT,
  cil_sock6_sendmsg: SockAttachType.UDP6_SENDMSG,
  cil_sock6_recvmsg: SockAttachType.UDP6_RECVMSG,
  cil_sock6_getpeername: SockAttachType.INET6_GETPEERNAME,
};

export interface SocketLbOptions {
  /** A cgroup2 directory of cilium-ts's own (the lab's LAB_CGROUP); its descendants are covered too. */
  cgroupPath: string;
  /** Cilium's socketLB.hostNamespaceOnly: sockets in other network namespaces (pods) are left alone. */
  hostNamespaceOnly?: boolean;
  /** The host network namespace's cookie; default: the calling process's own namespace. */
  hostNetnsCookie?: bigint;
  pinRoot?: string;
  objectPath?: string;
}

export interface SocketLbHandle {
  readonly cgroupPath: string;
  readonly pinDir: string;
  /** program name -> kernel program id, as attached */
  readonly programIds: Readonly<Record<string, number>>;
  /** {socket cookie, backend} -> frontend, for inspection */
  readonly reverseSk: {
    v4: BpfMap<LbReverseSkKey, LbReverseSk>;
    v6: BpfMap<LbReverseSkKey, LbReverseSk>;
  };
  /** Detaches every program from the cgroup and removes the pins. */
  detach(): void;
  /** Closes our fds; the programs stay attached (their links are pinned). */
  close(): void;
}

/** A cgroup path as one bpffs file name. */
const pinName = (cgroupPath: string): string => encodeURIComponent(cgroupPath.replace(/\/+$/, ''));

function sockLbDir(pinRoot: string): string {
  return join(pinRoot, 'sock-lb');
}

/** Where the links of one cgroup are pinned. */
export function socketLbPinDir(cgroupPath: string, pinRoot = DEFAULT_PIN_ROOT): string {
  return join(sockLbDir(pinRoot), pinName(cgroupPath));
}

function assertCgroup(cgroupPath: string): void {
  if (!existsSync(join(cgroupPath, 'cgroup.procs')) || !statSync(cgroupPath).isDirectory()) {
    throw new Error(`socket-LB: ${cgroupPath} is not a cgroup2 directory`);
  }
  if (existsSync(join(cgroupPath, '..', 'cgroup.procs')) === false) {
    throw new Error(`socket-LB: refusing ${cgroupPath}: a cgroup2 root; only a cgroup of cilium-ts's own may be used`);
  }
}

/** Attaches (or swaps in place) the socket-LB programs on `cgroupPath`. */
export function attachSocketLb(opts: SocketLbOptions): SocketLbHandle {
  const addon = loadAddon();
  const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
  assertCgroup(opts.cgroupPath);
  ensureBpffs();
  mkdirSync(pinRoot, { recursive: true });
  const path = opts.objectPath ?? defaultSockObjectPath;
  const sized = sizedMaps(addon, path, pinRoot); // the LB maps at the size they are pinned with
  const object = new addon.BpfObject(path, { pinRoot, reuseMaps: sized.reuseMaps });
  try {
    object.load();
    sized.close();
    configure(addon, object, opts);
    const pinDir = socketLbPinDir(opts.cgroupPath, pinRoot);
    const programIds = attachAll(addon, object, opts.cgroupPath, pinDir);
    return handle(addon, object, opts.cgroupPath, pinDir, programIds);
  } catch (e) {
    sized.close();
    object.close();
    throw e;
  }
}

function mapFd(object: NativeBpfObject, name: string): number {
  const m = object.maps().find((x) => x.name === name);
  if (!m) throw new Error(`bpf_sock.o has no map ${name}`);
  return m.fd;
}

function configure(addon: Addon, object: NativeBpfObject, opts: SocketLbOptions): void {
  const config = new BpfMap(addon, mapFd(object, MapName.sockConfig), MapName.sockConfig, u32Codec, sockLbConfigCodec);
  config.update(0, {
    hostNetnsCookie: opts.hostNetnsCookie ?? addon.netnsCookie(),
    flags: opts.hostNamespaceOnly ? SOCK_LB_HOST_NS_ONLY : 0,
  });
}

/** One link per program: an existing pinned link gets the new program, else a new link is pinned. */
function attachAll(addon: Addon, object: NativeBpfObject, cgroupPath: string, pinDir: string): Record<string, number> {
  mkdirSync(pinDir, { recursive: true });
  const programs = object.programs();
  const created: string[] = [];
  const ids: Record<string, number> = {};
  try {
    for (const [name, attachType] of Object.entries(SockPrograms)) {
      const prog = programs.find((p) => p.name === name);
      if (!prog) throw new Error(`bpf_sock.o lacks program ${name}`);
      if (prog.attachType !== attachType) throw new Error(`${name}: attach type ${prog.attachType}, not ${attachType}`);
      const pin = join(pinDir, name);
      if (!replaceInPlace(addon, pin, prog.fd)) {
        const link = addon.cgroupLinkCreate(cgroupPath, prog.fd, attachType);
        try {
          addon.objPin(link, pin);
        } finally {
          addon.closeFd(link);
        }
        created.push(pin);
      }
      ids[name] = addon.progInfo(prog.fd).id;
    }
  } catch (e) {
    for (const pin of created) detachPin(addon, pin);
    throw e;
  }
  return ids;
}

/** true when a link pinned at `pin` now runs `progFd`; a stale pin (its cgroup gone) is removed. */
function replaceInPlace(addon: Addon, pin: string, progFd: number): boolean {
  if (!existsSync(pin)) return false;
  const link = addon.objGet(pin);
  try {
    addon.linkUpdate(link, progFd);
    return true;
  } catch {
    // ENOLINK: the cgroup it was attached to is gone; anything else: start afresh all the same.
    try {
      addon.linkDetach(link);
    } catch {
      /* already detached */
    }
    unlinkSync(pin);
    return false;
  } finally {
    addon.closeFd(link);
  }
}

/** Detaches the link pinned at `pin` (whoever else holds it) and removes the pin. */
function detachPin(addon: Addon, pin: string): void {
  try {
    const link = addon.objGet(pin);
    try {
      addon.linkDetach(link);
    } catch {
      /* its cgroup is gone: nothing attached any more */
    } finally {
      addon.closeFd(link);
    }
  } finally {
    rmSync(pin, { force: true });
  }
}

function handle(
  addon: Addon,
  object: NativeBpfObject,
  cgroupPath: string,
  pinDir: string,
  programIds: Record<string, number>,
): SocketLbHandle {
  let open: NativeBpfObject | null = object;
  const fd = (name: string) => mapFd(object, name);
  const close = () => {
    open?.close();
    open = null;
  };
  return {
    cgroupPath,
    pinDir,
    programIds,
    reverseSk: {
      v4: new BpfMap(addon, fd(MapName.lb4ReverseSk), MapName.lb4ReverseSk, lb4ReverseSkKeyCodec, lb4ReverseSkCodec),
      v6: new BpfMap(addon, fd(MapName.lb6ReverseSk), MapName.lb6ReverseSk, lb6ReverseSkKeyCodec, lb6ReverseSkCodec),
    },
    detach() {
      detachPinDir(addon, pinDir);
      close();
    },
    close,
  };
}

function detachPinDir(addon: Addon, pinDir: string): number {
  if (!existsSync(pinDir)) return 0;
  let n = 0;
  for (const name of readdirSync(pinDir)) {
    detachPin(addon, join(pinDir, name));
    n++;
  }
  rmSync(pinDir, { recursive: true, force: true });
  return n;
}

/**
 * Detaches socket-LB from `cgroupPath`, or from every cgroup it was attached to under this pin
 * root when no path is given (a crashed lab's leftovers). Returns how many programs were detached.
 */
export function detachSocketLb(opts: { cgroupPath?: string; pinRoot?: string } = {}): number {
  const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
  const root = sockLbDir(pinRoot);
  if (!existsSync(root)) return 0;
  const addon = loadAddon();
  if (opts.cgroupPath) return detachPinDir(addon, socketLbPinDir(opts.cgroupPath, pinRoot));
  let n = 0;
  for (const dir of readdirSync(root)) n += detachPinDir(addon, join(root, dir));
  rmSync(root, { recursive: true, force: true });
  return n;
}

/** Program ids attached directly on `cgroupPath`, per socket-LB hook (empty arrays: clean). */
export function socketLbAttachments(cgroupPath: string): Record<string, number[]> {
  const addon = loadAddon();
  const out: Record<string, number[]> = {};
  for (const [name, type] of Object.entries(SockAttachType)) out[name] = addon.cgroupQuery(cgroupPath, type);
  return out;
}
