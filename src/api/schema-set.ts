// The API's JSON Schemas (crds/schemas/*.json) as one set: loading, reference resolution and
// inlining. Used by the generator (CRDs, types) and at run time by the validators.
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export type JsonSchema = Record<string, unknown>;

export const schemaDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'crds', 'schemas');

export interface SchemaSet {
  /** file name (e.g. `cilium-network-policy.json`) → parsed schema */
  files: Map<string, JsonSchema>;
  /** definition name → where it is defined; names are unique across files */
  definitions: Map<string, { file: string; schema: JsonSchema }>;
  /** the definition name a `$ref` points to; throws on a ref that does not resolve */
  refName(ref: string): string;
  /** the files that define a kind (carry `x-crd`), sorted */
  kindFiles(): string[];
}

const refPattern = /^([a-z0-9.-]+\.json)?#\/definitions\/([A-Za-z0-9_]+)$/;

export function loadSchemaSet(dir: string = schemaDir): SchemaSet {
  const files = new Map<string, JsonSchema>();
  const definitions = new Map<string, { file: string; schema: JsonSchema }>();
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    const schema = JSON.parse(readFileSync(join(dir, f), 'utf8')) as JsonSchema;
    if (schema.$id !== f)
      throw new Error(`crds/schemas/${f}: "$id" must be "${f}" (it is ${JSON.stringify(schema.$id)})`);
    files.set(f, schema);
    for (const [name, def] of Object.entries((schema.definitions ?? {}) as Record<string, JsonSchema>)) {
      const seen = definitions.get(name);
      if (seen) throw new Error(`definition "${name}" is defined in both ${seen.file} and ${f}; names must be unique`);
      definitions.set(name, { file: f, schema: def });
    }
  }
  const refName = (ref: string): string => {
    const m = refPattern.exec(ref);
    if (!m) throw new Error(`unsupported $ref "${ref}": use "#/definitions/Name" or "file.json#/definitions/Name"`);
    const def = definitions.get(m[2]!);
    if (!def) throw new Error(`$ref "${ref}" names no definition`);
    if (m[1] && def.file !== m[1]) throw new Error(`$ref "${ref}": ${m[2]} is defined in ${def.file}`);
    return m[2]!;
  };
  const kindFiles = () => [...files.entries()].filter(([, s]) => s['x-crd']).map(([f]) => f);
  return { files, definitions, refName, kindFiles };
}

/** The schema with every `$ref` replaced by a copy of its target (CRD schemas allow no refs). */
export function inlineRefs(set: SchemaSet, file: string, node: unknown, path: string[] = []): unknown {
  if (Array.isArray(node)) return node.map((n) => inlineRefs(set, file, n, path));
  if (node === null || typeof node !== 'object') return node;
  const obj = node as JsonSchema;
  if (typeof obj.$ref === 'string') {
    const name = set.refName(obj.$ref);
    if (path.includes(name))
      throw new Error(`recursive $ref to ${name} (${path.join(' → ')}): CRD schemas cannot recurse`);
    const { $ref: _ref, ...siblings } = obj;
    const target = inlineRefs(set, file, set.definitions.get(name)!.schema, [...path, name]) as JsonSchema;
    // A description next to a $ref refines the shared one for this use.
    return { ...target, ...(inlineRefs(set, file, siblings, path) as JsonSchema) };
  }
  const out: JsonSchema = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k === 'definitions') continue;
    if (k === 'properties' && v && typeof v === 'object') {
      // property names are data, not keywords
      out[k] = Object.fromEntries(Object.entries(v).map(([name, s]) => [name, inlineRefs(set, file, s, path)]));
    } else {
      out[k] = k === 'enum' || k === 'default' || k === 'example' ? v : inlineRefs(set, file, v, path);
    }
  }
  return out;
}
