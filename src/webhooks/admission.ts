// AdmissionReview v1 in, AdmissionReview v1 out: the webhook's decision, a pure function of the
// request, so it is tested without a server.
import { validate, formatIssues } from './validate.ts';

export interface AdmissionRequest {
  uid: string;
  kind?: { group?: string; version?: string; kind?: string };
  operation?: string;
  name?: string;
  namespace?: string;
  object?: unknown;
}

export interface AdmissionReview {
  apiVersion: string;
  kind: string;
  request?: AdmissionRequest;
  response?: AdmissionResponse;
}

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  status?: { code: number; reason: string; message: string };
  warnings?: string[];
}

export interface Decision {
  review: AdmissionReview;
  verdict: 'allowed' | 'denied';
  kind: string;
  name: string;
  namespace?: string;
  errors: number;
  warnings: number;
}

// The apiserver keeps warnings short: it truncates long ones and drops some past a total budget.
const maxWarning = 256;
const maxWarnings = 20;

export function review(input: AdmissionReview): Decision {
  const req = input.request;
  if (!req || typeof req.uid !== 'string') throw new Error('not an AdmissionReview request: request.uid missing');
  const kind = req.kind?.kind ?? 'unknown';
  const obj = req.object as { metadata?: { name?: string; namespace?: string } } | undefined;
  const name = req.name ?? obj?.metadata?.name ?? '';
  const namespace = req.namespace ?? obj?.metadata?.namespace;
  const respond = (response: Omit<AdmissionResponse, 'uid'>, errors = 0, warnings = 0): Decision => ({
    review: { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response: { uid: req.uid, ...response } },
    verdict: response.allowed ? 'allowed' : 'denied',
    kind,
    name,
    namespace,
    errors,
    warnings,
  });
  if (req.operation !== 'CREATE' && req.operation !== 'UPDATE') return respond({ allowed: true });

  const result = validate(req.object);
  const warnings = formatIssues(result.warnings)
    .slice(0, maxWarnings)
    .map((w) => (w.length > maxWarning ? `${w.slice(0, maxWarning - 1)}…` : w));
  if (result.errors.length === 0)
    return respond({ allowed: true, ...(warnings.length ? { warnings } : {}) }, 0, warnings.length);
  const who = `${kind} ${namespace ? `${namespace}/` : ''}${name}`;
  const n = result.errors.length;
  const message = `${who} is invalid (${n} error${n === 1 ? '' : 's'}):\n${formatIssues(result.errors)
    .map((l) => `  ${l}`)
    .join('\n')}`;
  return respond(
    { allowed: false, status: { code: 422, reason: 'Invalid', message }, ...(warnings.length ? { warnings } : {}) },
    n,
    warnings.length,
  );
}
