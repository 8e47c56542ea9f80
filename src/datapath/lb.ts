// The service maps' writer: LbService[] (frontends with their numbered backends, ids assigned by
// the agent) -> cilium_lb{4,6}_* by difference, and back (restore) after a restart so the agent
// keeps its ids. Layout, as Cilium's lbmap writes it:
//   services     slot 0 = the frontend {count, rev-NAT id, flags, affinity timeout}; slots 1..count
//                = the backends a new flow may pick (selectableBackends: the active ones, else the
//                terminating ones); the frontend's other backends follow in slots count+1.., where
//                the datapath never picks them but restore finds them.
//   backends     backend id -> address, port, protocol, state
//   reverse NAT  rev-NAT id -> frontend; affinity match {backend, rev-NAT} for affinity services
//   source range {rev-NAT id, client prefix} for frontends with loadBalancerSourceRanges
//   Maglev       rev-NAT id -> a new inner table, swapped in with one update of the outer map
// Writes go in an order that never shows the datapath a slot without its backend: new backends,
// rev-NAT, match and range entries first, then the services, then the removals.
import type { Addon } from './addon.ts';
import type { BpfMap } from './bpf-map.ts';
import type { LbBackendValue, LbKey, LbServiceValue } from './codecs.ts';
import { BackendStateCode, IpProto, MapFlags, MapType, SvcFlags, SvcFlags2 } from './constants.ts';
import { familyOf, type Family } from './ip.ts';
import type { LbFamilyMaps, LbMapSet } from './lb-maps.ts';
import { maglevTable } from './maglev.ts';
import { selectableBackends } from '../services/selectable-backends.ts';
import type { BackendState, Frontend, FrontendType, L4Proto } from '../services/types.ts';

export interface LbBackend {
  id: number;
  address: string;
  port: number;
  protocol: L4Proto;
  state: BackendState;
}

export interface LbService {
  /** the service id, which is also its rev-NAT id (1..65535) */
  id: number;
  frontend: Frontend;
  backends: LbBackend[];
  /** ClientIP session affinity timeout; absent: no affinity */
  affinityTimeoutSec?: number;
  /** client prefixes (both families); non-empty: only clients inside one of them of the frontend's family */
  sourceRanges: string[];
  externalTrafficLocal?: boolean;
  internalTrafficLocal?: boolean;
}

/** Counts of frontends: new, with any entry rewritten, gone, untouched. */
export interface LbSyncResult {
  added: number;
  changed: number;
  removed: number;
  unchanged: number;
  /** Maglev tables built and swapped in */
  maglevReplaced: number;
}

export interface LbMapsOptions {
  /** Maglev hash seed (Cilium's --bpf-lb-maglev-hash-seed, as a number). */
  maglevSeed?: number;
  /** Which frontends get a Maglev table (north-south); default: every one but ClusterIP. */
  maglevFor?: (svc: LbService) => boolean;
}

export interface LbDatapath {
  addon: Addon;
  lb: LbMapSet;
  maglevTableSize: number;
}

const protoNumber: Record<L4Proto, number> = { TCP: IpProto.TCP, UDP: IpProto.UDP, SCTP: 132 };
const protoName = (n: number): L4Proto => (n === IpProto.UDP ? 'UDP' : n === 132 ? 'SCTP' : 'TCP');
const stateName = (n: number): BackendState =>
  (Object.entries(BackendStateCode).find(([, v]) => v === n)?.[0] as BackendState | undefined) ?? 'active';

const typeFlags: Record<FrontendType, number> = {
  ClusterIP: 0,
  NodePort: SvcFlags.NODEPORT | SvcFlags.ROUTABLE,
  LoadBalancer: SvcFlags.LOADBALANCER | SvcFlags.ROUTABLE,
  ExternalIP: SvcFlags.EXTERNAL_IP | SvcFlags.ROUTABLE,
  HostPort: SvcFlags.HOSTPORT | SvcFlags.ROUTABLE,
};
function typeOf(flags: number): FrontendType {
  if (flags & SvcFlags.NODEPORT) return 'NodePort';
  if (flags & SvcFlags.LOADBALANCER) return 'LoadBalancer';
  if (flags & SvcFlags.EXTERNAL_IP) return 'ExternalIP';
  if (flags & SvcFlags.HOSTPORT) return 'HostPort';
  return 'ClusterIP';
}

/**
 * One state per backend: the backends map holds a backend once, but two Services may see the same
 * pod address in different states (ready behind one, terminating behind another's slice). The most
 * usable state wins; each Service's slot layout still follows its own view of the backend.
 */
const STATE_RANK: Record<BackendState, number> = { active: 0, terminating: 1, quarantined: 2, maintenance: 3 };
const STATE_BY_RANK: BackendState[] = ['active', 'terminating', 'quarantined', 'maintenance'];
const bestState = (counts: readonly number[] | undefined): BackendState | undefined => {
  const i = counts?.findIndex((n) => n > 0) ?? -1;
  return i < 0 ? undefined : STATE_BY_RANK[i];
};

function backendStates(services: readonly LbService[]): Map<number, BackendState> {
  const rank = STATE_RANK;
  const out = new Map<number, BackendState>();
  for (const svc of services) {
    for (const b of svc.backends) {
      const cur = out.get(b.id);
      if (cur === undefined || rank[b.state] < rank[cur]) out.set(b.id, b.state);
    }
  }
  return out;
}

/** The frontend identity a services-map key belongs to (any slot). */
const frontendId = (f: Family, k: LbKey): string => `${f}|${k.address}|${k.port}|${k.protocol}|${k.scope}`;

/** What one map should hold, and the frontends each entry belongs to (for the per-frontend counts). */
class Desired<K, V> {
  readonly entries = new Map<string, { key: K; value: V; kb: Buffer; vb: Buffer; owners: Set<string> }>();
  readonly map: BpfMap<K, V>;
  constructor(map: BpfMap<K, V>) {
    this.map = map;
  }
  add(key: K, value: V, owner: string, what: string): void {
    const kb = this.map.keyCodec.encode(key);
    const vb = this.map.valueCodec.encode(value);
    const id = kb.toString('latin1');
    const cur = this.entries.get(id);
    if (cur && !cur.vb.equals(vb)) {
      throw new Error(
        `${this.map.name}: ${what} is wanted with two different values; check the ids the agent assigned`,
      );
    }
    if (cur) cur.owners.add(owner);
    else this.entries.set(id, { key, value, kb, vb, owners: new Set([owner]) });
  }
}

interface Plan {
  writes: Array<[Buffer, Buffer]>;
  deletes: Buffer[];
  /** frontends whose entries are written */
  dirty: Set<string>;
  /** keys being deleted, for the frontends they belonged to */
  deletedKeys: Buffer[];
}

function plan<K, V>(d: Desired<K, V>): Plan {
  const have = new Map<string, Buffer>();
  for (const [k, v] of d.map.rawEntries()) have.set(k.toString('latin1'), v);
  const writes: Array<[Buffer, Buffer]> = [];
  const dirty = new Set<string>();
  for (const [id, e] of d.entries) {
    const cur = have.get(id);
    if (!cur || !cur.equals(e.vb)) {
      writes.push([e.kb, e.vb]);
      for (const o of e.owners) dirty.add(o);
    }
  }
  const deletes: Buffer[] = [];
  for (const id of have.keys()) if (!d.entries.has(id)) deletes.push(Buffer.from(id, 'latin1'));
  return { writes, deletes, dirty, deletedKeys: deletes };
}

interface FamilyDesired {
  services: Desired<LbKey, LbServiceValue>;
  backends: Desired<number, LbBackendValue>;
  reverseNat: Desired<number, { address: string; port: number }>;
  sourceRange: Desired<{ revNatId: number; cidr: string }, number>;
  /** rev-NAT id -> table, for the frontends that have one */
  maglev: Map<number, { table: Uint32Array; owner: string }>;
}

/** One map as the writer last left it: what each key should hold (and for which frontends), what it holds. */
interface MapMirror {
  desired: Map<string, { kb: Buffer; vb: Buffer; owners: Set<string> }>;
  kernel: Map<string, Buffer>;
}

/**
 * What the last sync or apply wrote, kept so that apply() touches only the changed frontends' keys
 * without reading the maps back. Valid only after a write that completed; dropped on any error.
 */
interface Mirror {
  maps: Map<BpfMap<unknown, unknown>, MapMirror>;
  /** frontend owner → the keys its description produced, per map */
  owned: Map<string, Array<[BpfMap<unknown, unknown>, string]>>;
  /** frontend owner → the Maglev table key (family/rev-NAT id) it has */
  ownedMaglev: Map<string, string>;
  services: Map<string, LbService>;
  /** backend id → how many frontends list it in each state (by STATE_RANK), for the merged state */
  stateCounts: Map<number, number[]>;
}

/** A subset of the services changed: written (new or different) or removed. */
export interface LbChangeSet {
  upsert: readonly LbService[];
  remove: readonly Pick<LbService, 'frontend'>[];
}

export class LbMaps {
  private readonly dp: LbDatapath;
  private readonly seed: number;
  private readonly maglevFor: (svc: LbService) => boolean;
  /** rev-NAT id (per family) -> signature of the Maglev table last written or verified */
  private readonly maglevWritten = new Map<string, string>();
  private mirror: Mirror | undefined;

  constructor(dp: LbDatapath, opts: LbMapsOptions = {}) {
    this.dp = dp;
    this.seed = opts.maglevSeed ?? 0;
    this.maglevFor = opts.maglevFor ?? ((svc) => svc.frontend.type !== 'ClusterIP');
  }

  /** Converges every LB map on `services`, writing only the difference. */
  sync(services: readonly LbService[]): LbSyncResult {
    this.mirror = undefined;
    const fams = { 4: this.desiredFor(4), 6: this.desiredFor(6) } as Record<Family, FamilyDesired>;
    const match = new Desired(this.dp.lb.affinityMatch);
    const wantFrontends = new Set<string>();
    const twoScopes = twoScopeFrontends(services);
    const states = backendStates(services);

    for (const svc of services) {
      const f = familyOf(svc.frontend.address);
      const d = fams[f];
      const owner = `${f}|${svc.frontend.address}|${svc.frontend.port}|${protoNumber[svc.frontend.protocol]}|${svc.frontend.scope}`;
      wantFrontends.add(owner);
      this.describe(svc, f, d, match, owner, twoScopes.has(scopeless(svc.frontend)), states);
    }

    const plans = ([4, 6] as Family[]).map((f) => {
      const d = fams[f];
      return {
        f,
        d,
        services: plan(d.services),
        backends: plan(d.backends),
        reverseNat: plan(d.reverseNat),
        sourceRange: plan(d.sourceRange),
      };
    });
    const matchPlan = plan(match);
    const haveFrontends = new Set<string>();
    for (const f of [4, 6] as Family[]) {
      const maps = this.familyMaps(f);
      for (const [k] of maps.services.entries()) if (k.slot === 0) haveFrontends.add(frontendId(f, k));
    }

    // 1. what the services will point at
    for (const p of plans) {
      const maps = this.familyMaps(p.f);
      maps.backends.updateRaw(p.backends.writes);
      maps.reverseNat.updateRaw(p.reverseNat.writes);
      maps.sourceRange.updateRaw(p.sourceRange.writes);
    }
    this.dp.lb.affinityMatch.updateRaw(matchPlan.writes);
    // 2. Maglev tables, each swapped in whole
    const dirty = new Set<string>();
    let maglevReplaced = 0;
    for (const p of plans) {
      for (const [revNat, { table, owner }] of p.d.maglev) {
        if (this.replaceMaglevIfChanged(p.f, revNat, table)) {
          maglevReplaced++;
          dirty.add(owner);
        }
      }
    }
    // 3. the services (slots before their frontend entry: a count never runs ahead of its slots)
    for (const p of plans) {
      const maps = this.familyMaps(p.f);
      maps.services.updateRaw(p.services.writes);
      maps.services.deleteRaw(p.services.deletes);
      for (const kb of p.services.deletedKeys) dirty.add(frontendId(p.f, maps.services.keyCodec.decode(kb)));
    }
    // 4. what nothing points at any more
    for (const p of plans) {
      const maps = this.familyMaps(p.f);
      const keep = new Set(p.d.maglev.keys());
      for (const [revNat] of maps.maglev.entries()) {
        if (!keep.has(revNat)) {
          maps.maglev.delete(revNat);
          this.maglevWritten.delete(`${p.f}/${revNat}`);
        }
      }
      maps.backends.deleteRaw(p.backends.deletes);
      maps.reverseNat.deleteRaw(p.reverseNat.deletes);
      maps.sourceRange.deleteRaw(p.sourceRange.deletes);
      for (const kb of p.sourceRange.deletedKeys) {
        const revNatId = maps.sourceRange.keyCodec.decode(kb).revNatId;
        for (const s of services) if (s.id === revNatId) dirty.add(ownerOf(s));
      }
    }
    this.dp.lb.affinityMatch.deleteRaw(matchPlan.deletes);

    for (const p of plans) {
      for (const x of [p.services, p.backends, p.reverseNat, p.sourceRange]) for (const o of x.dirty) dirty.add(o);
    }
    for (const o of matchPlan.dirty) dirty.add(o);
    let added = 0,
      changed = 0,
      unchanged = 0;
    for (const fe of wantFrontends) {
      if (!haveFrontends.has(fe)) added++;
      else if (dirty.has(fe)) changed++;
      else unchanged++;
    }
    const removed = [...haveFrontends].filter((fe) => !wantFrontends.has(fe)).length;
    const desired = [...plans.flatMap((p) => [p.d.services, p.d.backends, p.d.reverseNat, p.d.sourceRange]), match];
    this.mirror = mirrorOf(
      services,
      desired,
      plans.map((p) => ({ f: p.f, maglev: p.d.maglev })),
    );
    return { added, changed, removed, unchanged, maglevReplaced };
  }

  /**
   * Writes only what a subset of frontends changed, against the mirror of what the last write left
   * (no map is read back). The first call, without a mirror, converges on restore() first.
   * Counts are over the frontends touched (and their other-scope twins).
   */
  apply(changes: LbChangeSet): LbSyncResult {
    if (!this.mirror) this.sync(this.restore());
    const m = this.mirror as Mirror;
    this.mirror = undefined; // until every write below went through
    const affected = new Set<string>();
    const frontendOf = new Map<string, Frontend>();
    const stateIds = new Set<number>();
    const count = (svc: LbService | undefined, d: number) => {
      for (const b of svc?.backends ?? []) {
        stateIds.add(b.id);
        const c = m.stateCounts.get(b.id) ?? [0, 0, 0, 0];
        c[STATE_RANK[b.state]]! += d;
        if (c.every((n) => n === 0)) m.stateCounts.delete(b.id);
        else m.stateCounts.set(b.id, c);
      }
    };
    const before = (ids: Iterable<number>) => new Map([...ids].map((id) => [id, bestState(m.stateCounts.get(id))]));
    for (const s of changes.remove) {
      const o = ownerOf(s);
      affected.add(o);
      frontendOf.set(o, s.frontend);
      count(m.services.get(o), 0);
    }
    for (const s of changes.upsert) {
      count(m.services.get(ownerOf(s)), 0);
      for (const b of s.backends) stateIds.add(b.id);
    }
    const statesBefore = before(stateIds);
    for (const s of changes.remove) {
      const o = ownerOf(s);
      count(m.services.get(o), -1);
      m.services.delete(o);
    }
    for (const s of changes.upsert) {
      const o = ownerOf(s);
      affected.add(o);
      frontendOf.set(o, s.frontend);
      count(m.services.get(o), -1);
      count(s, 1);
      m.services.set(o, s);
    }
    const states = new Map<number, BackendState>();
    for (const id of stateIds) {
      const st = bestState(m.stateCounts.get(id));
      if (st !== undefined) states.set(id, st);
    }
    for (const o of [...affected]) {
      const t = twinOf(o);
      const twin = m.services.get(t);
      if (twin) {
        affected.add(t);
        frontendOf.set(t, twin.frontend);
      }
    }
    const had = new Set<string>();
    for (const o of affected) {
      const fe = frontendOf.get(o) as Frontend;
      const f = familyOf(fe.address);
      const maps = this.familyMaps(f);
      const id = maps.services.keyCodec.encode({ ...lbKeyBase(fe), slot: 0 }).toString('latin1');
      if (m.maps.get(asAny(maps.services))?.kernel.has(id)) had.add(o);
    }

    // Take the affected frontends' old keys out, then put their new description in.
    const touched = new Map<BpfMap<unknown, unknown>, Map<string, Set<string>>>();
    const touch = (map: BpfMap<unknown, unknown>, id: string, prev?: Set<string>) => {
      let t = touched.get(map);
      if (!t) touched.set(map, (t = new Map<string, Set<string>>()));
      const p = t.get(id) ?? new Set<string>();
      for (const o of prev ?? []) p.add(o);
      t.set(id, p);
    };
    const oldMaglev = new Map<string, string>();
    for (const o of affected) {
      for (const [map, id] of m.owned.get(o) ?? []) {
        const mm = m.maps.get(map) as MapMirror;
        const e = mm.desired.get(id);
        e?.owners.delete(o);
        if (e && e.owners.size === 0) mm.desired.delete(id);
        touch(map, id, new Set([o]));
      }
      m.owned.delete(o);
      const mg = m.ownedMaglev.get(o);
      if (mg !== undefined) oldMaglev.set(mg, o);
      m.ownedMaglev.delete(o);
    }
    const fams = { 4: this.desiredFor(4), 6: this.desiredFor(6) } as Record<Family, FamilyDesired>;
    const match = new Desired(this.dp.lb.affinityMatch);
    for (const o of affected) {
      const s = m.services.get(o);
      if (!s) continue;
      const f = familyOf(s.frontend.address);
      this.describe(s, f, fams[f], match, o, m.services.has(twinOf(o)), states);
    }
    // A backend whose merged state moved is rewritten for every frontend that lists it.
    for (const [id, was] of statesBefore) {
      const now = states.get(id);
      if (now === undefined || now === was) continue;
      for (const f of [4, 6] as Family[]) {
        const map = this.familyMaps(f).backends;
        const mm = m.maps.get(asAny(map)) as MapMirror;
        const kid = map.keyCodec.encode(id).toString('latin1');
        const e = mm.desired.get(kid);
        if (!e) continue;
        e.vb = map.valueCodec.encode({ ...map.valueCodec.decode(e.vb), state: BackendStateCode[now] });
        touch(asAny(map), kid);
      }
    }
    for (const d of [
      ...([4, 6] as Family[]).flatMap((f) => [
        fams[f].services,
        fams[f].backends,
        fams[f].reverseNat,
        fams[f].sourceRange,
      ]),
      match,
    ] as Array<Desired<unknown, unknown>>) {
      const map = asAny(d.map);
      const mm = m.maps.get(map) as MapMirror;
      for (const [id, e] of d.entries) {
        const cur = mm.desired.get(id);
        if (cur && !cur.vb.equals(e.vb)) {
          throw new Error(
            `${map.name}: an entry is wanted with two different values; check the ids the agent assigned`,
          );
        }
        if (cur) for (const o of e.owners) cur.owners.add(o);
        else mm.desired.set(id, { kb: e.kb, vb: e.vb, owners: new Set(e.owners) });
        for (const o of e.owners) {
          let list = m.owned.get(o);
          if (!list) m.owned.set(o, (list = []));
          list.push([map, id]);
        }
        touch(map, id);
      }
    }

    const dirty = new Set<string>();
    const planOf = (map: BpfMap<unknown, unknown>): Plan & { prev: Set<string> } => {
      const mm = m.maps.get(map) as MapMirror;
      const writes: Array<[Buffer, Buffer]> = [];
      const deletes: Buffer[] = [];
      const prev = new Set<string>();
      for (const [id, owners] of touched.get(map) ?? []) {
        const want = mm.desired.get(id);
        const have = mm.kernel.get(id);
        if (want && (!have || !have.equals(want.vb))) {
          writes.push([want.kb, want.vb]);
          for (const o of want.owners) dirty.add(o);
        } else if (!want && have) {
          deletes.push(Buffer.from(id, 'latin1'));
          for (const o of owners) prev.add(o);
        }
      }
      return { writes, deletes, dirty: new Set(), deletedKeys: deletes, prev };
    };
    const write = (map: BpfMap<unknown, unknown>, p: Plan) => {
      const mm = m.maps.get(map) as MapMirror;
      map.updateRaw(p.writes);
      for (const [kb, vb] of p.writes) mm.kernel.set(kb.toString('latin1'), vb);
    };
    const remove = (map: BpfMap<unknown, unknown>, p: Plan) => {
      const mm = m.maps.get(map) as MapMirror;
      map.deleteRaw(p.deletes);
      for (const kb of p.deletes) mm.kernel.delete(kb.toString('latin1'));
    };
    const fam = ([4, 6] as Family[]).map((f) => {
      const maps = this.familyMaps(f);
      const all: Array<BpfMap<unknown, unknown>> = [
        asAny(maps.services),
        asAny(maps.backends),
        asAny(maps.reverseNat),
        asAny(maps.sourceRange),
      ];
      return { f, maps, all, plans: all.map(planOf) };
    });
    const matchMap = asAny(this.dp.lb.affinityMatch);
    const matchPlan = planOf(matchMap);
    // 1. what the services will point at
    for (const x of fam) for (let i = 1; i < 4; i++) write(x.all[i]!, x.plans[i]!);
    write(matchMap, matchPlan);
    // 2. Maglev tables
    let maglevReplaced = 0;
    for (const x of fam) {
      for (const [revNat, { table, owner }] of fams[x.f].maglev) {
        const key = `${x.f}/${revNat}`;
        m.ownedMaglev.set(owner, key);
        oldMaglev.delete(key);
        if (this.replaceMaglevIfChanged(x.f, revNat, table)) {
          maglevReplaced++;
          dirty.add(owner);
        }
      }
    }
    // 3. the services, then 4. what nothing points at any more
    for (const x of fam) {
      write(x.all[0]!, x.plans[0]!);
      remove(x.all[0]!, x.plans[0]!);
      for (const o of x.plans[0]!.prev) dirty.add(o);
    }
    for (const [key] of oldMaglev) {
      const [f, revNat] = key.split('/').map(Number) as [Family, number];
      this.familyMaps(f).maglev.delete(revNat);
      this.maglevWritten.delete(key);
    }
    for (const x of fam) {
      for (let i = 1; i < 4; i++) remove(x.all[i]!, x.plans[i]!);
      for (const o of x.plans[3]!.prev) if (m.services.has(o)) dirty.add(o);
    }
    remove(matchMap, matchPlan);

    let added = 0,
      changed = 0,
      removed = 0,
      unchanged = 0;
    for (const o of affected) {
      const want = m.services.has(o);
      if (want && !had.has(o)) added++;
      else if (!want && had.has(o)) removed++;
      else if (want && dirty.has(o)) changed++;
      else if (want) unchanged++;
    }
    this.mirror = m;
    return { added, changed, removed, unchanged, maglevReplaced };
  }

  /** The services as the pinned maps hold them (ids included), e.g. after an agent restart. */
  restore(): LbService[] {
    const out: LbService[] = [];
    for (const f of [4, 6] as Family[]) {
      const maps = this.familyMaps(f);
      const ranges = new Map<number, string[]>();
      for (const [k] of maps.sourceRange.entries()) ranges.set(k.revNatId, [...(ranges.get(k.revNatId) ?? []), k.cidr]);
      for (const [key, master] of maps.services.entries()) {
        if (key.slot !== 0) continue;
        const backends: LbBackend[] = [];
        for (let slot = 1; slot <= 0xffff; slot++) {
          const v = maps.services.lookup({ ...key, slot });
          if (!v) break;
          const b = maps.backends.lookup(v.backendId);
          if (!b) continue; // a slot whose backend vanished: the next sync rewrites it
          backends.push({
            id: v.backendId,
            address: b.address,
            port: b.port,
            protocol: protoName(b.protocol),
            state: stateName(b.state),
          });
        }
        const svc: LbService = {
          id: master.revNatIndex,
          frontend: {
            address: key.address,
            port: key.port,
            protocol: protoName(key.protocol),
            type: typeOf(master.flags),
            scope: key.scope,
          },
          backends,
          sourceRanges: (ranges.get(master.revNatIndex) ?? []).sort(),
          externalTrafficLocal: (master.flags & SvcFlags.EXT_LOCAL_SCOPE) !== 0,
          internalTrafficLocal: (master.flags2 & SvcFlags2.INT_LOCAL_SCOPE) !== 0,
        };
        if (master.flags & SvcFlags.AFFINITY) svc.affinityTimeoutSec = master.backendId;
        out.push(svc);
      }
    }
    return out.sort((a, b) => a.id - b.id);
  }

  /** The Maglev table of a frontend as the kernel holds it (empty when it has none). */
  maglevTableOf(family: Family, revNatId: number): Uint32Array {
    const id = this.familyMaps(family).maglev.lookup(revNatId);
    if (id === undefined) return new Uint32Array(0);
    const fd = this.dp.addon.mapGetFdById(id);
    try {
      return readInner(this.dp.addon, fd);
    } finally {
      this.dp.addon.closeFd(fd);
    }
  }

  private familyMaps(f: Family): LbFamilyMaps {
    return f === 4 ? this.dp.lb.v4 : this.dp.lb.v6;
  }

  private desiredFor(f: Family): FamilyDesired {
    const m = this.familyMaps(f);
    return {
      services: new Desired(m.services),
      backends: new Desired(m.backends),
      reverseNat: new Desired(m.reverseNat),
      sourceRange: new Desired(m.sourceRange),
      maglev: new Map(),
    };
  }

  private describe(
    svc: LbService,
    f: Family,
    d: FamilyDesired,
    match: Desired<{ backendId: number; revNatId: number }, number>,
    owner: string,
    twoScopes: boolean,
    states: ReadonlyMap<number, BackendState>,
  ): void {
    const fe = svc.frontend;
    const what = `service ${svc.id} (${fe.address}:${fe.port}/${fe.protocol} ${fe.scope})`;
    if (!Number.isInteger(svc.id) || svc.id < 1 || svc.id > 0xffff) throw new RangeError(`${what}: id out of 1..65535`);
    const selectable = new Set<unknown>(selectableBackends(svc.backends));
    const picked = svc.backends.filter((b) => selectable.has(b));
    const others = svc.backends.filter((b) => !selectable.has(b));
    const base = { address: fe.address, port: fe.port, protocol: protoNumber[fe.protocol], scope: fe.scope };
    const affinity = svc.affinityTimeoutSec !== undefined;
    [...picked, ...others].forEach((b, i) => {
      if (familyOf(b.address) !== f) throw new Error(`${what}: backend ${b.address} is not IPv${f}`);
      d.services.add(
        { ...base, slot: i + 1 },
        { backendId: b.id, count: 0, revNatIndex: svc.id, flags: 0, flags2: 0 },
        owner,
        what,
      );
      d.backends.add(
        b.id,
        {
          address: b.address,
          port: b.port,
          protocol: protoNumber[b.protocol],
          state: BackendStateCode[states.get(b.id) ?? b.state],
          clusterId: 0,
          zone: 0,
        },
        owner,
        `backend ${b.id}`,
      );
    });
    let flags = typeFlags[fe.type];
    let flags2 = 0;
    if (affinity) flags |= SvcFlags.AFFINITY;
    if (svc.sourceRanges.length > 0) flags |= SvcFlags.SOURCE_RANGE;
    if (svc.externalTrafficLocal) flags |= SvcFlags.EXT_LOCAL_SCOPE;
    if (svc.internalTrafficLocal) flags2 |= SvcFlags2.INT_LOCAL_SCOPE;
    if (twoScopes) flags2 |= SvcFlags2.TWO_SCOPES;
    d.services.add(
      { ...base, slot: 0 },
      {
        backendId: affinity ? (svc.affinityTimeoutSec ?? 0) : 0,
        count: picked.length,
        revNatIndex: svc.id,
        flags,
        flags2,
      },
      owner,
      what,
    );
    d.reverseNat.add(svc.id, { address: fe.address, port: fe.port }, owner, `rev-NAT ${svc.id}`);
    for (const cidr of svc.sourceRanges) {
      if (familyOf(cidr.split('/')[0] ?? '') === f) d.sourceRange.add({ revNatId: svc.id, cidr }, 1, owner, what);
    }
    if (affinity) for (const b of picked) match.add({ backendId: b.id, revNatId: svc.id }, 1, owner, what);
    if (this.maglevFor(svc) && picked.length > 0) {
      const table = maglevTable(
        picked.map((b) => ({ id: b.id, name: `${b.address}:${b.port}/${b.protocol}` })),
        this.dp.maglevTableSize,
        this.seed,
      );
      d.maglev.set(svc.id, { table, owner });
    }
  }

  /** Builds a new inner table and swaps it in with one outer update, unless the kernel has it already. */
  private replaceMaglevIfChanged(f: Family, revNat: number, table: Uint32Array): boolean {
    const sig = Buffer.from(table.buffer, table.byteOffset, table.byteLength).toString('base64');
    const cacheKey = `${f}/${revNat}`;
    if (this.maglevWritten.get(cacheKey) === sig) return false;
    const current = this.maglevTableOf(f, revNat);
    if (current.length === table.length && current.every((v, i) => v === table[i])) {
      this.maglevWritten.set(cacheKey, sig);
      return false;
    }
    const { addon } = this.dp;
    const fd = addon.mapCreate({
      type: MapType.ARRAY,
      keySize: 4,
      valueSize: 4,
      maxEntries: table.length,
      flags: MapFlags.INNER_MAP,
      name: `cilium_mgl${f}_${revNat}`,
    });
    try {
      const keys = Buffer.alloc(table.length * 4);
      for (let i = 0; i < table.length; i++) keys.writeUInt32LE(i, i * 4);
      const values = Buffer.from(table.buffer, table.byteOffset, table.byteLength);
      addon.mapUpdateBatch(fd, keys, Buffer.from(values), 0);
      this.familyMaps(f).maglev.update(revNat, fd);
    } finally {
      addon.closeFd(fd); // the outer map holds its own reference
    }
    this.maglevWritten.set(cacheKey, sig);
    return true;
  }
}

function readInner(addon: Addon, fd: number): Uint32Array {
  const info = addon.mapInfo(fd);
  const out = new Uint32Array(info.maxEntries);
  let token: Buffer | null = null;
  for (;;) {
    const r = addon.mapLookupBatch(fd, 4096, token);
    for (let i = 0; i < r.count; i++) out[r.keys.readUInt32LE(i * 4)] = r.values.readUInt32LE(i * 4);
    if (!r.nextBatch) return out;
    token = r.nextBatch;
  }
}

const scopeless = (fe: Frontend): string => `${fe.address}|${fe.port}|${fe.protocol}`;
const ownerOf = (s: Pick<LbService, 'frontend'>): string =>
  `${familyOf(s.frontend.address)}|${s.frontend.address}|${s.frontend.port}|${protoNumber[s.frontend.protocol]}|${s.frontend.scope}`;

/** Frontends listed with both scopes: their lookups switch to the internal scope for pods. */
function twoScopeFrontends(services: readonly LbService[]): Set<string> {
  const scopes = new Map<string, Set<string>>();
  for (const s of services) {
    const k = scopeless(s.frontend);
    scopes.set(k, (scopes.get(k) ?? new Set()).add(s.frontend.scope));
  }
  return new Set([...scopes].filter(([, v]) => v.size > 1).map(([k]) => k));
}

const lbKeyBase = (fe: Frontend) => ({
  address: fe.address,
  port: fe.port,
  protocol: protoNumber[fe.protocol],
  scope: fe.scope,
});

/** The other-scope owner of the same address/port/protocol. */
function twinOf(owner: string): string {
  return owner.endsWith('|external') ? `${owner.slice(0, -9)}|internal` : `${owner.slice(0, -9)}|external`;
}

// The mirror keys maps by identity whatever their key and value types.
const asAny = <K, V>(m: BpfMap<K, V>): BpfMap<unknown, unknown> => m;

/** The mirror after a full sync: the kernel now holds exactly what was desired. */
function mirrorOf(
  services: readonly LbService[],
  desired: ReadonlyArray<Desired<unknown, unknown>>,
  maglev: ReadonlyArray<{ f: Family; maglev: FamilyDesired['maglev'] }>,
): Mirror {
  const m: Mirror = {
    maps: new Map(),
    owned: new Map(),
    ownedMaglev: new Map(),
    services: new Map(),
    stateCounts: new Map(),
  };
  for (const s of services) {
    m.services.set(ownerOf(s), s);
    for (const b of s.backends) {
      const c = m.stateCounts.get(b.id) ?? [0, 0, 0, 0];
      c[STATE_RANK[b.state]]! += 1;
      m.stateCounts.set(b.id, c);
    }
  }
  for (const d of desired) {
    const mm: MapMirror = { desired: new Map(), kernel: new Map() };
    const map = asAny(d.map);
    m.maps.set(map, mm);
    for (const [id, e] of d.entries) {
      mm.desired.set(id, { kb: e.kb, vb: e.vb, owners: e.owners });
      mm.kernel.set(id, e.vb);
      for (const o of e.owners) {
        let list = m.owned.get(o);
        if (!list) m.owned.set(o, (list = []));
        list.push([map, id]);
      }
    }
  }
  for (const { f, maglev: tables } of maglev)
    for (const [revNat, { owner }] of tables) m.ownedMaglev.set(owner, `${f}/${revNat}`);
  return m;
}
