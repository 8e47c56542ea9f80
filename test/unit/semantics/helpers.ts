// Shared helpers for the semantic-layer tests: compact document builders and issue assertions.
import assert from 'node:assert/strict';
import type { ValidationIssue } from '../../../src/webhooks/issues.ts';

export type Doc = Record<string, unknown>;

export const app = { matchLabels: { app: 'web' } };

export function cnp(spec: unknown, extra: Doc = {}): Doc {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 't', namespace: 'default' },
    spec,
    ...extra,
  };
}

export function ccnp(spec: unknown, extra: Doc = {}): Doc {
  return {
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumClusterwideNetworkPolicy',
    metadata: { name: 't' },
    spec,
    ...extra,
  };
}

/** A rule selecting app=web with the given fields. */
export function rule(fields: Doc): Doc {
  return { endpointSelector: app, ...fields };
}

/** An ingress rule with one toPorts entry. */
export function ingressPorts(portRule: Doc): Doc {
  return cnp(rule({ ingress: [{ fromEndpoints: [{}], toPorts: [portRule] }] }));
}

export function egressPorts(portRule: Doc, peers: Doc = { toEndpoints: [{}] }): Doc {
  return cnp(rule({ egress: [{ ...peers, toPorts: [portRule] }] }));
}

export interface Case {
  name: string;
  run: () => ValidationIssue[];
  path: string;
  fragment: string;
  severity?: 'error' | 'warning';
}

export function assertIssue(issues: ValidationIssue[], c: Omit<Case, 'run' | 'name'>): void {
  const severity = c.severity ?? 'error';
  const hit = issues.find((i) => i.path === c.path && i.severity === severity && i.message.includes(c.fragment));
  assert.ok(
    hit,
    `expected ${severity} at ${c.path} containing ${JSON.stringify(c.fragment)}; got:\n${issues.map((i) => `  ${i.severity} ${i.path}: ${i.message}`).join('\n') || '  (none)'}`,
  );
}

export function errorsOf(issues: ValidationIssue[]): ValidationIssue[] {
  return issues.filter((i) => i.severity === 'error');
}

export function assertNoErrors(issues: ValidationIssue[]): void {
  assert.deepEqual(errorsOf(issues), []);
}
