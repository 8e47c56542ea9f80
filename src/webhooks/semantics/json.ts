// Reading untyped JSON without trusting its shape: every accessor answers "not there" for a value
// of the wrong type, so the semantic checks never throw on a document the schema would reject.

import { at, warning, type ValidationIssue } from '../issues.ts';

export type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function obj(v: unknown): Obj | undefined {
  return isObj(v) ? v : undefined;
}

/** The array, or [] for anything else. */
export function arr(v: unknown): unknown[] {
  return Array.isArray(v) ? v : [];
}

export function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Number of entries of a list field; 0 when absent or not a list. */
export function count(o: Obj, key: string): number {
  return arr(o[key]).length;
}

export function has(o: Obj, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, key) && o[key] !== undefined && o[key] !== null;
}

/** JSON.stringify for messages, short and never throwing. */
export function show(v: unknown): string {
  try {
    const s = JSON.stringify(v);
    if (s === undefined) return String(v);
    return s.length > 80 ? `${s.slice(0, 77)}...` : s;
  } catch {
    return String(v);
  }
}

/**
 * Keys that differ from a known field only in letter case (`HTTP` for `http`). Go's JSON decoding
 * would accept them, but the API server prunes unknown fields, so the intended field silently vanishes.
 */
export function caseTypos(o: Obj, known: readonly string[]): Array<{ key: string; field: string }> {
  const out: Array<{ key: string; field: string }> = [];
  for (const key of Object.keys(o)) {
    if (known.includes(key)) continue;
    const field = known.find((k) => k.toLowerCase() === key.toLowerCase());
    if (field) out.push({ key, field });
  }
  return out;
}

export function caseTypoWarnings(o: Obj, known: readonly string[], path: string): ValidationIssue[] {
  return caseTypos(o, known).map(({ key, field }) =>
    warning(
      at(path, key),
      `${show(key)} is not a field (field names are case-sensitive), so the API server drops it and it has no effect: write ${field}`,
    ),
  );
}
