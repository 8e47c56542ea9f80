// `cilium-ts policy validate [PATH|-]...`: the admission webhook's checks, offline, for GitOps
// pipelines (`kustomize build overlays/prod | cilium-ts policy validate -`).
import { parseArgs } from 'node:util';
import { parseAllDocuments } from 'yaml';
import { expand, readSource } from './manifests.ts';
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
          errors: doc.errors.map((e) => ({
            severity: 'error',
            path: `line ${e.linePos?.[0]?.line ?? '?'}`,
            message: `not valid YAML: ${e.message.split('\n')[0]}`,
          })),
          warnings: [],
        });
        return;
      }
      const obj = doc.toJS({ maxAliasCount: 100 }) as unknown;
      if (obj === null || obj === undefined) return; // an empty document (a trailing ---)
      // a List (kubectl get -o yaml) holds documents of its own
      const items =
        (obj as { kind?: string; items?: unknown[] }).kind === 'List'
          ? ((obj as { items?: unknown[] }).items ?? [])
          : [obj];
      for (const item of items) {
        if (!owns(item)) {
          summary.skipped++;
          continue;
        }
        summary.documents++;
        const result = validate(item);
        const meta = (item as { metadata?: { name?: string; namespace?: string } }).metadata ?? {};
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

/** `policy validate [PATH|-]... [-o text|json]`; no path reads stdin. */
export function policyValidateCommand(args: string[]): number {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: { output: { type: 'string', short: 'o', default: 'text' } },
  });
  if (values.output !== 'text' && values.output !== 'json') {
    process.stderr.write(`cilium-ts: --output must be text or json, not ${values.output}\n`);
    return 2;
  }
  return policyValidate(positionals, values.output);
}
