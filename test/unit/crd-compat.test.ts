// Our generated CRDs must accept and reject exactly what Cilium's do: the same structure, types,
// enums, patterns, formats, bounds and required fields, version by version. Descriptions are ours
// and ignored. A subtree whose schema carries `x-deviation` (with the reason) is a deliberate
// difference and is skipped; the test lists them so they stay few and visible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { loadSchemaSet, inlineRefs, schemaDir } from '../../src/api/schema-set.ts';
import { kinds } from '../../src/api/kinds.generated.ts';
import { corpusDir } from '../harness/corpus.ts';

// `x-deviation` on a node of ours: why it differs from Cilium's on purpose.
type Node = Record<string, unknown> & { 'x-deviation'?: string };
const ignored = new Set(['description', '$comment', 'title', 'tsType', '$schema', '$id', 'x-crd', 'definitions']);

/** Differences between ours and theirs below `path`, one line each. */
function diff(ours: unknown, theirs: unknown, path: string, out: string[], deviations: string[]): void {
  if (ours && typeof ours === 'object' && !Array.isArray(ours) && 'x-deviation' in (ours as Node)) {
    deviations.push(`${path}: ${(ours as Node)['x-deviation']}`);
    return;
  }
  if (Array.isArray(ours) || Array.isArray(theirs)) {
    if (!Array.isArray(ours) || !Array.isArray(theirs)) {
      out.push(`${path}: ours ${JSON.stringify(ours)} ≠ cilium's ${JSON.stringify(theirs)}`);
    } else if (/\.(anyOf|oneOf|allOf)$/.test(path)) {
      // Branches in order, each compared in depth; a branch of ours marked x-deviation is extra.
      const kept = ours.filter((b) => {
        const reason = b && typeof b === 'object' ? (b as Node)['x-deviation'] : undefined;
        if (reason) deviations.push(`${path}: ${reason}`);
        return !reason;
      });
      if (kept.length !== theirs.length) out.push(`${path}: ${kept.length} branches ≠ cilium's ${theirs.length}`);
      else kept.forEach((b, i) => diff(b, theirs[i], `${path}[${i}]`, out, deviations));
    } else {
      // value lists (type, list-map-keys …): order does not matter, content does
      const a = JSON.stringify(ours.map((x) => JSON.stringify(x)).sort());
      const b = JSON.stringify(theirs.map((x) => JSON.stringify(x)).sort());
      if (a !== b) out.push(`${path}: ours ${JSON.stringify(ours)} ≠ cilium's ${JSON.stringify(theirs)}`);
    }
    return;
  }
  if (ours === null || theirs === null || typeof ours !== 'object' || typeof theirs !== 'object') {
    if (JSON.stringify(ours) !== JSON.stringify(theirs))
      out.push(`${path}: ours ${JSON.stringify(ours)} ≠ cilium's ${JSON.stringify(theirs)}`);
    return;
  }
  const o = ours as Node;
  const t = theirs as Node;
  for (const key of new Set([...Object.keys(o), ...Object.keys(t)])) {
    if (ignored.has(key)) continue;
    if (key === 'properties') {
      const op = (o.properties ?? {}) as Node;
      const tp = (t.properties ?? {}) as Node;
      for (const name of new Set([...Object.keys(op), ...Object.keys(tp)])) {
        if (!(name in op)) out.push(`${path}.${name}: missing in ours`);
        else if (!(name in tp)) {
          if ((op[name] as Node)['x-deviation'])
            deviations.push(`${path}.${name}: ${(op[name] as Node)['x-deviation']}`);
          else out.push(`${path}.${name}: not in cilium's`);
        } else diff(op[name], tp[name], `${path}.${name}`, out, deviations);
      }
      continue;
    }
    if (key === 'enum' || key === 'required' || key === 'default') {
      const a = JSON.stringify(Array.isArray(o[key]) ? [...(o[key] as unknown[])].sort() : o[key]);
      const b = JSON.stringify(Array.isArray(t[key]) ? [...(t[key] as unknown[])].sort() : t[key]);
      if (a !== b) out.push(`${path}.${key}: ours ${a} ≠ cilium's ${b}`);
      continue;
    }
    diff(o[key], t[key], `${path}.${key}`, out, deviations);
  }
}

const set = loadSchemaSet(schemaDir);

for (const info of kinds) {
  const theirsFile = join(corpusDir, 'crds', `${info.plural}.yaml`);
  test(`${info.kind}: schema matches Cilium's CRD field for field`, () => {
    assert.ok(existsSync(theirsFile), `Cilium's CRD ${theirsFile} is missing`);
    const theirs = parse(readFileSync(theirsFile, 'utf8')) as { spec: Node };
    const ours = inlineRefs(set, info.schemaFile, set.files.get(info.schemaFile)!);
    const spec = theirs.spec as {
      scope: string;
      versions: Array<{ name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: unknown } }>;
    };
    assert.equal(info.namespaced ? 'Namespaced' : 'Cluster', spec.scope);
    assert.deepEqual([...info.versions].sort(), spec.versions.map((v) => v.name).sort(), 'served versions');
    const storage = spec.versions.find((v) => v.storage)!.name;
    assert.equal(info.storageVersion, storage);
    const problems: string[] = [];
    const deviations: string[] = [];
    for (const v of spec.versions) diff(ours, v.schema.openAPIV3Schema, `${info.kind}/${v.name}`, problems, deviations);
    if (deviations.length)
      console.log(`intended deviations of ${info.kind}:\n  ${[...new Set(deviations)].join('\n  ')}`);
    assert.deepEqual(problems, [], `schema differences:\n${problems.join('\n')}`);
  });
}
