// Per-node identities (Cilium's node-selector labels, 1.16+): every remote node gets an identity of
// its own, derived from its labels and allocated by this agent alone in the remote-node scope
// (REMOTE_NODE_IDENTITY_SCOPE | n, Cilium's IdentityScopeRemoteNode), never written to the cluster.
// The engine selects it by `toNodes`/`fromNodes` node selectors (one node only) and by the
// `remote-node` entity (its reserved:remote-node label, every remote node); the ipcache maps the
// node's addresses to it. This node itself stays `host` (1). Nodes with the same labels share one.
import {
  labelSetKey,
  nodeIdentityLabels,
  ReservedIdentity,
  REMOTE_NODE_IDENTITY_SCOPE,
  type LabelSet,
  type PolicyEngine,
} from '../policy/index.ts';

type Engine = Pick<PolicyEngine, 'upsertIdentity' | 'deleteIdentity' | 'upsertNode' | 'deleteNode'>;

export class NodeIdentities {
  readonly #nodeName: string;
  /** node name → its identity */
  readonly #byNode = new Map<string, number>();
  /** label set key → identity and how many nodes hold it */
  readonly #byLabels = new Map<string, { id: number; labels: LabelSet; refs: number }>();
  #next = 1;

  constructor(nodeName: string) {
    this.#nodeName = nodeName;
  }

  /** The identity of a node's addresses: host for this node, its own identity for the others. */
  identityOf(name: string): number {
    if (name === this.#nodeName) return ReservedIdentity.HOST;
    return this.#byNode.get(name) ?? ReservedIdentity.REMOTE_NODE;
  }

  /** node name → identity, as the ipcache reads it */
  entries(): ReadonlyMap<string, number> {
    return this.#byNode;
  }

  /**
   * A node was added or relabelled: (re)allocates its identity, tells the engine about the identity
   * and the node; returns the endpoints whose policy changed.
   */
  upsert(engine: Engine, name: string, labels: Readonly<Record<string, string>>): number[] {
    const changed = new Set<number>();
    if (name === this.#nodeName) {
      return engine.upsertNode({ name, labels, identity: ReservedIdentity.HOST });
    }
    const set = nodeIdentityLabels(labels);
    const key = labelSetKey(set);
    const before = this.#byNode.get(name);
    let entry = this.#byLabels.get(key);
    if (!entry || entry.id !== before) {
      if (!entry) {
        entry = { id: REMOTE_NODE_IDENTITY_SCOPE | this.#next++, labels: set, refs: 0 };
        this.#byLabels.set(key, entry);
        for (const e of engine.upsertIdentity(entry.id, set)) changed.add(e);
      }
      entry.refs++;
      this.#byNode.set(name, entry.id);
      if (before !== undefined) for (const e of this.#release(engine, before)) changed.add(e);
    }
    for (const e of engine.upsertNode({ name, labels, identity: entry.id })) changed.add(e);
    return [...changed];
  }

  /** A node went away: its identity is released when no other node holds it. */
  delete(engine: Engine, name: string): number[] {
    const changed = new Set(engine.deleteNode(name));
    const id = this.#byNode.get(name);
    this.#byNode.delete(name);
    if (id !== undefined) for (const e of this.#release(engine, id)) changed.add(e);
    return [...changed];
  }

  #release(engine: Engine, id: number): number[] {
    for (const [key, entry] of this.#byLabels) {
      if (entry.id !== id) continue;
      if (--entry.refs > 0) return [];
      this.#byLabels.delete(key);
      return engine.deleteIdentity(id);
    }
    return [];
  }
}
