// Loads bpf_lxc.o with its maps pinned under a pin root (reusing maps already pinned there,
// so an agent restart keeps state), and attaches/detaches the two programs on a pod's
// host-side veth.
import { mkdirSync, statfsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadAddon, type Addon, type NativeBpfObject } from './addon.ts';
import { BpfMap, type ValueCodec } from './bpf-map.ts';
import {
  ctEntryCodec,
  ctKeyCodec,
  endpointInfoCodec,
  endpointKeyCodec,
  ipcacheKeyCodec,
  metricsKeyCodec,
  policyEntryCodec,
  policyKeyCodec,
  remoteEndpointInfoCodec,
  sumPerCpuMetrics,
  u32Codec,
  type CtEntry,
  type CtKey,
  type EndpointInfo,
  type MetricsKey,
  type MetricsValue,
  type PolicyEntry,
  type PolicyKey,
  type RemoteEndpointInfo,
} from './codecs.ts';
import {
  DEFAULT_MAGLEV_TABLE_SIZE,
  DEFAULT_PIN_ROOT,
  MAGLEV_TABLE_SIZES,
  MapFlags,
  MapName,
  MapType,
  POLICY_MAP_SIZE,
  Programs,
} from './constants.ts';
import { allLbMaps, openLbMaps, type LbMapSet } from './lb-maps.ts';
import { lbMapSizes, sizedMaps } from './map-sizes.ts';
import { syncMap, type SyncResult } from './map-sync.ts';

export const defaultObjectPath = fileURLToPath(new URL('../../bpf/build/bpf_lxc.o', import.meta.url));

const BPF_FS_MAGIC = 0xcafe4a11;

/** Mounts bpffs on /sys/fs/bpf when it is not (as the Cilium agent does). */
export function ensureBpffs(mountPoint = '/sys/fs/bpf'): void {
  if (statfsSync(mountPoint).type === BPF_FS_MAGIC) return;
  const r = spawnSync('mount', ['-t', 'bpf', 'bpf', mountPoint], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`bpffs is not mounted on ${mountPoint} and mount failed: ${r.stderr}`);
}

/** Asked over netlink: sysfs shows the namespace it was mounted in, not an nsenter'ed agent's. */
export function ifindexOf(ifname: string): number {
  const r = spawnSync('ip', ['-j', 'link', 'show', 'dev', ifname], { encoding: 'utf8' });
  const idx = r.status === 0 ? (JSON.parse(r.stdout) as Array<{ ifindex: number }>)[0]?.ifindex : undefined;
  if (!idx) throw new Error(`link ${ifname} not found`);
  return idx;
}

const perCpuMetrics: ValueCodec<MetricsValue> = {
  decode: sumPerCpuMetrics,
  encode: () => {
    throw new Error('cilium_metrics is written by the datapath only');
  },
};
const innerMapFd: ValueCodec<number> = {
  encode: (fd) => u32Codec.encode(fd),
  decode: (b) => b.readUInt32LE(0), // lookups on a map of maps return the inner map id
};

export interface LxcMaps {
  endpoints: BpfMap<number, EndpointInfo>;
  /** Local endpoint address -> host veth ifindex (same-node redirect). */
  endpointsByIp: BpfMap<string, number>;
  ipcache: BpfMap<string, RemoteEndpointInfo>;
  conntrack: BpfMap<CtKey, CtEntry>;
  policy: BpfMap<number, number>;
  metrics: BpfMap<MetricsKey, MetricsValue>;
  eventsFd: number;
  /** per-CPU count of flow events the ring buffer had no room for */
  eventsLostFd: number;
}

export interface LoadOptions {
  objectPath?: string;
  pinRoot?: string;
  /** Maglev table size M for the service maps (one of Cilium's primes; default 16381). */
  maglevTableSize?: number;
  /** --bpf-lb-map-max: entries of the service, backend, rev-NAT and affinity maps; unset: as pinned, else 65536 */
  lbMapMax?: number;
}

export class LxcDatapath {
  readonly addon: Addon;
  readonly pinRoot: string;
  readonly maps: LxcMaps;
  readonly progs: { fromContainer: number; toContainer: number };
  /** The service load-balancing maps (written by LbMaps in lb.ts). */
  readonly lb: LbMapSet;
  readonly maglevTableSize: number;
  private object: NativeBpfObject | null;

  private constructor(addon: Addon, object: NativeBpfObject, pinRoot: string, maglevTableSize: number) {
    this.addon = addon;
    this.object = object;
    this.pinRoot = pinRoot;
    this.maglevTableSize = maglevTableSize;
    const fds = new Map(object.maps().map((m) => [m.name, m.fd]));
    const fd = (name: string): number => {
      const v = fds.get(name);
      if (v === undefined) throw new Error(`bpf_lxc.o has no map ${name}`);
      return v;
    };
    this.maps = {
      endpoints: new BpfMap(addon, fd(MapName.endpoints), MapName.endpoints, u32Codec, endpointInfoCodec),
      endpointsByIp: new BpfMap(addon, fd(MapName.endpointsByIp), MapName.endpointsByIp, endpointKeyCodec, u32Codec),
      ipcache: new BpfMap(addon, fd(MapName.ipcache), MapName.ipcache, ipcacheKeyCodec, remoteEndpointInfoCodec),
      conntrack: new BpfMap(addon, fd(MapName.conntrack), MapName.conntrack, ctKeyCodec, ctEntryCodec),
      policy: new BpfMap(addon, fd(MapName.policy), MapName.policy, u32Codec, innerMapFd),
      metrics: new BpfMap(addon, fd(MapName.metrics), MapName.metrics, metricsKeyCodec, perCpuMetrics),
      eventsFd: fd(MapName.events),
      eventsLostFd: fd(MapName.eventsLost),
    };
    this.lb = openLbMaps(addon, fd);
    const progs = new Map(object.programs().map((p) => [p.name, p.fd]));
    const from = progs.get(Programs.fromContainer),
      to = progs.get(Programs.toContainer);
    if (from === undefined || to === undefined) throw new Error('bpf_lxc.o lacks its programs');
    this.progs = { fromContainer: from, toContainer: to };
  }

  /** Opens and loads the object; maps already pinned under pinRoot are reused. */
  static load(opts: LoadOptions = {}): LxcDatapath {
    const addon = loadAddon();
    const pinRoot = opts.pinRoot ?? DEFAULT_PIN_ROOT;
    const maglevTableSize = opts.maglevTableSize ?? DEFAULT_MAGLEV_TABLE_SIZE;
    if (!(MAGLEV_TABLE_SIZES as readonly number[]).includes(maglevTableSize)) {
      throw new RangeError(`maglevTableSize ${maglevTableSize} is not one of ${MAGLEV_TABLE_SIZES.join(', ')}`);
    }
    ensureBpffs();
    mkdirSync(pinRoot, { recursive: true });
    const path = opts.objectPath ?? defaultObjectPath;
    const sized = sizedMaps(addon, path, pinRoot, opts.lbMapMax !== undefined ? lbMapSizes(opts.lbMapMax) : {});
    const object = new addon.BpfObject(path, { pinRoot, reuseMaps: sized.reuseMaps });
    try {
      object.load();
    } catch (e) {
      object.close();
      throw e;
    } finally {
      sized.close();
    }
    return new LxcDatapath(addon, object, pinRoot, maglevTableSize);
  }

  /** from-container on the veth's tc ingress, to-container on its tc egress (replacing). */
  attach(ifindex: number): void {
    this.addon.tcAttach(ifindex, 'ingress', this.progs.fromContainer, { handle: 1, priority: 1, replace: true });
    this.addon.tcAttach(ifindex, 'egress', this.progs.toContainer, { handle: 1, priority: 1, replace: true });
  }

  /** Detaches both programs; the clsact qdisc stays (other filters may live there). */
  detach(ifindex: number): void {
    this.addon.tcDetach(ifindex, 'ingress', 1, 1);
    this.addon.tcDetach(ifindex, 'egress', 1, 1);
  }

  /**
   * Replaces an endpoint's whole policy atomically: a new inner map is filled, then swapped
   * into cilium_policy in one update, so a packet sees either the old or the new policy.
   */
  replaceEndpointPolicy(epId: number, entries: Iterable<readonly [PolicyKey, PolicyEntry]>): void {
    const fd = this.addon.mapCreate({
      type: MapType.LPM_TRIE,
      keySize: policyKeyCodec.layout.size,
      valueSize: policyEntryCodec.layout.size,
      maxEntries: POLICY_MAP_SIZE,
      flags: MapFlags.NO_PREALLOC,
      name: `cilium_pol_${epId}`,
    });
    try {
      const inner = new BpfMap(this.addon, fd, `policy/${epId}`, policyKeyCodec, policyEntryCodec);
      for (const [k, v] of entries) inner.update(k, v);
      this.maps.policy.update(epId, fd);
    } finally {
      this.addon.closeFd(fd); // the outer map holds its own reference
    }
  }

  /** Converges the endpoint's current inner policy map in place, writing only the difference. */
  syncEndpointPolicy(epId: number, entries: Iterable<readonly [PolicyKey, PolicyEntry]>): SyncResult {
    const id = this.maps.policy.lookup(epId);
    if (id === undefined) {
      const list = [...entries];
      this.replaceEndpointPolicy(epId, list);
      return { added: list.length, changed: 0, removed: 0, unchanged: 0 };
    }
    const fd = this.addon.mapGetFdById(id);
    try {
      return syncMap(new BpfMap(this.addon, fd, `policy/${epId}`, policyKeyCodec, policyEntryCodec), entries);
    } finally {
      this.addon.closeFd(fd);
    }
  }

  /** Flow events lost so far because the ring buffer was full (summed over CPUs). */
  eventsLost(): number {
    const raw = this.addon.mapLookup(this.maps.eventsLostFd, Buffer.alloc(4));
    let n = 0n;
    for (let off = 0; raw && off + 8 <= raw.length; off += 8) n += raw.readBigUInt64LE(off);
    return Number(n);
  }

  /** The endpoint's policy map as the kernel holds it (empty when it has none). */
  endpointPolicyEntries(epId: number): Array<[PolicyKey, PolicyEntry]> {
    const id = this.maps.policy.lookup(epId);
    if (id === undefined) return [];
    const fd = this.addon.mapGetFdById(id);
    try {
      return new BpfMap(this.addon, fd, `policy/${epId}`, policyKeyCodec, policyEntryCodec).entries();
    } finally {
      this.addon.closeFd(fd);
    }
  }

  /** Entries and capacity of every map, for `cilium-ts map list` and map pressure. */
  mapStats(): Array<{ name: string; type: number; entries: number; maxEntries: number }> {
    const all = [
      this.maps.endpoints,
      this.maps.endpointsByIp,
      this.maps.ipcache,
      this.maps.conntrack,
      this.maps.policy,
      this.maps.metrics,
      ...allLbMaps(this.lb),
    ];
    const out = all.map((m) => {
      const info = this.addon.mapInfo(m.fd);
      return { name: m.name, type: info.type, entries: m.rawEntries().length, maxEntries: info.maxEntries };
    });
    const events = this.addon.mapInfo(this.maps.eventsFd);
    out.push({ name: 'cilium_events', type: events.type, entries: 0, maxEntries: events.maxEntries });
    return out;
  }

  deleteEndpointPolicy(epId: number): boolean {
    return this.maps.policy.delete(epId);
  }

  /** Closes our fds; pinned maps and attached programs stay in the kernel. */
  close(): void {
    this.object?.close();
    this.object = null;
  }
}
