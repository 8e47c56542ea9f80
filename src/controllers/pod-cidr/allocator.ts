// Pod-CIDR allocation for IPAM mode cluster-pool: carve each cluster CIDR into node-sized subnets
// (clusterPoolIPv4PodCIDRList / clusterPoolIPv4MaskSize and the IPv6 twins) and give every
// CiliumNode one subnet per enabled family, in spec.ipam.podCIDRs.
// Pure and deterministic: the controller passes every node with what it already has; existing
// valid assignments are kept, so a restart changes nothing. Failures never throw: they come back
// per node as the text for status.ipam.operator-status.error, like Cilium's operator writes it.

import {
  type Family,
  type Prefix,
  familyBits,
  formatPrefix,
  parsePrefix,
  prefixRange,
  rangeAsPrefix,
} from '../../lib/ip.ts';

export interface FamilyPoolConfig {
  /** Cluster CIDRs, tried in order. */
  cidrs: readonly string[];
  /** Prefix length of each node's pod CIDR. */
  maskSize: number;
}

export interface PodCIDRConfig {
  ipv4?: FamilyPoolConfig;
  ipv6?: FamilyPoolConfig;
}

export interface PodCIDRNodeInput {
  name: string;
  /** spec.ipam.podCIDRs as currently stored on the CiliumNode. */
  podCIDRs?: readonly string[];
}

export interface PodCIDRNodeResult {
  name: string;
  /** Desired spec.ipam.podCIDRs: IPv4 first, then IPv6, as Cilium writes them. */
  podCIDRs: string[];
  /** Desired status.ipam.operator-status.error; '' when allocation succeeded. */
  error: string;
  /** Whether podCIDRs differs from the input's. */
  changed: boolean;
  /** Existing entries that were not kept, and why (for logs and events). */
  dropped: { cidr: string; reason: string }[];
}

export interface FamilyUsage {
  family: Family;
  total: bigint;
  used: bigint;
}

export interface PodCIDRResult {
  /** Sorted by node name. */
  nodes: PodCIDRNodeResult[];
  /** Problems with the configuration itself (a bad CIDR or mask size); those CIDRs are skipped. */
  configErrors: string[];
  usage: FamilyUsage[];
}

/** Text of Kubernetes' cidrset error, which Cilium's operator writes to the node when a pool runs out. */
export const ERR_NO_REMAINING_CIDRS =
  'CIDR allocation failed; there are no remaining CIDRs left to allocate in the accepted range';

interface ClusterPool {
  prefix: Prefix;
  maskSize: number;
  /** Index of each allocated subnet within the cluster CIDR. */
  used: Set<bigint>;
  count: bigint;
  /** Lowest index that may be free; indices below it are all in use during this run. */
  cursor: bigint;
}

interface FamilyPools {
  family: Family;
  pools: ClusterPool[];
}

function buildFamily(family: Family, cfg: FamilyPoolConfig | undefined, errors: string[]): FamilyPools | undefined {
  if (!cfg) return undefined;
  const fam: FamilyPools = { family, pools: [] };
  const width = familyBits(family);
  for (const c of cfg.cidrs) {
    const p = parsePrefix(c);
    if (!p || p.addr.family !== family) {
      errors.push(`invalid IPv${family} cluster CIDR '${c}'`);
      continue;
    }
    if (!Number.isInteger(cfg.maskSize) || cfg.maskSize < p.bits || cfg.maskSize > width) {
      errors.push(`IPv${family} mask size ${cfg.maskSize} does not fit cluster CIDR '${c}'`);
      continue;
    }
    const r = prefixRange(p);
    const normalized = rangeAsPrefix(r)!;
    if (fam.pools.some((q) => q.prefix.addr.value === normalized.addr.value && q.prefix.bits === normalized.bits))
      continue;
    fam.pools.push({
      prefix: normalized,
      maskSize: cfg.maskSize,
      used: new Set(),
      count: 1n << BigInt(cfg.maskSize - p.bits),
      cursor: 0n,
    });
  }
  return fam;
}

function subnetPrefix(pool: ClusterPool, index: bigint): Prefix {
  const shift = BigInt(familyBits(pool.prefix.addr.family) - pool.maskSize);
  return {
    addr: { family: pool.prefix.addr.family, value: pool.prefix.addr.value + (index << shift) },
    bits: pool.maskSize,
  };
}

/** Where an existing pod CIDR sits in the cluster pools, or why it cannot be kept. */
function locate(fam: FamilyPools, p: Prefix): { pool: ClusterPool; index: bigint } | string {
  const r = prefixRange(p);
  if (r.first !== p.addr.value) return 'not a network address';
  for (const pool of fam.pools) {
    const pr = prefixRange(pool.prefix);
    if (r.first < pr.first || r.last > pr.last) continue;
    if (p.bits !== pool.maskSize)
      return `prefix length /${p.bits} differs from the configured mask size /${pool.maskSize}`;
    const shift = BigInt(familyBits(p.addr.family) - pool.maskSize);
    return { pool, index: (r.first - pr.first) >> shift };
  }
  return 'outside every cluster CIDR';
}

function allocateNext(fam: FamilyPools): { pool: ClusterPool; index: bigint } | undefined {
  for (const pool of fam.pools) {
    while (pool.cursor < pool.count && pool.used.has(pool.cursor)) pool.cursor++;
    if (pool.cursor < pool.count) return { pool, index: pool.cursor };
  }
  return undefined;
}

export function allocatePodCIDRs(config: PodCIDRConfig, nodes: readonly PodCIDRNodeInput[]): PodCIDRResult {
  const configErrors: string[] = [];
  const families = [buildFamily(4, config.ipv4, configErrors), buildFamily(6, config.ipv6, configErrors)].filter(
    (f): f is FamilyPools => f !== undefined,
  );
  const sorted = [...nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const owner = new Map<string, string>(); // formatted subnet -> node
  const kept = new Map<string, Map<Family, string>>();
  const dropped = new Map<string, { cidr: string; reason: string }[]>();

  // Pass 1: every node keeps what it has, when valid and not already claimed (by name order).
  for (const node of sorted) {
    const mine = new Map<Family, string>();
    const drops: { cidr: string; reason: string }[] = [];
    for (const raw of node.podCIDRs ?? []) {
      const p = parsePrefix(raw);
      if (!p) {
        drops.push({ cidr: raw, reason: 'not a CIDR' });
        continue;
      }
      const fam = families.find((f) => f.family === p.addr.family);
      if (!fam) {
        drops.push({ cidr: raw, reason: `no IPv${p.addr.family} cluster pool is configured` });
        continue;
      }
      if (mine.has(fam.family)) {
        drops.push({ cidr: raw, reason: `the node already has an IPv${fam.family} pod CIDR` });
        continue;
      }
      const where = locate(fam, p);
      if (typeof where === 'string') {
        drops.push({ cidr: raw, reason: where });
        continue;
      }
      const text = formatPrefix(p);
      const holder = owner.get(text);
      if (holder !== undefined) {
        drops.push({ cidr: raw, reason: `requested CIDR ${text} is already allocated to node ${holder}` });
        continue;
      }
      where.pool.used.add(where.index);
      owner.set(text, node.name);
      mine.set(fam.family, text);
    }
    kept.set(node.name, mine);
    dropped.set(node.name, drops);
  }

  // Pass 2: fill in missing families, all or nothing per node (as Cilium reverts a half allocation).
  const results: PodCIDRNodeResult[] = [];
  for (const node of sorted) {
    const mine = kept.get(node.name)!;
    const fresh: { fam: FamilyPools; pool: ClusterPool; index: bigint }[] = [];
    let error = '';
    for (const fam of families) {
      if (mine.has(fam.family)) continue;
      const next = allocateNext(fam);
      if (!next) {
        error = `IPv${fam.family}: ${ERR_NO_REMAINING_CIDRS}`;
        break;
      }
      next.pool.used.add(next.index);
      fresh.push({ fam, ...next });
    }
    if (error !== '') {
      for (const f of fresh) {
        f.pool.used.delete(f.index);
        if (f.index < f.pool.cursor) f.pool.cursor = f.index;
      }
    } else {
      for (const f of fresh) {
        const text = formatPrefix(subnetPrefix(f.pool, f.index));
        owner.set(text, node.name);
        mine.set(f.fam.family, text);
      }
    }
    const podCIDRs = ([4, 6] as const).flatMap((f) => (mine.has(f) ? [mine.get(f)!] : []));
    const before = node.podCIDRs ?? [];
    results.push({
      name: node.name,
      podCIDRs,
      error,
      changed: podCIDRs.length !== before.length || podCIDRs.some((c, i) => c !== before[i]),
      dropped: dropped.get(node.name)!,
    });
  }

  const usage = families.map((f) => ({
    family: f.family,
    total: f.pools.reduce((n, p) => n + p.count, 0n),
    used: f.pools.reduce((n, p) => n + BigInt(p.used.size), 0n),
  }));
  return { nodes: results, configErrors, usage };
}
