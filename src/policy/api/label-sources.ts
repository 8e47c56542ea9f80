// Label sources (Cilium's pkg/labels): the part before ':' in `k8s:app`.

export const LabelSource = {
  ANY: 'any',
  K8S: 'k8s',
  RESERVED: 'reserved',
  CIDR: 'cidr',
  UNSPEC: 'unspec',
  NODE: 'node',
} as const;

/** Every source Cilium knows, in the order the validator lists them. */
export const labelSources: ReadonlySet<string> = new Set([
  'any',
  'k8s',
  'reserved',
  'cidr',
  'cidrgroup',
  'fqdn',
  'unspec',
  'container',
  'cilium-generated',
  'kvstore',
  'node',
]);
