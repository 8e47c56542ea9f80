// The validation core, shared by the admission webhook, `cilium-ts policy validate` and the
// operator's `Valid` condition: structure (JSON Schema via ajv) then semantics (Cilium's rule
// sanitization and our footgun warnings). Pure: no I/O.
import { kindSchemas, structuralIssues } from './structural.ts';
import { policySemantics, networkPolicySemantics, lbPoolSemantics } from './semantics/index.ts';
import { error, split, type ValidationIssue, type ValidationResult } from './issues.ts';

/** The kinds this validator owns; anything else is not ours to judge. */
export const validatedKinds = new Set([
  'CiliumNetworkPolicy',
  'CiliumClusterwideNetworkPolicy',
  'CiliumLoadBalancerIPPool',
  'NetworkPolicy',
]);

export interface TypeMeta {
  apiVersion?: unknown;
  kind?: unknown;
}

/** True when this document is of a kind we validate (by kind and API group). */
export function owns(doc: unknown): boolean {
  if (!doc || typeof doc !== 'object') return false;
  const { kind, apiVersion } = doc as TypeMeta;
  if (typeof kind !== 'string' || !validatedKinds.has(kind)) return false;
  const schema = kindSchemas().get(kind)!;
  // a document without apiVersion is still ours to report on: it cannot be applied as it is
  return typeof apiVersion !== 'string' || apiVersion.split('/')[0] === schema.apiGroup || !apiVersion.includes('/');
}

function apiVersionIssues(doc: TypeMeta, group: string, versions: readonly string[]): ValidationIssue[] {
  const want = versions.map((v) => `${group}/${v}`);
  if (doc.apiVersion === undefined) {
    const lower = Object.keys(doc).find((k) => k.toLowerCase() === 'apiversion');
    return [
      error(
        'apiVersion',
        `apiVersion is missing${lower ? ` (found "${lower}": keys are case-sensitive)` : ''}: set apiVersion: ${want.at(-1)}`,
      ),
    ];
  }
  if (typeof doc.apiVersion !== 'string' || !want.includes(doc.apiVersion)) {
    return [
      error(
        'apiVersion',
        `${JSON.stringify(doc.apiVersion)} is not served for ${String(doc.kind)}: use ${want.join(' or ')}`,
      ),
    ];
  }
  return [];
}

/** Every error and warning of one document, all at once. */
export function validate(doc: unknown): ValidationResult {
  if (!doc || typeof doc !== 'object' || Array.isArray(doc)) {
    return split([error('(root)', 'a manifest must be an object with apiVersion, kind, metadata and spec')]);
  }
  const kind = (doc as TypeMeta).kind;
  const schema = typeof kind === 'string' ? kindSchemas().get(kind) : undefined;
  if (!schema || !validatedKinds.has(schema.kind)) {
    return split([
      error('kind', `${JSON.stringify(kind)} is not a kind cilium-ts validates: ${[...validatedKinds].join(', ')}`),
    ]);
  }
  const issues = [...apiVersionIssues(doc, schema.apiGroup, schema.versions), ...structuralIssues(schema, doc)];
  switch (schema.kind) {
    case 'CiliumNetworkPolicy':
    case 'CiliumClusterwideNetworkPolicy':
      issues.push(...policySemantics(schema.kind, doc));
      break;
    case 'NetworkPolicy':
      issues.push(...networkPolicySemantics(doc));
      break;
    case 'CiliumLoadBalancerIPPool':
      issues.push(...lbPoolSemantics(doc));
      break;
  }
  return split(dedupe(issues));
}

// Layer 1 and layer 2 may both notice the same thing (an enum and a sanitizer rule); say it once.
function dedupe(issues: ValidationIssue[]): ValidationIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const key = `${i.severity}\u0000${i.path}\u0000${i.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** `spec.ingress[0]: message` lines, as kubectl and the CLI print them. */
export function formatIssues(issues: ValidationIssue[]): string[] {
  return issues.map((i) => `${i.path}: ${i.message}`);
}
