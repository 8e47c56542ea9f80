// The service table kept up to date object by object: a change to one Service (or its slices, or one
// pod's hostPorts) recomputes that object's entries alone and re-decides only the frontends it
// claimed before or claims now. Same rules, same result as buildServiceTable on the same objects
// (tested as a property over random change sequences): conflicts between objects are decided per
// frontend key among every object that claims it, with table.ts's order.
import { cmpStr, sliceServiceKey } from './endpoints.ts';
import { hostPortEntries } from './host-ports.ts';
import { frontendKey } from './ids.ts';
import { compareFrontend, sortByL4 } from './order.ts';
import { serviceEntries, skipReason } from './service-entries.ts';
import { better, createdAt, TYPE_RANK, type Candidate } from './table.ts';
import type {
  EndpointSliceInput,
  FrontendConflict,
  NodeInput,
  PodInput,
  ServiceEntry,
  ServiceInput,
  TableOptions,
} from './types.ts';

/** `namespace/name` of an object. */
export function objectKey(o: { metadata?: { namespace?: string; name?: string } }): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

interface Claim extends Candidate {
  /** the entry's identity for change detection (entries are built deterministically) */
  sig: string;
}

/** The frontends whose winning entry changed in one flush; `undefined`: the frontend is gone. */
export type TableChanges = Map<string, ServiceEntry | undefined>;

export class IncrementalServiceTable {
  readonly #options: TableOptions | undefined;
  #node: NodeInput;
  readonly #services = new Map<string, ServiceInput>();
  /** slice key → the Service key it belongs to (undefined: orphan) and the slice */
  readonly #slices = new Map<string, { svc: string | undefined; slice: EndpointSliceInput }>();
  readonly #slicesBySvc = new Map<string, Map<string, EndpointSliceInput>>();
  readonly #pods = new Map<string, PodInput>();
  /** source ('s:ns/name' or 'p:ns/name') → its claims */
  readonly #claims = new Map<string, Claim[]>();
  /** frontend key → every claim on it */
  readonly #claimants = new Map<string, Set<Claim>>();
  readonly #winners = new Map<string, Claim>();
  readonly #dirty = new Set<string>();

  constructor(node: NodeInput, options?: TableOptions) {
    this.#node = { name: node.name, addresses: [...node.addresses] };
    this.#options = options;
  }

  /** A Service was added or updated (`svc`) or deleted (undefined). */
  setService(key: string, svc: ServiceInput | undefined): void {
    if (svc) this.#services.set(key, svc);
    else this.#services.delete(key);
    this.#dirty.add(`s:${key}`);
  }

  /** An EndpointSlice was added or updated (`slice`) or deleted (undefined). */
  setSlice(key: string, slice: EndpointSliceInput | undefined): void {
    const old = this.#slices.get(key);
    if (old?.svc !== undefined) {
      this.#slicesBySvc.get(old.svc)?.delete(key);
      this.#dirty.add(`s:${old.svc}`);
    }
    if (!slice) {
      this.#slices.delete(key);
      return;
    }
    const svc = sliceServiceKey(slice);
    this.#slices.set(key, { svc, slice });
    if (svc === undefined) return;
    let m = this.#slicesBySvc.get(svc);
    if (!m) this.#slicesBySvc.set(svc, (m = new Map<string, EndpointSliceInput>()));
    m.set(key, slice);
    this.#dirty.add(`s:${svc}`);
  }

  /** One of this node's pods was added or updated (`pod`) or deleted (undefined). */
  setPod(key: string, pod: PodInput | undefined): void {
    if (pod) this.#pods.set(key, pod);
    else this.#pods.delete(key);
    this.#dirty.add(`p:${key}`);
  }

  /** This node's addresses; a change recomputes every object (NodePort and hostPort frontends use them). */
  setNode(node: NodeInput): void {
    const same =
      node.name === this.#node.name &&
      node.addresses.length === this.#node.addresses.length &&
      node.addresses.every((a, i) => a === this.#node.addresses[i]);
    if (same) return;
    this.#node = { name: node.name, addresses: [...node.addresses] };
    for (const k of this.#services.keys()) this.#dirty.add(`s:${k}`);
    for (const k of this.#pods.keys()) this.#dirty.add(`p:${k}`);
    for (const k of this.#claims.keys()) this.#dirty.add(k);
  }

  get dirty(): number {
    return this.#dirty.size;
  }

  /** Recomputes the changed objects; returns the frontends whose winning entry changed. */
  flush(): TableChanges {
    const touched = new Set<string>();
    for (const source of this.#dirty) {
      for (const c of this.#claims.get(source) ?? []) {
        const fk = frontendKey(c.entry.frontend);
        touched.add(fk);
        const set = this.#claimants.get(fk);
        set?.delete(c);
        if (set?.size === 0) this.#claimants.delete(fk);
      }
      const next = this.#compute(source);
      if (next.length) this.#claims.set(source, next);
      else this.#claims.delete(source);
      for (const c of next) {
        const fk = frontendKey(c.entry.frontend);
        touched.add(fk);
        let set = this.#claimants.get(fk);
        if (!set) this.#claimants.set(fk, (set = new Set()));
        set.add(c);
      }
    }
    this.#dirty.clear();
    const changes: TableChanges = new Map();
    for (const fk of touched) {
      const before = this.#winners.get(fk);
      let win: Claim | undefined;
      for (const c of this.#claimants.get(fk) ?? []) if (!win || better(c, win) < 0) win = c;
      if (win) this.#winners.set(fk, win);
      else this.#winners.delete(fk);
      if (before?.sig !== win?.sig) changes.set(fk, win?.entry);
    }
    return changes;
  }

  /** Every winning entry, in the table's order (as buildServiceTable's `entries`). */
  entries(): ServiceEntry[] {
    return sortByL4(
      [...this.#winners.values()].map((c) => c.entry),
      (e) => e.frontend,
    );
  }

  /** The winning entry of one frontend key. */
  entry(fk: string): ServiceEntry | undefined {
    return this.#winners.get(fk)?.entry;
  }

  /** The losers of every contested frontend (as buildServiceTable's `conflicts`). */
  conflicts(): FrontendConflict[] {
    const out: FrontendConflict[] = [];
    for (const [fk, set] of this.#claimants) {
      if (set.size < 2) continue;
      const win = this.#winners.get(fk);
      for (const l of set) {
        if (l === win) continue;
        out.push({
          frontend: { ...l.entry.frontend },
          kept: { ...(win?.entry.service ?? l.entry.service) },
          dropped: { ...l.entry.service, type: l.entry.frontend.type },
        });
      }
    }
    return out.sort(
      (a, b) =>
        compareFrontend(a.frontend, b.frontend) ||
        cmpStr(a.dropped.namespace, b.dropped.namespace) ||
        cmpStr(a.dropped.name, b.dropped.name) ||
        TYPE_RANK[a.dropped.type] - TYPE_RANK[b.dropped.type],
    );
  }

  #compute(source: string): Claim[] {
    const key = source.slice(2);
    const claim = (entry: ServiceEntry, ownerRank: number, created: number): Claim => ({
      entry,
      ownerRank,
      created,
      sig: JSON.stringify(entry),
    });
    if (source.startsWith('s:')) {
      const svc = this.#services.get(key);
      if (!svc || skipReason(svc) !== undefined) return [];
      const slices = [...(this.#slicesBySvc.get(key)?.entries() ?? [])]
        .sort(([a], [b]) => cmpStr(a, b))
        .map(([, s]) => s);
      const created = createdAt(svc.metadata?.creationTimestamp);
      return serviceEntries(svc, slices, this.#node, this.#options).map((e) => claim(e, 0, created));
    }
    const pod = this.#pods.get(key);
    if (!pod) return [];
    const created = createdAt(pod.metadata?.creationTimestamp);
    return hostPortEntries(pod, this.#node, this.#options).map((e) => claim(e, 1, created));
  }
}
