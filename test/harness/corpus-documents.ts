// The policy documents of Cilium's example corpus, one entry per YAML document.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseAllDocuments } from 'yaml';

export const policyKinds = new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy']);

export interface CorpusDocument {
  /** `examples/l3/cidr/cidr.yaml#0` */
  ref: string;
  kind: string;
  name: string;
  namespace?: string;
  /** the document as YAML, name made unique (see below), everything else as written upstream */
  yaml: string;
  /** the parsed document, as written upstream */
  object: Record<string, unknown>;
}

export function yamlFiles(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .flatMap((name) => {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) return yamlFiles(p);
      return /\.ya?ml$/.test(name) ? [p] : [];
    });
}

/**
 * Every CNP/CCNP document under examples/ and examples-extra/. Several upstream documents share a
 * name (rule1, l4-rule, lock-down-dev-vms …); each gets a `-dN` suffix so that applying one never
 * updates another. The name is not validated by the schema, so verdicts are unaffected.
 */
export function corpusPolicyDocuments(corpusDir: string): CorpusDocument[] {
  const out: CorpusDocument[] = [];
  for (const folder of ['examples', 'examples-extra']) {
    for (const file of yamlFiles(join(corpusDir, folder))) {
      const docs = parseAllDocuments(readFileSync(file, 'utf8'));
      docs.forEach((doc, i) => {
        const object = doc.toJS() as Record<string, unknown> | null;
        if (!object || typeof object !== 'object' || !policyKinds.has(String(object.kind))) return;
        const meta = (object.metadata ?? {}) as { name?: string; namespace?: string };
        const n = out.length;
        if (doc.hasIn(['metadata', 'name'])) doc.setIn(['metadata', 'name'], `${meta.name}-d${n}`);
        out.push({
          ref: `${relative(corpusDir, file)}#${i}`,
          kind: String(object.kind),
          name: String(meta.name ?? ''),
          namespace: meta.namespace,
          yaml: doc.toString({ lineWidth: 0 }),
          object,
        });
      });
    }
  }
  return out;
}
