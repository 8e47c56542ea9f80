// Between nodes: the tunnel device and bpf_overlay.o (tunnel mode), and the routing mode bpf_lxc.o
// follows. Semantics in bpf/lib/encap.h and bpf/bpf_overlay.c: in tunnel mode a pod's packet for a
// remote pod (ipcache entry with a tunnel endpoint) leaves through the collect-metadata tunnel
// device with the source identity as VNI, and the receiving node's cil_from_overlay takes the
// identity from the VNI and applies the destination pod's ingress policy. In native mode nothing is
// encapsulated: routes to the other nodes' pod CIDRs carry the packets and the receiver's ipcache
// names the source.
//
// cilium_encap_cfg is pinned under the pin root shared with bpf_lxc.o, so writing it here steers
// every endpoint's program at once, and it survives an agent restart. tc attachments and devices
// live in the calling process's network namespace (the node's): `netns` options only reach devices
// through `ip -n`.
//
// Pods in tunnel mode need an MTU TUNNEL_OVERHEAD below the node's (the CNI's part, see constants).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAddon, type Addon, type NativeBpfObject } from './addon.ts';
import { BpfMap } from './bpf-map.ts';
import { encapConfigCodec, u32Codec, type EncapConfig } from './codecs.ts';
import {
  DEFAULT_PIN_ROOT,
  MapName,
  OverlayPrograms,
  RoutingModeCode,
  TunnelDevice,
  TunnelPort,
  TunnelProtocolCode,
} from './constants.ts';
import { ensureBpffs } from './loader.ts';
import { sizedMaps } from './map-sizes.ts';

export const defaultOverlayObjectPath = fileURLToPath(new URL('../../bpf/build/bpf_overlay.o', import.meta.url));

/** --routing-mode */
export type RoutingMode = keyof typeof RoutingModeCode;
/** --tunnel-protocol */
export type TunnelProtocol = keyof typeof TunnelProtocolCode;

export const NO_GENEVE = 'this kernel has no Geneve: use vxlan';

/** tc filter handle/priority of cil_from_overlay (other filters on the device are left alone). */
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

function ip(args: string[], netns?: string): string {
  return execFileSync('ip', netns ? ['-n', netns, ...args] : args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** The ifindex of a link, asked over netlink (sysfs shows the namespace it was mounted in). */
export function linkIfindex(name: string, netns?: string): number {
  const links = JSON.parse(ip(['-j', 'link', 'show', 'dev', name], netns)) as Array<{ ifindex: number }>;
  const idx = links[0]?.ifindex;
  if (!idx) throw new Error(`link ${name} not found${netns ? ` in netns ${netns}` : ''}`);
  return idx;
}

function linkExists(name: string, netns?: string): boolean {
  const r = spawnSync('ip', [...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', name], { stdio: 'ignore' });
  return r.status === 0;
}

/** Whether the kernel can make a collect-metadata device of the protocol (tried on a throwaway one). */
export function tunnelProtocolSupported(protocol: TunnelProtocol): boolean {
  if (protocol === 'vxlan') return true;
  const probe = `cts_gnv${process.pid % 100000}`;
  const r = spawnSync('ip', ['link', 'add', probe, 'type', 'geneve', 'external'], { stdio: 'ignore' });
  if (r.status !== 0) return false;
  spawnSync('ip', ['link', 'del', probe], { stdio: 'ignore' });
  return true;
}

function checkProtocol(protocol: TunnelProtocol): void {
  if (!(protocol in TunnelProtocolCode)) {
    throw new Error(`tunnelProtocol ${String(protocol)} is not one of ${Object.keys(TunnelProtocolCode).join(', ')}`);
  }
  if (!tunnelProtocolSupported(protocol)) throw new Error(`tunnelProtocol ${protocol}: ${NO_GENEVE}`);
}

export interface TunnelDeviceOptions {
  /** The node's network namespace (`ip netns` name); default the caller's. */
  netns?: string;
  protocol?: TunnelProtocol;
  /** Default Cilium's name for the protocol (cilium_vxlan). */
  name?: string;
  /** UDP port; default Cilium's (8472 for VXLAN). */
  port?: number;
  /** The device's MTU (the node's underlay MTU); default 1500. */
  mtu?: number;
}

/**
 * Creates the collect-metadata tunnel device (`ip link add cilium_vxlan type vxlan external dstport
 * 8472`) and brings it up; an existing one is kept (programs attached to it stay). Returns its ifindex.
 */
export function createTunnelDevice(opts: TunnelDeviceOptions = {}): number {
  const protocol = opts.protocol ?? 'vxlan';
  const name = opts.name ?? TunnelDevice[protocol];
  const port = opts.port ?? TunnelPort[protocol];
  const mtu = opts.mtu ?? 1500;
  if (!linkExists(name, opts.netns)) {
    try {
      ip(['link', 'add', name, 'type', protocol, 'external', 'dstport', String(port)], opts.netns);
    } catch (e) {
      if (protocol === 'geneve') throw new Error(`cannot create ${name}: ${NO_GENEVE}`, { cause: e });
      throw new Error(`cannot create ${name}: ${(e as { stderr?: string }).stderr ?? String(e)}`, { cause: e });
    }
  }
  ip(['link', 'set', 'dev', name, 'mtu', String(mtu), 'up'], opts.netns);
  return linkIfindex(name, opts.netns);
}

/** Removes the tunnel device (and with it our program on it); false when there was none. */
export function removeTunnelDevice(opts: Pick<TunnelDeviceOptions, 'netns' | 'protocol' | 'name'> = {}): boolean {
  const name = opts.name ?? TunnelDevice[opts.protocol ?? 'vxlan'];
  if (!linkExists(name, opts.netns)) return false;
  ip(['link', 'del', 'dev', name], opts.netns);
  return true;
}

export interface OverlayOptions {
  /** Refused at load when this kernel cannot make such a device (no Geneve here). */
  tunnelProtocol?: TunnelProtocol;
  objectPath?: string;
  pinRoot?: string;
}

export class OverlayDatapath {
  readonly addon: Addon;
  readonly pinRoot: string;
  readonly tunnelProtocol: TunnelProtocol;
  readonly progs: { fromOverlay: number };
  readonly maps: { config: BpfMap<number, EncapConfig> };
  private object: NativeBpfObject | null;

  private constructor(addon: Addon, object: NativeBpfObject, pinRoot: string, tunnelProtocol: TunnelProtocol) {
    this.addon = addon;
    this.object = object;
    this.pinRoot = pinRoot;
    this.tunnelProtocol = tunnelProtocol;
    const cfg = object.maps().find((m) => m.name === MapName.encapConfig);
    if (!cfg) throw new Error(`bpf_overlay.o has no map ${MapName.encapConfig}`);
    this.maps = { config: new BpfMap(addon, cfg.fd, MapName.encapConfig, u32Codec, encapConfigCodec) };
    const prog = object.programs().find((p) => p.name === OverlayPrograms.fromOverlay);
    if (!prog) throw new Error(`bpf_overlay.o lacks ${OverlayPrograms.fromOverlay}`);
    this.progs = { fromOverlay: prog.fd };
  }

  /** Loads bpf_overlay.o; maps already pinned under pinRoot (bpf_lxc.o's) are reused. */
  static load(opts: OverlayOptions = {}): OverlayDatapath {
    const tunnelProtocol = opts.tunnelProtocol ?? 'vxlan';
    checkProtocol(tunnelProtocol);
    const addon = loadAddon();
    const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    ensureBpffs();
    mkdirSync(pinRoot, { recursive: true });
    const path = opts.objectPath ?? defaultOverlayObjectPath;
    const sized = sizedMaps(addon, path, pinRoot); // the LB maps at the size they are pinned with
    const object = new addon.BpfObject(path, { pinRoot, reuseMaps: sized.reuseMaps });
    try {
      object.load();
      return new OverlayDatapath(addon, object, pinRoot, tunnelProtocol);
    } catch (e) {
      object.close();
      throw e;
    } finally {
      sized.close();
    }
  }

  /**
   * Sets the routing mode every bpf_lxc program under this pin root follows: tunnel (through the
   * device `tunnelIfindex`, in the node's namespace) or native (no encapsulation).
   */
  setRoutingMode(mode: RoutingMode, tunnelIfindex = 0): void {
    if (mode === 'tunnel' && !(tunnelIfindex > 0)) throw new Error('tunnel mode needs the tunnel device ifindex');
    this.maps.config.update(0, {
      mode: RoutingModeCode[mode],
      tunnelIfindex: mode === 'tunnel' ? tunnelIfindex : 0,
      protocol: TunnelProtocolCode[this.tunnelProtocol],
    });
  }

  /** The routing mode the datapath follows now. */
  routingMode(): { mode: RoutingMode; tunnelIfindex: number } {
    const c = this.maps.config.lookup(0);
    return { mode: c?.mode === RoutingModeCode.tunnel ? 'tunnel' : 'native', tunnelIfindex: c?.tunnelIfindex ?? 0 };
  }

  /** cil_from_overlay on the tunnel device's tc ingress (replacing ours), in the caller's namespace. */
  attach(ifindex: number): void {
    this.addon.tcAttach(ifindex, 'ingress', this.progs.fromOverlay, {
      handle: TC_HANDLE,
      priority: TC_PRIORITY,
      replace: true,
    });
  }

  /** Detaches it; false when it was not attached. */
  detach(ifindex: number): boolean {
    return this.addon.tcDetach(ifindex, 'ingress', TC_HANDLE, TC_PRIORITY);
  }

  /** Closes our fds; the pinned config and attached program stay in the kernel. */
  close(): void {
    this.object?.close();
    this.object = null;
  }
}
