// Entities (Cilium's pkg/policy/api/entity.go): the names toEntities / fromEntities accept, and the
// reserved labels each stands for. What an entity selects is resolution (see ../selector.ts).

/** Cilium's EntitySelectorMapping keys, in Cilium's order. */
export const ENTITIES: ReadonlySet<string> = new Set([
  'all',
  'world',
  'world-ipv4',
  'world-ipv6',
  'cluster',
  'host',
  'init',
  'ingress',
  'unmanaged',
  'remote-node',
  'health',
  'none',
  'kube-apiserver',
]);

/** The reserved labels `world` stands for. */
export const WORLD_ENTITY_MEMBERS: readonly string[] = ['world', 'world-ipv4', 'world-ipv6'];

/** The reserved labels `cluster` stands for, besides the pods of the cluster. */
export const CLUSTER_ENTITY_MEMBERS: readonly string[] = [
  'host',
  'remote-node',
  'init',
  'ingress',
  'health',
  'unmanaged',
  'kube-apiserver',
];

/** Entities that are exactly one reserved label of the same name. */
export const SINGLE_RESERVED_ENTITIES: ReadonlySet<string> = new Set([
  'world-ipv4',
  'world-ipv6',
  'host',
  'remote-node',
  'kube-apiserver',
  'health',
  'init',
  'unmanaged',
  'ingress',
]);
