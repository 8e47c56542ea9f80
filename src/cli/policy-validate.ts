// `cilium-ts policy validate [PATH|-]...`: the admission webhook's checks, offline, for GitOps
// pipelines (`kustomize build overlays/prod | cilium-ts policy validate -`).
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { validate, owns } from '../webhooks/validate.ts';
import type { ValidationIssue } from '../webhooks/issues.ts';

export interface DocumentReport {
  file: string;
  /** index of the document in its file, from 0 */
  document: number;
  kind: string;
  namespace?: string;
  name: string;
  errors: ValidationIssue[];
  warnings: ValidationIssue[];
}

export interface ValidateSummary {
  documents: number;
  skipped: number;
  invalid: number;
  reports: DocumentReport[];
}

function expand(path: string): string[] {
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

function readSource(file: string): string {
  return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
}

/** Every parsed object of the files, folders (recursively) and stdin ('-') named; YAML errors throw. */
export function readManifests(paths: string[]): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  for (const file of paths.flatMap(expand)) {
    for (const doc of parseAllDocuments(readSource(file))) {
      if (doc.errors.length) throw new Error(`${file === '-' ? '<stdin>' : file}: not valid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      const obj = doc.toJS() as unknown;
      const items = (obj as { kind?: string; items?: unknown[] } | null)?.kind?.endsWith('List') ? (obj as { items: unknown[] }).items : [obj];
      for (const o of items) if (o && typeof o === 'object') out.push(o as Record<string, unknown>);
    }
  }
  return out;
}

/** Validate every document of every file; kinds we do not own are counted as skipped. */
export function validateSources(paths: string[]): ValidateSummary {
  const summary: ValidateSummary = { documents: 0, skipped: 0, invalid: 0, reports: [] };
  for (const file of paths.flatMap(expand)) {
    const label = file === '-' ? '<stdin>' : file;
    const docs = parseAllDocuments(readSource(file));
    docs.forEach((doc, i) => {
      if (doc.errors.length) {
        summary.documents++;
        summary.invalid++;
        summary.reports.push({
          file: label,
          document: i,
          kind: '?',
          name: '?',
          errors: doc.errors.map((e) => ({ severity: 'error', path: `line ${e.linePos?.[0]?.line ?? '?'}`, message: `not valid YAML: ${e.message.split('\n')[0]}` })),
          warnings: [],
        });
        return;
      }
      const obj = doc.toJS({ maxAliasCount: 100 }) as unknown;
      if (obj === null || obj === undefined) return; // an empty document (a trailing ---)
      // a List (kubectl get -o yaml) holds documents of its own
      const items = (obj as { kind?: string; items?: unknown[] }).kind === 'List' ? ((obj as { items?: unknown[] }).items ?? []) : [obj];
      for (const item of items) {
        if (!owns(item)) {
          summary.skipped++;
          continue;
        }
        summary.documents++;
        const result = validate(item);
        const meta = ((item as { metadata?: { name?: string; namespace?: string } }).metadata ?? {}) as { name?: string; namespace?: string };
        if (result.errors.length) summary.invalid++;
        summary.reports.push({
          file: label,
          document: i,
          kind: String((item as { kind: string }).kind),
          namespace: meta.namespace,
          name: meta.name ?? '(no name)',
          ...result,
        });
      }
    });
  }
  return summary;
}

/** `file:document kind/namespace/name: path: message`, errors then warnings. */
export function formatReport(r: DocumentReport): string[] {
  const who = `${r.file}:${r.document} ${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name}`;
  return [
    ...r.errors.map((e) => `${who}: ${e.path}: ${e.message}`),
    ...r.warnings.map((w) => `${who}: warning: ${w.path}: ${w.message}`),
  ];
}

export function policyValidate(paths: string[], output: 'text' | 'json'): number {
  const summary = validateSources(paths.length ? paths : ['-']);
  if (output === 'json') {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    for (const r of summary.reports) for (const line of formatReport(r)) process.stdout.write(`${line}\n`);
    process.stderr.write(
      `${summary.documents} document${summary.documents === 1 ? '' : 's'} validated, ${summary.invalid} invalid` +
        (summary.skipped ? `, ${summary.skipped} of other kinds skipped` : '') +
        '\n',
    );
  }
  return summary.invalid > 0 ? 1 : 0;
}
