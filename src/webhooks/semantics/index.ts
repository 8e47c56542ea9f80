// Layer 2 of admission validation: rules the structural schema cannot express. Pure functions over
// untyped JSON; they never throw, whatever the input.

export { policySemantics, type PolicyKind } from './policy.ts';
export { networkPolicySemantics } from './netpol.ts';
export { lbPoolSemantics } from './lbpool.ts';
