// What a validator says about a document: errors reject it, warnings are passed to kubectl
// (`Warning: …`) and to `cilium-ts policy validate`. Each names the field and says what would be
// right, so a user can fix the manifest without reading our source.

export type Severity = 'error' | 'warning';

export interface ValidationIssue {
  severity: Severity;
  /** field path in kubectl's style: `spec.ingress[0].toPorts[1].ports[0].endPort` */
  path: string;
  /** what is wrong, then what would be right: `endPort 80 is below port 8080; set endPort ≥ port` */
  message: string;
}

export interface ValidationResult {
  errors: ValidationIssue[];
  warnings: ValidationIssue[];
}

/** Builds paths the same way everywhere: `at('spec', 'ingress', 0, 'toPorts')` → `spec.ingress[0].toPorts`. */
export function at(...parts: Array<string | number>): string {
  let out = '';
  for (const p of parts) {
    if (typeof p === 'number') out += `[${p}]`;
    else if (p.includes('.') && out !== '') out += `[${JSON.stringify(p)}]`;
    else out += out === '' ? p : `.${p}`;
  }
  return out;
}

export function error(path: string, message: string): ValidationIssue {
  return { severity: 'error', path, message };
}

export function warning(path: string, message: string): ValidationIssue {
  return { severity: 'warning', path, message };
}

export function split(issues: ValidationIssue[]): ValidationResult {
  return {
    errors: issues.filter((i) => i.severity === 'error'),
    warnings: issues.filter((i) => i.severity === 'warning'),
  };
}
