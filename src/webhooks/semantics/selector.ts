// Label selectors as Cilium's EndpointSelector.Validate checks them (a copy of Kubernetes'
// ValidateLabelSelector): qualified label keys, valid values, and values present exactly for the
// operators that compare values. Cilium keys may carry a source prefix (`k8s:app`, `reserved:host`).

import { labelSources } from '../../policy/api/index.ts';
import { at, error, type ValidationIssue } from '../issues.ts';
import { arr, isObj, obj, show, str } from './json.ts';

const operators = ['In', 'NotIn', 'Exists', 'DoesNotExist'];

const dns1123Label = '[a-z0-9]([-a-z0-9]*[a-z0-9])?';
const dns1123Subdomain = new RegExp(`^${dns1123Label}(\\.${dns1123Label})*$`);
const qualifiedName = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

/** Why `key` is not a valid label key, or undefined when it is. */
export function labelKeyProblem(key: string, allowSource = true): string | undefined {
  let k = key;
  const colon = k.indexOf(':');
  if (allowSource && colon >= 0) {
    const source = k.slice(0, colon);
    if (!labelSources.has(source)) {
      return `unknown label source "${source}:" (known: ${[...labelSources].map((s) => `${s}:`).join(', ')}); drop the prefix or use one of these`;
    }
    k = k.slice(colon + 1);
  }
  if (k === '') return 'the key is empty; give a label name such as app or k8s:app';
  const slash = k.indexOf('/');
  let name = k;
  if (slash >= 0) {
    const prefix = k.slice(0, slash);
    name = k.slice(slash + 1);
    if (prefix.length > 253 || !dns1123Subdomain.test(prefix)) {
      return `prefix "${prefix}" is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253 characters)`;
    }
  }
  if (name.length > 63 || !qualifiedName.test(name)) {
    return `name "${name}" must be at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit`;
  }
  return undefined;
}

export function labelValueProblem(v: string): string | undefined {
  if (v.length > 63 || !labelValue.test(v)) {
    return "a label value is at most 63 characters of letters, digits, '-', '_' and '.', starting and ending with a letter or digit (or empty)";
  }
  return undefined;
}

/**
 * Checks one selector at `path` (a path string already built with at()). `allowSource`: whether keys
 * may carry a Cilium source prefix — true for Cilium selectors, false for Kubernetes ones.
 */
export function checkSelector(sel: unknown, path: string, allowSource = true): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const s = obj(sel);
  if (!s) return out;
  const ml = obj(s.matchLabels);
  if (ml) {
    for (const key of Object.keys(ml)) {
      const p = labelKeyProblem(key, allowSource);
      if (p) out.push(error(at(path, 'matchLabels', key), `label key ${show(key)} is invalid: ${p}`));
    }
  }
  arr(s.matchExpressions).forEach((e, i) => {
    if (!isObj(e)) return;
    const ep = at(path, 'matchExpressions', i);
    const key = str(e.key);
    if (key !== undefined) {
      const p = labelKeyProblem(key, allowSource);
      if (p) out.push(error(at(ep, 'key'), `label key ${show(key)} is invalid: ${p}`));
    }
    const op = str(e.operator);
    const canon = op === undefined ? undefined : operators.find((o) => o.toLowerCase() === op.toLowerCase());
    if (op !== undefined && canon !== op) {
      out.push(
        error(
          at(ep, 'operator'),
          canon
            ? `operator ${show(op)} must be written ${canon}: operators are case-sensitive (In, NotIn, Exists, DoesNotExist)`
            : `operator ${show(op)} is not a label selector operator: use In, NotIn, Exists or DoesNotExist`,
        ),
      );
    }
    const values = Array.isArray(e.values) ? e.values : undefined;
    const n = values?.length ?? 0;
    if (op === 'In' || op === 'NotIn') {
      if (n === 0) {
        out.push(
          error(
            at(ep, 'values'),
            `operator ${op} needs at least one value: list the values to compare with, or use ${op === 'In' ? 'Exists' : 'DoesNotExist'} to test only for the label`,
          ),
        );
      }
    } else if (op === 'Exists' || op === 'DoesNotExist') {
      if (n > 0) {
        out.push(
          error(
            at(ep, 'values'),
            `operator ${op} takes no values, but ${n} are given: remove values, or use ${op === 'Exists' ? 'In' : 'NotIn'} to compare with them`,
          ),
        );
      }
    }
    (values ?? []).forEach((v, j) => {
      if (typeof v !== 'string') return;
      const p = labelValueProblem(v);
      if (p) out.push(error(at(ep, 'values', j), `value ${show(v)} is not a valid label value: ${p}`));
    });
  });
  return out;
}

/** Whether the selector matches everything (no labels, no expressions). */
export function isWildcardSelector(sel: unknown): boolean {
  const s = obj(sel);
  if (!s) return false;
  return Object.keys(obj(s.matchLabels) ?? {}).length === 0 && arr(s.matchExpressions).length === 0;
}
