// What the policy engine reads from the cluster: policies (CiliumNetworkPolicy,
// CiliumClusterwideNetworkPolicy, NetworkPolicy), identities, nodes (for node selectors and the
// host / remote-node entities) and services (for toServices). Each change goes into the engine,
// which names the endpoints whose desired policy changed; only those are regenerated.
import type { EventType } from '../lib/informer.ts';
import { errorText } from '../lib/kube.ts';
import type { Logger } from '../lib/log.ts';
import { refOf, type PolicyEngine, type PolicyObject } from '../policy/index.ts';
import type { CidrIdentities } from './cidr-identities.ts';
import type { IdentityCache } from './identity.ts';
import type { NodeIdentities } from './node-identities.ts';
import type { AgentMetrics } from './metrics.ts';
import type { Regenerate } from './types.ts';
import type { Watchers } from './watchers.ts';

type PolicyKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy' | 'NetworkPolicy';

export interface PolicyWatchOptions {
  nodeName: string;
  log: Logger;
  engine: PolicyEngine;
  identities: IdentityCache;
  cidrIdentities: CidrIdentities;
  /** the nodes' identities: host for this node, a per-node identity for each other */
  nodeIdentities: NodeIdentities;
  watch: Pick<Watchers, 'on'>;
  metrics: Pick<AgentMetrics, 'policyChanges'>;
  regenerate: Regenerate;
  /** identities, nodes or CIDR identities changed (the ipcache reads them) */
  onChange: () => void;
}

export class PolicyWatch {
  readonly #o: PolicyWatchOptions;
  /** "Kind/namespace/name" → resourceVersion of the policy objects the engine holds */
  readonly revisions = new Map<string, string>();

  constructor(opts: PolicyWatchOptions) {
    this.#o = opts;
    const { watch, engine } = opts;
    watch.on('identities', (type, obj) => {
      const id = Number(obj.metadata.name);
      if (!opts.identities.apply(obj, type === 'delete')) return;
      const labels = opts.identities.labelsOf(id);
      opts.regenerate(type === 'delete' || !labels ? engine.deleteIdentity(id) : engine.upsertIdentity(id, labels));
      opts.onChange();
    });
    watch.on('cnp', (type, obj) => this.#policy(type, obj, 'CiliumNetworkPolicy'));
    watch.on('ccnp', (type, obj) => this.#policy(type, obj, 'CiliumClusterwideNetworkPolicy'));
    watch.on('netpol', (type, obj) => this.#policy(type, obj as PolicyObject, 'NetworkPolicy'));
    watch.on('nodes', (type, obj) => {
      const name = obj.metadata?.name ?? '';
      const nodes = opts.nodeIdentities;
      opts.regenerate(
        type === 'delete' ? nodes.delete(engine, name) : nodes.upsert(engine, name, obj.metadata?.labels ?? {}),
      );
      opts.onChange();
    });
    watch.on('services', (type, obj) => {
      const namespace = obj.metadata?.namespace ?? '';
      const name = obj.metadata?.name ?? '';
      const labels = obj.metadata?.labels ?? {};
      opts.regenerate(
        type === 'delete'
          ? engine.deleteService(namespace, name)
          : engine.upsertService({ namespace, name, labels, selector: obj.spec?.selector ?? null }),
      );
    });
  }

  #policy(type: EventType, obj: PolicyObject, kind: PolicyKind): void {
    const { engine, log } = this.#o;
    const { namespace, name, resourceVersion } = (obj.metadata ?? {}) as {
      namespace?: string;
      name?: string;
      resourceVersion?: string;
    };
    let changed: number[];
    try {
      changed = type === 'delete' ? engine.deletePolicy(refOf(obj, kind)) : engine.upsertPolicy(obj, kind);
    } catch (e) {
      // A policy the engine cannot read (stored before admission validation existed) changes
      // nothing that is enforced; the operator's Valid condition tells the user why.
      log.warn('policy ignored', { kind, namespace, name, error: errorText(e) });
      return;
    }
    const key = `${kind}/${namespace ?? ''}/${name ?? ''}`;
    if (type === 'delete') this.revisions.delete(key);
    else this.revisions.set(key, resourceVersion ?? '');
    this.#o.metrics.policyChanges.inc({ kind, event: type });
    const cidrChanged = this.#o.cidrIdentities.sync(engine);
    this.#o.regenerate([...changed, ...cidrChanged]);
    this.#o.onChange();
  }
}
