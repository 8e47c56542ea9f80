// Layer 1 of validation: the API's JSON Schemas (crds/schemas, and Kubernetes' NetworkPolicy
// schema) compiled with ajv, reporting every error with its field path — what the apiserver's
// structural validation would say, available offline and before anything is stored.
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import type { DefinedError, ErrorObject, ValidateFunction } from 'ajv';
import { loadSchemaSet, inlineRefs, type JsonSchema } from '../api/schema-set.ts';
import { kinds } from '../api/kinds.generated.ts';
import { error, type ValidationIssue } from './issues.ts';
import networkPolicySchema from './schemas/network-policy.json' with { type: 'json' };

// ajv ships CommonJS whose default export confuses ESM interop; require gives the class itself.
const require = createRequire(import.meta.url);
const Ajv = (require('ajv') as { default: typeof import('ajv').default }).default;
const addFormats = (require('ajv-formats') as { default: typeof import('ajv-formats').default }).default;

export interface KindSchema {
  apiGroup: string;
  kind: string;
  versions: readonly string[];
  validate: ValidateFunction;
}

/** A CIDR as the apiserver's `cidr` format reads it: an address, a slash, a prefix length. */
export function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash < 0) return false;
  const family = isIP(s.slice(0, slash));
  const bits = s.slice(slash + 1);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  return Number(bits) <= (family === 4 ? 32 : 128);
}

// Cilium's patterns are Go (RE2) syntax; JavaScript needs braces around Unicode classes.
function goPatternToJs(p: string): string {
  return p.replace(/\\([pP])([A-Z])(?![a-z{])/g, '\\$1{$2}');
}

// The apiserver drops unknown fields or (kubectl's default, strict) rejects them; here every object
// with declared properties is closed unless it says it keeps unknown fields.
function forAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(forAjv);
  if (node === null || typeof node !== 'object') return node;
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === 'properties') out[k] = Object.fromEntries(Object.entries(v as object).map(([n, s]) => [n, forAjv(s)]));
    else if (k === 'pattern' && typeof v === 'string') out[k] = goPatternToJs(v);
    else if (k === 'enum' || k === 'default' || k === 'required') out[k] = v;
    else out[k] = forAjv(v);
  }
  // Only real object nodes: a oneOf branch's `properties: {x: {}}` merely names a field.
  const hasProps = out.type === 'object' && out.properties && Object.keys(out.properties).length > 0;
  if (hasProps && out.additionalProperties === undefined && !out['x-kubernetes-preserve-unknown-fields']) {
    out.additionalProperties = false;
  }
  return out;
}

function newAjv() {
  // verbose: errors carry their schema, which the messages read (allowed fields, the choices)
  const ajv = new Ajv({ allErrors: true, strict: false, verbose: true, unicodeRegExp: true, validateFormats: true });
  addFormats(ajv, ['date-time', 'ipv4', 'ipv6', 'uri', 'uuid', 'int32', 'int64', 'byte', 'hostname']);
  // formats the apiserver does not check either
  ajv.addFormat('idn-hostname', true);
  ajv.addFormat('cidr', isCidr);
  ajv.addFormat('ip', (s: string) => isIP(s) !== 0);
  for (const kw of [
    'x-kubernetes-preserve-unknown-fields',
    'x-kubernetes-int-or-string',
    'x-kubernetes-list-type',
    'x-kubernetes-list-map-keys',
    'x-kubernetes-map-type',
    'x-kubernetes-embedded-resource',
    'x-kubernetes-validations',
    'x-deviation',
    'x-crd',
    'tsType',
  ]) {
    ajv.addKeyword({ keyword: kw, schemaType: ['boolean', 'string', 'array', 'object'] });
  }
  return ajv;
}

/** Any CRD's openAPIV3Schema compiled the same way (e.g. Cilium's own, to compare verdicts). */
export function compileCrdSchema(openAPIV3Schema: unknown): ValidateFunction {
  return newAjv().compile(forAjv(openAPIV3Schema) as JsonSchema);
}

const ajvInstance = newAjv();
const compiled = new Map<string, ValidateFunction>();

function lazyValidate(kind: string, schema: () => JsonSchema): ValidateFunction {
  // Compiling the policy schemas takes most of a second each: only the kinds in use are compiled.
  const fn = ((doc: unknown) => {
    let v = compiled.get(kind);
    if (!v) compiled.set(kind, (v = ajvInstance.compile(schema())));
    const ok = v(doc);
    fn.errors = v.errors;
    return ok;
  }) as ValidateFunction;
  return fn;
}

let table: Map<string, KindSchema> | undefined;

/** Schemas by `Kind`: our CRD kinds and Kubernetes NetworkPolicy, each compiled on first use. */
export function kindSchemas(): Map<string, KindSchema> {
  if (table) return table;
  const set = loadSchemaSet();
  const out = new Map<string, KindSchema>();
  for (const k of kinds) {
    const schema = () => {
      const s = forAjv(inlineRefs(set, k.schemaFile, set.files.get(k.schemaFile)!)) as JsonSchema;
      delete s.$id;
      delete s.$schema;
      return s;
    };
    out.set(k.kind, { apiGroup: k.group, kind: k.kind, versions: k.versions, validate: lazyValidate(k.kind, schema) });
  }
  out.set('NetworkPolicy', {
    apiGroup: 'networking.k8s.io',
    kind: 'NetworkPolicy',
    versions: ['v1'],
    validate: lazyValidate('NetworkPolicy', () => forAjv(networkPolicySchema) as JsonSchema),
  });
  table = out;
  return out;
}

/** `/spec/ingress/0/toPorts` → `spec.ingress[0].toPorts` */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^\d+$/.test(part)) out += `[${part}]`;
    else if (/^[A-Za-z_][\w-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function valueAt(doc: unknown, pointer: string): unknown {
  let cur = doc;
  for (const raw of pointer.split('/').slice(1)) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[raw.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return cur;
}

const typeNames: Record<string, string> = {
  object: 'an object (key: value)',
  array: 'a list',
  string: 'a string',
  integer: 'a whole number',
  number: 'a number',
  boolean: 'true or false',
};

/** One ajv error as a user would want to read it. */
function explain(ajvError: ErrorObject, doc: unknown): ValidationIssue | null {
  // our schemas use only ajv's own keywords, whose errors ajv types by keyword (params included)
  const e = ajvError as DefinedError;
  const path = pointerToPath(e.instancePath);
  const here = valueAt(doc, e.instancePath);
  const field = (name: string) => (path ? `${path}.${name}` : name);
  switch (e.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((e.parentSchema?.properties ?? {}) as object);
      return error(
        field(e.params.additionalProperty),
        `unknown field "${e.params.additionalProperty}": check its spelling and indentation; allowed here: ${allowed.join(', ')}`,
      );
    }
    case 'required':
      return error(field(e.params.missingProperty), `required field "${e.params.missingProperty}" is missing: add it`);
    case 'type': {
      const want = String(e.params.type)
        .split(',')
        .map((t) => typeNames[t] ?? t)
        .join(' or ');
      return error(path, `must be ${want}, not ${describe(here)}`);
    }
    case 'enum':
      return error(
        path,
        `${JSON.stringify(here)} is not allowed: use one of ${(e.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`,
      );
    case 'pattern':
      return error(path, `${JSON.stringify(here)} is not valid here: it must match ${e.params.pattern}`);
    case 'format':
      return error(
        path,
        `${JSON.stringify(here)} is not a valid ${e.params.format}${e.params.format === 'cidr' ? ' (address/prefix, e.g. 10.0.0.0/24 or fd00::/64)' : ''}`,
      );
    case 'maxLength':
    case 'minLength':
      return error(
        path,
        `${e.keyword === 'maxLength' ? 'longer' : 'shorter'} than allowed: ${e.keyword === 'maxLength' ? 'at most' : 'at least'} ${e.params.limit} characters`,
      );
    case 'maxItems':
      return error(
        path,
        Number(e.params.limit) === 0
          ? 'must be empty: this field is no longer supported, remove it'
          : `too many entries: at most ${e.params.limit}`,
      );
    case 'minItems':
      return error(path, `needs at least ${e.params.limit} entr${Number(e.params.limit) === 1 ? 'y' : 'ies'}`);
    case 'maximum':
    case 'minimum':
      return error(
        path,
        `${JSON.stringify(here)} is out of range: must be ${e.keyword === 'maximum' ? '≤' : '≥'} ${e.params.limit}`,
      );
    case 'oneOf':
    case 'anyOf': {
      const alternatives = e.schema as Array<{ required?: string[]; type?: string }>;
      if (alternatives.every((b) => typeof b.type === 'string')) {
        return error(
          path,
          `must be ${alternatives.map((b) => typeNames[b.type!] ?? b.type).join(' or ')}, not ${describe(here)}`,
        );
      }
      const branches = alternatives.map((b) => b.required?.join(' + ')).filter(Boolean);
      if (branches.length !== alternatives.length) return error(path || '(root)', 'matches none of the allowed forms');
      const present = branches.filter((b) =>
        b!.split(' + ').every((f) => here && typeof here === 'object' && f in here),
      );
      if (e.keyword === 'anyOf') return error(path || '(root)', `set at least one of ${branches.join(', ')}`);
      return error(
        path || '(root)',
        present.length > 1
          ? `set only one of ${branches.join(', ')} (found ${present.join(' and ')})`
          : `set exactly one of ${branches.join(', ')}`,
      );
    }
    default:
      return error(path, e.message ?? e.keyword);
  }
}

/**
 * Structural errors of a document of a known kind. Errors inside a oneOf/anyOf branch are folded
 * into the one message about the choice, so a user reads "set exactly one of …" once.
 */
export function structuralIssues(schema: KindSchema, doc: unknown): ValidationIssue[] {
  if (schema.validate(doc)) return [];
  const errors = schema.validate.errors ?? [];
  const choicePaths = errors.filter((e) => e.keyword === 'oneOf' || e.keyword === 'anyOf').map((e) => e.schemaPath);
  const issues: ValidationIssue[] = [];
  const seen = new Set<string>();
  for (const e of errors) {
    // a branch's own complaint ("must have required property") is part of the choice's message
    if (choicePaths.some((c) => e.schemaPath !== c && e.schemaPath.startsWith(c.replace(/\/(oneOf|anyOf)$/, '/$1/'))))
      continue;
    const issue = explain(e, doc);
    if (!issue) continue;
    const key = `${issue.path}\u0000${issue.message}`;
    if (!seen.has(key)) {
      issues.push(issue);
      seen.add(key);
    }
  }
  return issues;
}
