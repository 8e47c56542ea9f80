// Reserved identities and identity ranges (Cilium's pkg/identity/numericidentity.go). The numbers
// are part of the language a Cilium user reads in flows, `cilium identity list` and map dumps, so
// they are defined here once: the engine, the validators, the datapath and Hubble import them.

/** Reserved identities with Cilium's numbers. */
export const ReservedIdentity = {
  UNKNOWN: 0,
  HOST: 1,
  WORLD: 2,
  UNMANAGED: 3,
  HEALTH: 4,
  INIT: 5,
  REMOTE_NODE: 6,
  KUBE_APISERVER: 7,
  INGRESS: 8,
  WORLD_IPV4: 9,
  WORLD_IPV6: 10,
} as const;

/** The reserved label name of each reserved identity (reserved:<name>); 0 has no label. */
export const reservedIdentityNames: Readonly<Record<number, string>> = {
  [ReservedIdentity.HOST]: 'host',
  [ReservedIdentity.WORLD]: 'world',
  [ReservedIdentity.UNMANAGED]: 'unmanaged',
  [ReservedIdentity.HEALTH]: 'health',
  [ReservedIdentity.INIT]: 'init',
  [ReservedIdentity.REMOTE_NODE]: 'remote-node',
  [ReservedIdentity.KUBE_APISERVER]: 'kube-apiserver',
  [ReservedIdentity.INGRESS]: 'ingress',
  [ReservedIdentity.WORLD_IPV4]: 'world-ipv4',
  [ReservedIdentity.WORLD_IPV6]: 'world-ipv6',
};

/** How identity 0 prints where a name is expected (Hubble's "(unknown)"). */
export const UNKNOWN_IDENTITY_NAME = 'unknown';

/** First identity of the cluster-local range (Cilium's MinimalAllocationIdentity). */
export const CLUSTER_IDENTITY_MIN = 256;
/** Last identity of the cluster-local range for cluster id 0 (2^16 - 1). */
export const CLUSTER_IDENTITY_MAX = 65535;
/** Identities allocated by a node for itself only (CIDR identities) carry this bit (1 << 24). */
export const LOCAL_IDENTITY_FLAG = 0x01000000;
/**
 * Per-node identities of remote nodes carry this scope (Cilium's IdentityScopeRemoteNode, 2 << 24):
 * each agent allocates them for itself from the nodes' labels, so `toNodes`/`fromNodes` with a node
 * selector open one node while the `remote-node` entity (their reserved:remote-node label) matches all.
 */
export const REMOTE_NODE_IDENTITY_SCOPE = 0x02000000;
/** The scope bits of an identity (Cilium's IdentityScopeMask). */
export const IDENTITY_SCOPE_MASK = 0xff000000;
