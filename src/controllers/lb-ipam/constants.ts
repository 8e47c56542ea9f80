// Names Cilium users see on Services and CiliumLoadBalancerIPPools (operator/pkg/lbipam,
// pkg/annotation). Kept in one place so controllers, CLI and tests import rather than retype them.

export const ANNOTATION_IPS = 'lbipam.cilium.io/ips';
export const ANNOTATION_IPS_ALIAS = 'io.cilium/lb-ipam-ips';
export const ANNOTATION_SHARING_KEY = 'lbipam.cilium.io/sharing-key';
export const ANNOTATION_SHARING_KEY_ALIAS = 'io.cilium/lb-ipam-sharing-key';
export const ANNOTATION_SHARING_CROSS_NAMESPACE = 'lbipam.cilium.io/sharing-cross-namespace';
export const ANNOTATION_SHARING_CROSS_NAMESPACE_ALIAS = 'io.cilium/lb-ipam-sharing-cross-namespace';
/** Value of the cross-namespace annotation that admits every namespace. */
export const SHARING_CROSS_NAMESPACE_ANY = '*';

/** Virtual labels a pool's serviceSelector can match besides the Service's own labels. */
export const LABEL_SERVICE_NAMESPACE = 'io.kubernetes.service.namespace';
export const LABEL_SERVICE_NAME = 'io.kubernetes.service.name';

export const LB_CLASS_BGP = 'io.cilium/bgp-control-plane';
export const LB_CLASS_L2 = 'io.cilium/l2-announcer';

/** Service condition set by LB-IPAM. */
export const CONDITION_REQUEST_SATISFIED = 'cilium.io/IPAMRequestSatisfied';

export const POOL_CONDITION_CONFLICT = 'cilium.io/PoolConflict';
export const POOL_CONDITION_IPS_TOTAL = 'cilium.io/IPsTotal';
export const POOL_CONDITION_IPS_AVAILABLE = 'cilium.io/IPsAvailable';
export const POOL_CONDITION_IPS_USED = 'cilium.io/IPsUsed';

/** Reasons of the service condition (Cilium's snake_case strings). */
export const REASON_SATISFIED = 'satisfied';
export const REASON_NO_POOL = 'no_pool';
export const REASON_OUT_OF_IPS = 'out_of_ips';
export const REASON_POOL_SELECTOR_MISMATCH = 'pool_selector_mismatch';
export const REASON_ALREADY_ALLOCATED = 'already_allocated';
export const REASON_ALREADY_ALLOCATED_INCOMPATIBLE = 'already_allocated_incompatible_service';

/** Reasons of the pool conditions. */
export const REASON_CIDR_OVERLAP = 'cidr_overlap';
export const REASON_RESOLVED = 'resolved';
export const REASON_COUNT = 'noreason';

/** Field manager LB-IPAM writes status with. */
export const FIELD_MANAGER = 'cilium-operator-lb-ipam';
