// Kubernetes manifests from files, folders (recursively, *.yaml|*.yml|*.json) and stdin ('-'), for
// `policy validate` and `policy explain --offline`.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export function expand(path: string): string[] {
  if (path === '-') return ['-'];
  if (statSync(path).isDirectory()) {
    return readdirSync(path)
      .sort()
      .flatMap((n) => {
        const p = join(path, n);
        return statSync(p).isDirectory() ? expand(p) : /\.(ya?ml|json)$/i.test(n) ? [p] : [];
      });
  }
  return [path];
}

export function readSource(file: string): string {
  return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
}

/** Every parsed object of the files, folders (recursively) and stdin ('-') named; YAML errors throw. */
export function readManifests(paths: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const file of paths.flatMap(expand)) {
    for (const doc of parseAllDocuments(readSource(file))) {
      if (doc.errors.length) {
        const name = file === '-' ? '<stdin>' : file;
        throw new Error(`${name}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      }
      const obj = doc.toJS() as { kind?: string; items?: unknown[] } | null;
      const items = obj?.kind?.endsWith('List') ? (obj.items ?? []) : [obj];
      for (const o of items) if (o && typeof o === 'object') out.push(o as Record<string, unknown>);
    }
  }
  return out;
}
