// Traffic directions, as seen from the endpoint a policy selects.

export type Direction = 'ingress' | 'egress';

export const DIRECTIONS: readonly Direction[] = ['ingress', 'egress'];

/** Cilium's policy enforcement modes (--enable-policy). */
export type EnforcementModeName = 'default' | 'always' | 'never';
