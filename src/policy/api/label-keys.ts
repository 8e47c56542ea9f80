// Label keys Cilium adds to a pod's labels and to the rules of a policy
// (pkg/k8s/apis/cilium.io/const.go).

export const PodNamespaceLabel = 'io.kubernetes.pod.namespace';
export const PodNamespaceMetaLabelsPrefix = 'io.cilium.k8s.namespace.labels.';
export const PolicyLabelServiceAccount = 'io.cilium.k8s.policy.serviceaccount';
export const PolicyLabelCluster = 'io.cilium.k8s.policy.cluster';
export const PolicyLabelName = 'io.cilium.k8s.policy.name';
export const PolicyLabelNamespace = 'io.cilium.k8s.policy.namespace';
export const PolicyLabelDerivedFrom = 'io.cilium.k8s.policy.derived-from';
export const PolicyLabelUID = 'io.cilium.k8s.policy.uid';
export const DEFAULT_CLUSTER_NAME = 'default';
