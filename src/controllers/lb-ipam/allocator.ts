// LB-IPAM allocation core: given every CiliumLoadBalancerIPPool and every Service, compute the
// ingress IPs and conditions each Service should have and the status each pool should show.
// Pure and deterministic: the same input always yields the same output, and feeding the output
// back (as the Services' status) yields it again. The controller calls this on every change; a
// restart is therefore no special case — allocations are rebuilt from the Services' status first.
//
// Semantics follow Cilium's operator/pkg/lbipam (see README in this folder for the list).

import type { IPPoolSpec, ServiceSelector } from '../../api/types.generated.ts';
import {
  type Family,
  type Addr,
  type IPRange,
  formatAddr,
  parseAddr,
  parsePrefix,
  prefixRange,
  rangeContains,
  rangeSize,
  rangesOverlap,
} from '../../lib/ip.ts';
import { type Labels, selectorMatches } from './selector.ts';
import * as C from './constants.ts';

// ---------------------------------------------------------------------------------------------
// Input

/** The fields of a CiliumLoadBalancerIPPool the allocator reads (the generated type fits). */
export interface LBPoolInput {
  metadata: { name?: string; creationTimestamp?: Date | string };
  spec: IPPoolSpec;
}

export interface LBServicePort {
  port: number;
  protocol?: string;
}

/** The fields of a core/v1 Service the allocator reads (@kubernetes/client-node's V1Service fits). */
export interface LBServiceInput {
  metadata?: {
    namespace?: string;
    name?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    creationTimestamp?: Date | string;
  };
  spec?: {
    type?: string;
    loadBalancerClass?: string;
    loadBalancerIP?: string;
    ipFamilies?: string[];
    ipFamilyPolicy?: string;
    ports?: LBServicePort[];
    externalTrafficPolicy?: string;
    selector?: Record<string, string>;
  };
  status?: {
    loadBalancer?: { ingress?: { ip?: string }[] };
    conditions?: { type: string }[];
  };
}

export interface LBIPAMOptions {
  /** loadBalancerClass values LB-IPAM serves. Default: Cilium's BGP and L2 announcer classes. */
  lbClasses?: readonly string[];
  /** Whether Services without a loadBalancerClass are ours (Cilium's default-lb-service-ipam=lbipam). Default true. */
  defaultIPAM?: boolean;
  ipv4Enabled?: boolean;
  ipv6Enabled?: boolean;
  /**
   * Whether the datapath tells TCP from UDP on one port (Cilium's bpf-lb-proto-diff, default on):
   * if so, sharing Services clash only on the same port *and* protocol; otherwise on the same port.
   */
  protocolDifferentiation?: boolean;
}

// ---------------------------------------------------------------------------------------------
// Output

export interface DesiredCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
}

export interface ServiceAllocation {
  ip: string;
  pool: string;
  /** Other Services (namespace/name) holding the same IP through a sharing key. */
  sharedWith: string[];
}

export interface ServiceResult {
  key: string;
  namespace: string;
  name: string;
  uid?: string;
  /** status.loadBalancer.ingress[].ip, in order: kept addresses first, as they were, then new ones. */
  ingressIPs: string[];
  allocations: ServiceAllocation[];
  satisfied: boolean;
  condition: DesiredCondition;
  /** Why existing ingress IPs or requested IPs were dropped; for logs and events. */
  warnings: string[];
}

export interface ReleasedService {
  key: string;
  namespace: string;
  name: string;
}

export interface PoolResult {
  name: string;
  conflicting: boolean;
  conflictMessage: string;
  ipsTotal: bigint;
  ipsAvailable: bigint;
  ipsUsed: bigint;
  /** PoolConflict, IPsTotal, IPsAvailable, IPsUsed — without timestamps (see mergeConditions). */
  conditions: DesiredCondition[];
  /** Blocks that do not parse; they contribute no addresses. */
  invalidBlocks: string[];
}

export interface LBIPAMResult {
  /** Services LB-IPAM is responsible for, sorted by key. */
  services: ServiceResult[];
  /** Services no longer ours that still carry our condition: clear their ingress and condition. */
  released: ReleasedService[];
  /** Pools sorted by name. */
  pools: PoolResult[];
  conflictingPools: string[];
}

// ---------------------------------------------------------------------------------------------
// Internal model

interface PoolState {
  name: string;
  created: number;
  disabled: boolean;
  selector: ServiceSelector | undefined;
  ranges: RangeState[];
  invalidBlocks: string[];
  conflicting: boolean;
  conflictMessage: string;
}

interface RangeState {
  pool: PoolState;
  range: IPRange;
  /** First/last addresses held back by allowFirstLastIPs: No. */
  reserved: Set<bigint>;
  /** Addresses of this range handed out (each once, however many Services share it). */
  taken: Set<bigint>;
  /** Every address below it is known to be in use; nothing is freed while new ones are handed out. */
  cursor: bigint;
}

interface Group {
  ip: Addr;
  range: RangeState;
  members: Svc[];
}

interface Svc {
  key: string;
  namespace: string;
  name: string;
  uid: string | undefined;
  created: number;
  labels: Labels;
  requested: Addr[];
  wantV4: boolean;
  wantV6: boolean;
  sharingKey: string;
  crossNamespace: string[];
  ports: LBServicePort[];
  externalTrafficPolicy: string;
  podSelector: Record<string, string>;
  existing: Addr[];
  allocated: Group[];
  failure: { reason: string; message: string } | undefined;
  warnings: string[];
}

function ipKey(a: Addr): string {
  return `${a.family}:${a.value.toString(16)}`;
}

function timestamp(t: Date | string | undefined): number {
  if (t === undefined) return Number.POSITIVE_INFINITY;
  const ms = t instanceof Date ? t.getTime() : Date.parse(t);
  return Number.isNaN(ms) ? Number.POSITIVE_INFINITY : ms;
}

function byAgeThenName(a: { created: number; name: string }, b: { created: number; name: string }): number {
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Pools

function parseBlock(b: {
  cidr?: string;
  start?: string;
  stop?: string;
}): { range: IPRange; fromCidr: boolean } | undefined {
  if (b.cidr) {
    const p = parsePrefix(b.cidr);
    return p ? { range: prefixRange(p), fromCidr: true } : undefined;
  }
  if (!b.start) return undefined;
  const start = parseAddr(b.start);
  if (!start) return undefined;
  if (!b.stop) return { range: { family: start.family, first: start.value, last: start.value }, fromCidr: false };
  const stop = parseAddr(b.stop);
  if (!stop || stop.family !== start.family || stop.value < start.value) return undefined;
  return { range: { family: start.family, first: start.value, last: stop.value }, fromCidr: false };
}

function buildPool(p: LBPoolInput): PoolState {
  const pool: PoolState = {
    name: p.metadata.name ?? '',
    created: timestamp(p.metadata.creationTimestamp),
    disabled: p.spec.disabled === true,
    selector: p.spec.serviceSelector,
    ranges: [],
    invalidBlocks: [],
    conflicting: false,
    conflictMessage: '',
  };
  for (const block of p.spec.blocks ?? []) {
    const parsed = parseBlock(block);
    if (!parsed) {
      pool.invalidBlocks.push(block.cidr ?? `${block.start ?? ''}-${block.stop ?? ''}`);
      continue;
    }
    const r: RangeState = {
      pool,
      range: parsed.range,
      reserved: new Set(),
      taken: new Set(),
      cursor: parsed.range.first,
    };
    // Only CIDR blocks have a network and broadcast address; /31, /32, /127, /128 keep all of theirs.
    if (parsed.fromCidr && p.spec.allowFirstLastIPs === 'No' && rangeSize(parsed.range) > 2n) {
      r.reserved.add(parsed.range.first);
      r.reserved.add(parsed.range.last);
    }
    pool.ranges.push(r);
  }
  return pool;
}

function span(r: IPRange): string {
  return `${formatAddr(r.family, r.first)} - ${formatAddr(r.family, r.last)}`;
}

function conflictMessage(own: IPRange, other: IPRange, otherPool: string): string {
  return `Pool conflicts since range '${span(own)}' overlaps range '${span(other)}' from IP Pool '${otherPool}'`;
}

/** A pool whose own blocks overlap, or that overlaps an older healthy pool, is conflicting. */
function settleConflicts(pools: PoolState[]): void {
  for (const pool of pools) {
    for (let i = 0; i < pool.ranges.length && !pool.conflicting; i++) {
      for (let j = i + 1; j < pool.ranges.length; j++) {
        const a = pool.ranges[i]!.range;
        const b = pool.ranges[j]!.range;
        if (rangesOverlap(a, b)) {
          pool.conflicting = true;
          pool.conflictMessage = conflictMessage(a, b, pool.name);
          break;
        }
      }
    }
  }
  // Oldest first, so the newer of two overlapping pools is the one marked.
  for (const [idx, pool] of pools.entries()) {
    if (pool.conflicting) continue;
    outer: for (const older of pools.slice(0, idx)) {
      if (older.conflicting) continue;
      for (const r of pool.ranges) {
        for (const o of older.ranges) {
          if (rangesOverlap(r.range, o.range)) {
            pool.conflicting = true;
            pool.conflictMessage = conflictMessage(r.range, o.range, older.name);
            break outer;
          }
        }
      }
    }
  }
}

function usable(pool: PoolState): boolean {
  return !pool.disabled && !pool.conflicting;
}

// ---------------------------------------------------------------------------------------------
// Services

function annotation(svc: LBServiceInput, key: string, alias: string): string {
  const a = svc.metadata?.annotations ?? {};
  return a[key] || a[alias] || '';
}

function familiesRequested(svc: LBServiceInput, v4Enabled: boolean, v6Enabled: boolean): [boolean, boolean] {
  const fams = svc.spec?.ipFamilies ?? [];
  const policy = svc.spec?.ipFamilyPolicy;
  const single = (): [boolean, boolean] => {
    if (fams.length > 0) return fams[0] === 'IPv4' ? [true, false] : [false, true];
    return v4Enabled ? [true, false] : v6Enabled ? [false, true] : [false, false];
  };
  switch (policy) {
    case undefined:
    case 'SingleStack':
      return single();
    case 'PreferDualStack':
      if (fams.length === 0) return [v4Enabled, v6Enabled];
      return [v4Enabled && fams.includes('IPv4'), v6Enabled && fams.includes('IPv6')];
    case 'RequireDualStack':
      return [v4Enabled, v6Enabled];
    default:
      return [false, false];
  }
}

function buildService(svc: LBServiceInput, opts: Required<LBIPAMOptions>): Svc {
  const namespace = svc.metadata?.namespace ?? '';
  const name = svc.metadata?.name ?? '';
  const warnings: string[] = [];
  const requested: Addr[] = [];
  const seen = new Set<string>();
  const addRequested = (raw: string, from: string): void => {
    const s = raw.trim();
    if (s === '') return;
    const ip = parseAddr(s);
    if (!ip) {
      warnings.push(`ignoring requested IP '${s}' from ${from}: not an IP address`);
      return;
    }
    if (seen.has(ipKey(ip))) return;
    seen.add(ipKey(ip));
    requested.push(ip);
  };
  if (svc.spec?.loadBalancerIP) addRequested(svc.spec.loadBalancerIP, 'spec.loadBalancerIP');
  const ipsAnnotation = annotation(svc, C.ANNOTATION_IPS, C.ANNOTATION_IPS_ALIAS);
  for (const s of ipsAnnotation.split(',')) addRequested(s, `annotation ${C.ANNOTATION_IPS}`);

  const existing: Addr[] = [];
  const seenExisting = new Set<string>();
  for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
    const ip = ing.ip ? parseAddr(ing.ip) : undefined;
    if (!ip || seenExisting.has(ipKey(ip))) continue;
    seenExisting.add(ipKey(ip));
    existing.push(ip);
  }

  const cross = annotation(svc, C.ANNOTATION_SHARING_CROSS_NAMESPACE, C.ANNOTATION_SHARING_CROSS_NAMESPACE_ALIAS);
  const [wantV4, wantV6] = familiesRequested(svc, opts.ipv4Enabled, opts.ipv6Enabled);
  return {
    key: `${namespace}/${name}`,
    namespace,
    name,
    uid: svc.metadata?.uid,
    created: timestamp(svc.metadata?.creationTimestamp),
    labels: {
      ...(svc.metadata?.labels ?? {}),
      [C.LABEL_SERVICE_NAME]: name,
      [C.LABEL_SERVICE_NAMESPACE]: namespace,
    },
    requested,
    wantV4,
    wantV6,
    sharingKey: annotation(svc, C.ANNOTATION_SHARING_KEY, C.ANNOTATION_SHARING_KEY_ALIAS),
    crossNamespace: cross === '' ? [] : cross.split(',').map((s) => s.trim()),
    ports: svc.spec?.ports ?? [],
    externalTrafficPolicy: svc.spec?.externalTrafficPolicy || 'Cluster',
    podSelector: svc.spec?.selector ?? {},
    existing,
    allocated: [],
    failure: undefined,
    warnings,
  };
}

export function isResponsible(svc: LBServiceInput, opts: LBIPAMOptions = {}): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  if (cls === undefined || cls === '') return opts.defaultIPAM ?? true;
  return (opts.lbClasses ?? [C.LB_CLASS_BGP, C.LB_CLASS_L2]).includes(cls);
}

function sameStringMap(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/** Why two Services may not share an address, or undefined when they may. */
function incompatibility(a: Svc, b: Svc, protocolDiff: boolean): string | undefined {
  if (a.sharingKey !== b.sharingKey) return 'different sharing key';
  if (a.namespace !== b.namespace) {
    const admits = (s: Svc, ns: string): boolean =>
      s.crossNamespace.includes(ns) || s.crossNamespace.includes(C.SHARING_CROSS_NAMESPACE_ANY);
    if (!admits(a, b.namespace) || !admits(b, a.namespace)) return 'different and not permitted namespace';
  }
  for (const p of a.ports) {
    for (const q of b.ports) {
      if (p.port !== q.port) continue;
      if (!protocolDiff || (p.protocol ?? 'TCP') === (q.protocol ?? 'TCP')) return 'same port';
    }
  }
  if (a.externalTrafficPolicy !== b.externalTrafficPolicy) return 'different ExternalTrafficPolicy';
  if (a.externalTrafficPolicy === 'Local') {
    const sa = a.podSelector;
    const sb = b.podSelector;
    if (Object.keys(sa).length === 0 || Object.keys(sb).length === 0 || !sameStringMap(sa, sb)) {
      return 'compatible ExternalTrafficPolicy local but selecting different set of pods';
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The allocator

class Allocation {
  readonly pools: PoolState[];
  readonly groups = new Map<string, Group>();
  readonly bySharingKey = new Map<string, Group[]>();
  readonly protocolDiff: boolean;

  constructor(pools: PoolState[], protocolDiff: boolean) {
    this.pools = pools;
    this.protocolDiff = protocolDiff;
  }

  /** The first range (oldest pool first) containing ip; foundPool says a range existed but its pool did not select svc. */
  findRange(svc: Svc, ip: Addr, onlyUsable: boolean): { range?: RangeState; foundPool: boolean } {
    let foundPool = false;
    for (const pool of this.pools) {
      if (onlyUsable && !usable(pool)) continue;
      for (const r of pool.ranges) {
        if (!rangeContains(r.range, ip)) continue;
        foundPool = true;
        if (selectorMatches(pool.selector, svc.labels)) return { range: r, foundPool: false };
      }
    }
    return { foundPool };
  }

  firstIncompatibility(group: Group, svc: Svc): string | undefined {
    for (const m of group.members) {
      const why = incompatibility(m, svc, this.protocolDiff);
      if (why) return why;
    }
    return undefined;
  }

  create(svc: Svc, ip: Addr, range: RangeState): void {
    const g: Group = { ip, range, members: [svc] };
    this.groups.set(ipKey(ip), g);
    range.taken.add(ip.value);
    svc.allocated.push(g);
    if (svc.sharingKey !== '') {
      const list = this.bySharingKey.get(svc.sharingKey) ?? [];
      list.push(g);
      this.bySharingKey.set(svc.sharingKey, list);
    }
  }

  join(svc: Svc, g: Group): void {
    g.members.push(svc);
    svc.allocated.push(g);
  }

  hasFamily(svc: Svc, f: Family): boolean {
    return svc.allocated.some((g) => g.ip.family === f);
  }

  /** Keep an address the Service already has, if it is still valid for it. */
  importExisting(svc: Svc, ip: Addr): void {
    const drop = (why: string): void => {
      svc.warnings.push(`releasing ingress IP ${formatAddr(ip.family, ip.value)}: ${why}`);
    };
    if (svc.requested.length > 0) {
      if (!svc.requested.some((r) => ipKey(r) === ipKey(ip))) return drop('not among the requested IPs');
    } else {
      const wanted = ip.family === 4 ? svc.wantV4 : svc.wantV6;
      if (!wanted) return drop(`IPv${ip.family} is not requested by the service's IP families`);
      if (this.hasFamily(svc, ip.family)) return drop(`the service already has an IPv${ip.family} address`);
    }
    const { range } = this.findRange(svc, ip, false);
    if (!range) return drop('no pool that selects the service contains it');
    const g = this.groups.get(ipKey(ip));
    if (!g) {
      // Reserved first/last addresses a Service already holds stay with it: switching
      // allowFirstLastIPs to No does not revoke existing allocations.
      this.create(svc, ip, range);
      return;
    }
    if (svc.sharingKey === '') return drop('already allocated to another service');
    const why = this.firstIncompatibility(g, svc);
    if (why) return drop(`already allocated to an incompatible service (${why})`);
    this.join(svc, g);
  }

  fail(svc: Svc, reason: string, message: string): void {
    svc.failure = { reason, message };
  }

  satisfySpecific(svc: Svc): void {
    for (const req of svc.requested) {
      if (svc.allocated.some((g) => ipKey(g.ip) === ipKey(req))) continue;
      const s = formatAddr(req.family, req.value);
      const { range, foundPool } = this.findRange(svc, req, true);
      if (!range) {
        if (foundPool)
          this.fail(
            svc,
            C.REASON_POOL_SELECTOR_MISMATCH,
            `The pool with the CIDR containing '${s}', doesn't select this service`,
          );
        else this.fail(svc, C.REASON_NO_POOL, `No pool exists with a CIDR containing '${s}'`);
        continue;
      }
      const g = this.groups.get(ipKey(req));
      if (g) {
        if (svc.sharingKey === '') {
          this.fail(svc, C.REASON_ALREADY_ALLOCATED, `The IP '${s}' is already allocated to another service`);
          continue;
        }
        const why = this.firstIncompatibility(g, svc);
        if (why) {
          this.fail(
            svc,
            C.REASON_ALREADY_ALLOCATED_INCOMPATIBLE,
            `The IP '${s}' is already allocated to an incompatible service. Reason: ${why}`,
          );
          continue;
        }
        this.join(svc, g);
        continue;
      }
      if (range.reserved.has(req.value)) {
        this.fail(svc, C.REASON_ALREADY_ALLOCATED, `The IP '${s}' is already allocated to another service`);
        continue;
      }
      this.create(svc, req, range);
    }
  }

  shareByKey(svc: Svc, f: Family): boolean {
    if (svc.sharingKey === '') return false;
    for (const g of this.bySharingKey.get(svc.sharingKey) ?? []) {
      if (g.ip.family !== f || g.members.length === 0) continue;
      // The shared address must come from a pool that would serve this Service too.
      if (!selectorMatches(g.range.pool.selector, svc.labels)) continue;
      if (this.firstIncompatibility(g, svc)) continue;
      this.join(svc, g);
      return true;
    }
    return false;
  }

  /** Lowest free address of family f from the first usable pool (oldest first) selecting svc. */
  allocateNew(svc: Svc, f: Family): 'ok' | 'full' | 'no_pool' {
    let full = false;
    for (const pool of this.pools) {
      if (!usable(pool) || !selectorMatches(pool.selector, svc.labels)) continue;
      for (const r of pool.ranges) {
        if (r.range.family !== f) continue;
        let v = r.cursor;
        while (
          v <= r.range.last &&
          (r.taken.has(v) || r.reserved.has(v) || this.groups.has(ipKey({ family: f, value: v })))
        )
          v++;
        r.cursor = v;
        if (v > r.range.last) {
          full = true;
          continue;
        }
        this.create(svc, { family: f, value: v }, r);
        return 'ok';
      }
    }
    return full ? 'full' : 'no_pool';
  }

  satisfyGeneric(svc: Svc): void {
    const families: Family[] = [];
    if (svc.wantV4) families.push(4);
    if (svc.wantV6) families.push(6);
    for (const f of families) {
      if (this.hasFamily(svc, f) || this.shareByKey(svc, f)) continue;
      const res = this.allocateNew(svc, f);
      if (res === 'full') {
        this.fail(
          svc,
          C.REASON_OUT_OF_IPS,
          'All enabled CiliumLoadBalancerIPPools that match this service ran out of allocatable IPs',
        );
      } else if (res === 'no_pool') {
        this.fail(svc, C.REASON_NO_POOL, 'There are no enabled CiliumLoadBalancerIPPools that match this service');
      }
    }
  }

  isSatisfied(svc: Svc): boolean {
    if (svc.requested.length > 0) {
      return svc.requested.every((r) => svc.allocated.some((g) => ipKey(g.ip) === ipKey(r)));
    }
    return (!svc.wantV4 || this.hasFamily(svc, 4)) && (!svc.wantV6 || this.hasFamily(svc, 6));
  }
}

function serviceOrder(a: Svc, b: Svc): number {
  // Services that already hold addresses claim them first, so a restart reshuffles nothing.
  const ea = a.existing.length > 0 ? 0 : 1;
  const eb = b.existing.length > 0 ? 0 : 1;
  if (ea !== eb) return ea - eb;
  if (a.created !== b.created) return a.created < b.created ? -1 : 1;
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

function poolConditions(p: PoolState, total: bigint, available: bigint, used: bigint): DesiredCondition[] {
  return [
    p.conflicting
      ? { type: C.POOL_CONDITION_CONFLICT, status: 'True', reason: C.REASON_CIDR_OVERLAP, message: p.conflictMessage }
      : { type: C.POOL_CONDITION_CONFLICT, status: 'False', reason: C.REASON_RESOLVED, message: '' },
    { type: C.POOL_CONDITION_IPS_TOTAL, status: 'Unknown', reason: C.REASON_COUNT, message: total.toString() },
    { type: C.POOL_CONDITION_IPS_AVAILABLE, status: 'Unknown', reason: C.REASON_COUNT, message: available.toString() },
    { type: C.POOL_CONDITION_IPS_USED, status: 'Unknown', reason: C.REASON_COUNT, message: used.toString() },
  ];
}

function poolResult(p: PoolState): PoolResult {
  let total = 0n;
  let used = 0n;
  for (const r of p.ranges) {
    total += rangeSize(r.range);
    // Cilium counts held-back first/last addresses as used: they are not available.
    const reservedFree = [...r.reserved].filter((v) => !r.taken.has(v)).length;
    used += BigInt(r.taken.size + reservedFree);
  }
  const available = total - used;
  return {
    name: p.name,
    conflicting: p.conflicting,
    conflictMessage: p.conflictMessage,
    ipsTotal: total,
    ipsAvailable: available,
    ipsUsed: used,
    conditions: poolConditions(p, total, available, used),
    invalidBlocks: p.invalidBlocks,
  };
}

export function allocate(
  pools: readonly LBPoolInput[],
  services: readonly LBServiceInput[],
  options: LBIPAMOptions = {},
): LBIPAMResult {
  const opts: Required<LBIPAMOptions> = {
    lbClasses: options.lbClasses ?? [C.LB_CLASS_BGP, C.LB_CLASS_L2],
    defaultIPAM: options.defaultIPAM ?? true,
    ipv4Enabled: options.ipv4Enabled ?? true,
    ipv6Enabled: options.ipv6Enabled ?? true,
    protocolDifferentiation: options.protocolDifferentiation ?? true,
  };
  const poolStates = pools.map(buildPool).sort(byAgeThenName);
  settleConflicts(poolStates);
  const alloc = new Allocation(poolStates, opts.protocolDifferentiation);

  const released: ReleasedService[] = [];
  const svcs: Svc[] = [];
  for (const s of services) {
    if (isResponsible(s, opts)) {
      svcs.push(buildService(s, opts));
    } else if ((s.status?.conditions ?? []).some((c) => c.type === C.CONDITION_REQUEST_SATISFIED)) {
      const namespace = s.metadata?.namespace ?? '';
      const name = s.metadata?.name ?? '';
      released.push({ key: `${namespace}/${name}`, namespace, name });
    }
  }
  svcs.sort(serviceOrder);

  for (const svc of svcs) for (const ip of svc.existing) alloc.importExisting(svc, ip);
  for (const svc of svcs) {
    if (alloc.isSatisfied(svc)) continue;
    if (svc.requested.length > 0) alloc.satisfySpecific(svc);
    else alloc.satisfyGeneric(svc);
  }

  const results: ServiceResult[] = svcs.map((svc) => {
    const satisfied = alloc.isSatisfied(svc);
    const failure = svc.failure ?? {
      reason: C.REASON_NO_POOL,
      message: 'There are no enabled CiliumLoadBalancerIPPools that match this service',
    };
    return {
      key: svc.key,
      namespace: svc.namespace,
      name: svc.name,
      ...(svc.uid !== undefined ? { uid: svc.uid } : {}),
      ingressIPs: svc.allocated.map((g) => formatAddr(g.ip.family, g.ip.value)),
      allocations: svc.allocated.map((g) => ({
        ip: formatAddr(g.ip.family, g.ip.value),
        pool: g.range.pool.name,
        sharedWith: g.members
          .filter((m) => m !== svc)
          .map((m) => m.key)
          .sort(),
      })),
      satisfied,
      condition: satisfied
        ? { type: C.CONDITION_REQUEST_SATISFIED, status: 'True', reason: C.REASON_SATISFIED, message: '' }
        : { type: C.CONDITION_REQUEST_SATISFIED, status: 'False', reason: failure.reason, message: failure.message },
      warnings: svc.warnings,
    };
  });
  results.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  released.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));

  const poolResults = poolStates.map(poolResult).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return {
    services: results,
    released,
    pools: poolResults,
    conflictingPools: poolResults.filter((p) => p.conflicting).map((p) => p.name),
  };
}

// ---------------------------------------------------------------------------------------------
// Conditions

export interface StatusCondition extends DesiredCondition {
  lastTransitionTime: string;
  observedGeneration?: number;
}

/**
 * meta.SetStatusCondition for a list: desired conditions replace those of the same type, keeping
 * lastTransitionTime when the status did not change; conditions of other types are kept.
 */
export function mergeConditions<T extends StatusCondition>(
  existing: readonly T[] | undefined,
  desired: readonly DesiredCondition[],
  now: string,
  observedGeneration?: number,
): StatusCondition[] {
  const out: StatusCondition[] = (existing ?? []).filter((c) => !desired.some((d) => d.type === c.type));
  for (const d of desired) {
    const prev = (existing ?? []).find((c) => c.type === d.type);
    out.push({
      ...d,
      lastTransitionTime: prev && prev.status === d.status ? prev.lastTransitionTime : now,
      ...(observedGeneration !== undefined ? { observedGeneration } : {}),
    });
  }
  return out;
}
