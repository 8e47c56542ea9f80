// Host-scope IPAM and endpoint ids, as Cilium's agent does them with `ipam: kubernetes`: every
// pod address comes from this node's pod CIDR, the first usable address is the router
// (gateway) address and never a pod's, and every allocation is a record in one JSON state file,
// so that an agent restart reallocates nothing and ADD for the same attachment is idempotent.
// The allocators are pure functions over the state; `EndpointStateFile` is the thin persistence.
import { mkdirSync, readFileSync, renameSync, writeFileSync, openSync, fsyncSync, closeSync } from 'node:fs';
import { dirname } from 'node:path';
import { formatAddr, parseAddr, parsePrefix, prefixRange, rangeContains, type IPRange } from '../lib/ip.ts';

/** One pod attachment (container id + interface name), as ADD left it. */
export interface EndpointRecord {
  containerId: string;
  ifname: string;
  netns: string;
  namespace: string;
  podName: string;
  podUid?: string;
  ip: string;
  epId: number;
  hostIfname: string;
  hostIfindex: number;
  podMac: string;
  hostMac: string;
  createdAt: string;
}

export interface EndpointState {
  version: 1;
  /** the CIDR addresses were last allocated from */
  podCidr: string;
  /** the last address handed out: the next allocation starts after it (like host-local), so a
   * released address is not reused at once while peers may still hold conntrack for it */
  lastIp?: string;
  /** attachment key (see attachmentKey) → record */
  endpoints: Record<string, EndpointRecord>;
}

/** Cilium's endpoint ids are small integers; 0 is never one. */
export const MAX_ENDPOINT_ID = 4095;

export function attachmentKey(containerId: string, ifname: string): string {
  return `${containerId}/${ifname}`;
}

export function emptyState(podCidr: string): EndpointState {
  return { version: 1, podCidr, endpoints: {} };
}

export interface PodCidrInfo {
  cidr: string;
  range: IPRange;
  /** the gateway address pods route through (first usable; Cilium's router IP) */
  routerIp: string;
  prefixLen: number;
}

export function podCidrInfo(cidr: string): PodCidrInfo {
  const p = parsePrefix(cidr);
  if (!p || p.addr.family !== 4)
    throw new Error(`pod CIDR '${cidr}' is not an IPv4 prefix (IPv6 pod CIDRs are not supported yet)`);
  if (p.bits > 30)
    throw new Error(
      `pod CIDR '${cidr}' is too small: a /30 or larger is needed (network, router, broadcast and one pod)`,
    );
  const range = prefixRange(p);
  return { cidr, range, routerIp: formatAddr(4, range.first + 1n), prefixLen: p.bits };
}

function inUseIps(state: EndpointState): Set<string> {
  return new Set(Object.values(state.endpoints).map((e) => e.ip));
}

/** The next free pod address after state.lastIp (wrapping), or undefined when the CIDR is full. */
export function nextFreeIp(state: EndpointState, info: PodCidrInfo): string | undefined {
  const used = inUseIps(state);
  const first = info.range.first + 2n; // network and router addresses are never pods'
  const last = info.range.last - 1n; // nor is broadcast
  const size = last - first + 1n;
  const lastAddr = state.lastIp ? parseAddr(state.lastIp) : undefined;
  const start =
    lastAddr && rangeContains(info.range, lastAddr) && lastAddr.value >= first && lastAddr.value <= last
      ? lastAddr.value + 1n - first
      : 0n;
  for (let i = 0n; i < size; i++) {
    const candidate = formatAddr(4, first + ((start + i) % size));
    if (!used.has(candidate)) return candidate;
  }
  return undefined;
}

/**
 * Why a requested pod address (CNI_ARGS IP=, as host-local honours it) cannot be given, or
 * undefined when it can: it must be a pod address of the CIDR (not network, router, broadcast)
 * and free.
 */
export function requestedIpProblem(state: EndpointState, info: PodCidrInfo, ip: string): string | undefined {
  const a = parseAddr(ip);
  if (!a || a.family !== 4) return `requested address '${ip}' is not an IPv4 address`;
  if (!rangeContains(info.range, a) || a.value < info.range.first + 2n || a.value > info.range.last - 1n)
    return `requested address ${ip} is not a pod address of this node's pod CIDR ${info.cidr}`;
  if (inUseIps(state).has(formatAddr(4, a.value))) return `requested address ${ip} is already in use on this node`;
  return undefined;
}

/** The smallest endpoint id not in use. */
export function nextFreeEndpointId(state: EndpointState): number | undefined {
  const used = new Set(Object.values(state.endpoints).map((e) => e.epId));
  for (let id = 1; id <= MAX_ENDPOINT_ID; id++) if (!used.has(id)) return id;
  return undefined;
}

export function freeAddressCount(state: EndpointState, info: PodCidrInfo): number {
  const total = Number(info.range.last - info.range.first + 1n) - 3;
  const inside = Object.values(state.endpoints).filter((e) => {
    const a = parseAddr(e.ip);
    return a !== undefined && rangeContains(info.range, a);
  }).length;
  return Math.max(0, total - inside);
}

/** Loads and saves the state atomically (write to a temporary file, fsync, rename). */
export class EndpointStateFile {
  readonly path: string;
  constructor(path: string) {
    this.path = path;
  }

  load(podCidr: string): EndpointState {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return emptyState(podCidr);
      throw e;
    }
    const s = JSON.parse(text) as EndpointState;
    if (s.version !== 1 || typeof s.endpoints !== 'object')
      throw new Error(`${this.path}: unknown endpoint state format`);
    return { ...s, podCidr };
  }

  save(state: EndpointState): void {
    mkdirSync(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp`;
    writeFileSync(tmp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, this.path);
  }
}
