// The policy kinds the engine and the validators know.

export type CiliumPolicyKind = 'CiliumNetworkPolicy' | 'CiliumClusterwideNetworkPolicy';
export type PolicyKind = CiliumPolicyKind | 'NetworkPolicy';

export const POLICY_KINDS: readonly PolicyKind[] = [
  'CiliumNetworkPolicy',
  'CiliumClusterwideNetworkPolicy',
  'NetworkPolicy',
];

export function isPolicyKind(k: unknown): k is PolicyKind {
  return typeof k === 'string' && (POLICY_KINDS as readonly string[]).includes(k);
}
