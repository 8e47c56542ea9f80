// Cilium's local CIDR identities: every CIDR prefix a rule names gets a node-local identity
// (LOCAL_IDENTITY_FLAG | n) with cidr: labels, so the engine can select it and the ipcache can map
// the prefix to it. Never shared with other nodes; a prefix no rule names any more loses its id.
import { cidrIdentityLabels, LOCAL_IDENTITY_FLAG, type PolicyEngine } from '../policy/index.ts';

export class CidrIdentities {
  /** prefix → node-local identity */
  readonly #ids = new Map<string, number>();
  #next = 1;

  /** Gives every prefix the engine's rules need an identity and drops the rest; returns the
   * endpoints whose policy changed. */
  sync(engine: Pick<PolicyEngine, 'requiredCidrPrefixes' | 'upsertIdentity' | 'deleteIdentity'>): Set<number> {
    const want = new Set(engine.requiredCidrPrefixes());
    const changed = new Set<number>();
    for (const prefix of want) {
      if (this.#ids.has(prefix)) continue;
      const id = LOCAL_IDENTITY_FLAG | this.#next++;
      this.#ids.set(prefix, id);
      for (const e of engine.upsertIdentity(id, cidrIdentityLabels(prefix))) changed.add(e);
    }
    for (const [prefix, id] of this.#ids) {
      if (want.has(prefix)) continue;
      this.#ids.delete(prefix);
      for (const e of engine.deleteIdentity(id)) changed.add(e);
    }
    return changed;
  }

  /** prefix → identity, as the ipcache needs it */
  entries(): ReadonlyMap<string, number> {
    return this.#ids;
  }
}
