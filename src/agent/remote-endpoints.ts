// Pods of other nodes, as their agents publish them in CiliumEndpoints: each becomes an engine
// endpoint (never local, under a synthetic id) so that rules selecting pods by named port or by
// address see them. The CiliumEndpoint cache also answers which pod holds an address.
import type { CiliumEndpoint } from '../api/types.generated.ts';
import type { EventType } from '../lib/informer.ts';
import type { PolicyEngine } from '../policy/index.ts';
import type { Regenerate } from './types.ts';
import type { WatchCache, WatchHandler } from './watchers.ts';

export interface RemoteEndpointsOptions {
  nodeName: string;
  engine: Pick<PolicyEngine, 'upsertEndpoint' | 'deleteEndpoint'>;
  watch: WatchCache & { on(name: 'cep', h: WatchHandler<CiliumEndpoint>): void };
  /** whether a pod is one of this node's endpoints (its CiliumEndpoint may lag behind) */
  isLocal: (namespace: string | undefined, name: string | undefined) => boolean;
  regenerate: Regenerate;
  onChange: () => void;
}

/** Engine ids of remote endpoints start here, far above any local endpoint id. */
const FIRST_REMOTE_ID = 0x40000000;

export class RemoteEndpoints {
  readonly #o: RemoteEndpointsOptions;
  /** ns/name → synthetic engine id */
  readonly #ids = new Map<string, number>();
  #next = FIRST_REMOTE_ID;

  constructor(opts: RemoteEndpointsOptions) {
    this.#o = opts;
    opts.watch.on('cep', (type, obj) => this.#event(type, obj));
  }

  /** The CiliumEndpoint (of any node) holding this address. */
  byIp(ip: string): { namespace: string; name: string } | undefined {
    for (const cep of this.#o.watch.list('cep')) {
      if (cep.status?.networking?.addressing?.some((a) => a.ipv4 === ip || a.ipv6 === ip)) {
        return { namespace: cep.metadata.namespace ?? '', name: cep.metadata.name ?? '' };
      }
    }
    return undefined;
  }

  #event(type: EventType, obj: CiliumEndpoint): void {
    const { namespace, name } = obj.metadata;
    const local = obj.status?.networking?.node === this.#o.nodeName || this.#o.isLocal(namespace, name);
    if (!local) {
      const key = `${namespace}/${name}`;
      let id = this.#ids.get(key);
      const identity = obj.status?.identity?.id;
      if (type === 'delete' || !identity) {
        if (id !== undefined) this.#o.regenerate(this.#o.engine.deleteEndpoint(id));
        this.#ids.delete(key);
      } else {
        if (id === undefined) this.#ids.set(key, (id = this.#next++));
        const ips = (obj.status?.networking?.addressing ?? []).flatMap((a) =>
          [a.ipv4, a.ipv6].filter((x): x is string => !!x),
        );
        const namedPorts = (obj.status?.['named-ports'] ?? []).flatMap((p) =>
          p.name && p.port ? [{ name: p.name, port: p.port, protocol: p.protocol ?? 'TCP' }] : [],
        );
        this.#o.regenerate(this.#o.engine.upsertEndpoint({ id, identity, ips, namedPorts, local: false }));
      }
    }
    this.#o.onChange();
  }
}
