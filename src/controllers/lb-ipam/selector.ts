// metav1.LabelSelector matching (matchLabels AND matchExpressions), as Kubernetes evaluates it.
import type { ServiceSelector } from '../../api/types.generated.ts';

export type Labels = Readonly<Record<string, string | undefined>>;

/** An unset selector selects everything; an empty one does too (LabelSelectorAsSelector of {}). */
export function selectorMatches(sel: ServiceSelector | undefined, labels: Labels): boolean {
  if (!sel) return true;
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) {
    if (v === undefined) continue;
    if (labels[k] !== v) return false;
  }
  for (const req of sel.matchExpressions ?? []) {
    const has = Object.hasOwn(labels, req.key) && labels[req.key] !== undefined;
    const value = labels[req.key];
    const values = req.values ?? [];
    switch (req.operator) {
      case 'In':
        if (!has || !values.includes(value as string)) return false;
        break;
      case 'NotIn':
        if (has && values.includes(value as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        // An unknown operator cannot be evaluated; Kubernetes rejects such a selector, so it matches nothing.
        return false;
    }
  }
  return true;
}
