// North-south services: bpf_host.o's cil_from_netdev on a node's external interfaces (tc ingress).
// Loaded under the same pin root as bpf_lxc.o, so both share the service, endpoint and NAT maps;
// the object's own configuration (SNAT address, Maglev M, --bpf-lb-mode) is written once at load.
// Semantics in bpf/lib/nodeport.h: Maglev for new flows, loadBalancerSourceRanges, local backends
// see the client's address, remote ones are SNATed to `snatAddress`; replies go back out of the
// interface the request came in on.
import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadAddon, type Addon, type NativeBpfObject } from './addon.ts';
import { BpfMap } from './bpf-map.ts';
import {
  nat4EntryCodec,
  nat4KeyCodec,
  nodePortConfigCodec,
  u32Codec,
  type Nat4Entry,
  type Nat4Key,
  type NodePortConfig,
} from './codecs.ts';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_PIN_ROOT,
  HostPrograms,
  LbModeCode,
  MAGLEV_TABLE_SIZES,
  MapName,
  NODEPORT_NAT_PORTS,
} from './constants.ts';
import { familyOf } from './ip.ts';
import { ensureBpffs, ifindexOf } from './loader.ts';
import { sizedMaps } from './map-sizes.ts';

export const defaultHostObjectPath = fileURLToPath(new URL('../../bpf/build/bpf_host.o', import.meta.url));

/** --bpf-lb-mode. On one node both behave alike: local backends always see the client (see nodeport.h). */
export type LbMode = keyof typeof LbModeCode;

export interface NodePortOptions {
  /** The node's IPv4 address remote backends see as the source of SNATed flows (its InternalIP). */
  snatAddress: string;
  mode?: LbMode;
  /** Must equal the M the agent's LbMaps builds its Maglev tables with (LxcDatapath's maglevTableSize). */
  maglevTableSize?: number;
  natPorts?: { min: number; max: number };
  objectPath?: string;
  pinRoot?: string;
}

/** tc filter handle/priority of cil_from_netdev (other filters on the interface are left alone). */
const TC_HANDLE = 1;
const TC_PRIORITY = 1;

export class NodePortDatapath {
  readonly addon: Addon;
  readonly pinRoot: string;
  readonly progs: { fromNetdev: number };
  readonly maps: { nat: BpfMap<Nat4Key, Nat4Entry>; config: BpfMap<number, NodePortConfig> };
  readonly config: NodePortConfig;
  private object: NativeBpfObject | null;

  private constructor(addon: Addon, object: NativeBpfObject, pinRoot: string, config: NodePortConfig) {
    this.addon = addon;
    this.object = object;
    this.pinRoot = pinRoot;
    this.config = config;
    const fds = new Map(object.maps().map((m) => [m.name, m.fd]));
    const fd = (name: string): number => {
      const v = fds.get(name);
      if (v === undefined) throw new Error(`bpf_host.o has no map ${name}`);
      return v;
    };
    this.maps = {
      nat: new BpfMap(addon, fd(MapName.snat4External), MapName.snat4External, nat4KeyCodec, nat4EntryCodec),
      config: new BpfMap(addon, fd(MapName.nodeportConfig), MapName.nodeportConfig, u32Codec, nodePortConfigCodec),
    };
    const prog = object.programs().find((p) => p.name === HostPrograms.fromNetdev);
    if (!prog) throw new Error(`bpf_host.o lacks ${HostPrograms.fromNetdev}`);
    this.progs = { fromNetdev: prog.fd };
    this.maps.config.update(0, config);
  }

  /** Loads bpf_host.o (maps already pinned under pinRoot are reused) and writes its configuration. */
  static load(opts: NodePortOptions): NodePortDatapath {
    const config = configOf(opts);
    const addon = loadAddon();
    const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    ensureBpffs();
    mkdirSync(pinRoot, { recursive: true });
    const path = opts.objectPath ?? defaultHostObjectPath;
    const sized = sizedMaps(addon, path, pinRoot); // the LB maps at the size they are pinned with
    const object = new addon.BpfObject(path, { pinRoot, reuseMaps: sized.reuseMaps });
    try {
      object.load();
      return new NodePortDatapath(addon, object, pinRoot, config);
    } catch (e) {
      object.close();
      throw e;
    } finally {
      sized.close();
    }
  }

  /** Attaches cil_from_netdev to the interface's tc ingress (replacing ours); returns its ifindex. */
  attach(ifname: string): number {
    const ifindex = ifindexOf(ifname);
    this.addon.tcAttach(ifindex, 'ingress', this.progs.fromNetdev, {
      handle: TC_HANDLE,
      priority: TC_PRIORITY,
      replace: true,
    });
    return ifindex;
  }

  /** Detaches it; false when it was not attached. The clsact qdisc stays. */
  detach(ifname: string): boolean {
    return this.addon.tcDetach(ifindexOf(ifname), 'ingress', TC_HANDLE, TC_PRIORITY);
  }

  /** Closes our fds; pinned maps and attached programs stay in the kernel. */
  close(): void {
    this.object?.close();
    this.object = null;
  }
}

function configOf(opts: NodePortOptions): NodePortConfig {
  if (familyOf(opts.snatAddress) !== 4) throw new Error(`snatAddress ${opts.snatAddress} is not IPv4`);
  const lutSize = opts.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
  if (!(MAGLEV_TABLE_SIZES as readonly number[]).includes(lutSize)) {
    throw new RangeError(`maglevTableSize ${lutSize} is not one of ${MAGLEV_TABLE_SIZES.join(', ')}`);
  }
  const ports = opts.natPorts ?? NODEPORT_NAT_PORTS;
  if (!(ports.min >= 1 && ports.min <= ports.max && ports.max <= 65535)) {
    throw new RangeError(`NAT port range ${ports.min}-${ports.max} is not within 1-65535`);
  }
  return {
    snatAddr: opts.snatAddress,
    lutSize,
    natPortMin: ports.min,
    natPortMax: ports.max,
    mode: LbModeCode[opts.mode ?? 'snat'],
  };
}
