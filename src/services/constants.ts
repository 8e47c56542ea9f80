// Names and defaults Kubernetes and Cilium users know, read by the service table.

/** EndpointSlices name their Service with this label (discovery.k8s.io/v1). */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
/** A Service carrying this label belongs to another proxy (kube-proxy's --service-proxy-name). */
export const LABEL_SERVICE_PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
/** Services labelled headless have no frontends, whatever their spec says (as Cilium reads it). */
export const LABEL_HEADLESS = 'service.kubernetes.io/headless';
/** The legacy form of spec.loadBalancerSourceRanges, comma-separated; the spec field wins. */
export const ANNOTATION_LB_SOURCE_RANGES = 'service.beta.kubernetes.io/load-balancer-source-ranges';

/** core/v1 DefaultClientIPServiceAffinitySeconds: three hours. */
export const DEFAULT_AFFINITY_TIMEOUT_SEC = 10800;
/** The apiserver's default --service-node-port-range. */
export const DEFAULT_NODE_PORT_RANGE: readonly [number, number] = [30000, 32767];
