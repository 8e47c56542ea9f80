// Policy status: every CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy gets a `Valid`
// condition computed by the webhooks' validation core, so a policy stored while the webhook was
// down (or before it existed) shows as invalid in `kubectl get cnp`. One key per policy: a policy
// whose status cannot be written is retried with backoff and delays no other.
import type { KubernetesObject } from '@kubernetes/client-node';
import { validate, formatIssues } from '../webhooks/validate.ts';
import { mergeConditions, type DesiredCondition, type StatusCondition } from './lb-ipam/allocator.ts';
import { resources, WrittenOverlay, type ControllerContext, type ResourceRef } from './context.ts';
import { QueueController } from './lifecycle.ts';
import type { ResilientInformer } from '../lib/informer.ts';

export const CONDITION_VALID = 'Valid';
export const REASON_VALID = 'Valid';
export const REASON_INVALID = 'Invalid';

/** The apiserver accepts long messages, but kubectl output should stay readable. */
const maxMessage = 2048;

interface PolicyObject extends KubernetesObject {
  status?: { conditions?: StatusCondition[] };
}

/** The Valid condition for one stored policy (pure). */
export function validCondition(policy: PolicyObject): DesiredCondition {
  // Judge what the user wrote: the status is ours, and the apiserver's bookkeeping is not policy.
  const { status: _status, ...doc } = policy;
  const result = validate(doc);
  const clip = (s: string) => (s.length > maxMessage ? `${s.slice(0, maxMessage - 1)}…` : s);
  if (result.errors.length > 0) {
    return {
      type: CONDITION_VALID,
      status: 'False',
      reason: REASON_INVALID,
      message: clip(formatIssues(result.errors).join('; ')),
    };
  }
  const warnings = formatIssues(result.warnings);
  return {
    type: CONDITION_VALID,
    status: 'True',
    reason: REASON_VALID,
    message: clip(warnings.length ? `valid, with warnings: ${warnings.join('; ')}` : 'Policy validation succeeded'),
  };
}

function policyKey(kind: 'cnp' | 'ccnp', p: PolicyObject): string {
  return `${kind}/${p.metadata?.namespace ?? ''}/${p.metadata?.name ?? ''}`;
}

export class PolicyStatusController extends QueueController {
  readonly name = 'policy-status';
  readonly uses = ['cnps', 'ccnps'] as const;
  readonly #informers: Record<'cnp' | 'ccnp', ResilientInformer<PolicyObject>>;
  readonly #written = new WrittenOverlay<{ resourceVersion: string; conditions: StatusCondition[] }>();

  constructor(ctx: ControllerContext) {
    super(ctx, { concurrency: 4 });
    this.#informers = { cnp: ctx.informer<PolicyObject>('cnps'), ccnp: ctx.informer<PolicyObject>('ccnps') };
    for (const kind of ['cnp', 'ccnp'] as const) {
      this.#informers[kind].on((type, p) => {
        if (type === 'delete') this.#written.delete(policyKey(kind, p));
        else this.enqueue(policyKey(kind, p));
      });
    }
  }

  protected override reset(): void {
    this.#written.clear();
  }

  protected *fullPass(): Iterable<string> {
    for (const kind of ['cnp', 'ccnp'] as const) for (const p of this.#informers[kind].list()) yield policyKey(kind, p);
  }

  protected async reconcile(key: string): Promise<void> {
    const [kind, namespace, name] = key.split('/') as ['cnp' | 'ccnp', string, string];
    const policy = this.#informers[kind].get(name, namespace || undefined);
    if (!policy) return;
    const written = this.#written.get(key, policy.metadata?.resourceVersion);
    const existing = written?.conditions ?? policy.status?.conditions;
    const resourceVersion = written?.resourceVersion ?? policy.metadata?.resourceVersion ?? '';
    const desired = validCondition(policy);
    const current = existing?.find((c) => c.type === CONDITION_VALID);
    // Cilium's PolicyCondition has no observedGeneration (the apiserver would prune it): the
    // condition is current when it says what the validator says about the spec as it is now.
    if (
      current &&
      current.status === desired.status &&
      (current.reason ?? '') === desired.reason &&
      (current.message ?? '') === desired.message
    ) {
      return;
    }
    this.ctx.assertLeader(`write the status of ${key}`);
    const conditions = mergeConditions(existing, [desired], new Date().toISOString());
    const r: ResourceRef = kind === 'cnp' ? resources.cnps : resources.ccnps;
    const rv = await this.ctx.patchStatus(
      {
        group: r.group,
        version: r.version,
        plural: r.plural,
        kind: r.kind,
        ...(namespace ? { namespace } : {}),
        name,
        resourceVersion,
      },
      { conditions },
    );
    this.ctx.metrics.writes.inc({ controller: this.name, kind: r.kind });
    this.#written.set(key, rv, { resourceVersion: rv, conditions });
    const log = desired.status === 'True' ? this.ctx.log.info.bind(this.ctx.log) : this.ctx.log.warn.bind(this.ctx.log);
    log('policy validity', {
      kind: r.kind,
      namespace: namespace || undefined,
      name,
      valid: desired.status,
      detail: desired.message,
    });
  }
}
