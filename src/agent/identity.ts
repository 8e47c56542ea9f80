// Security identities through CiliumIdentity objects (Cilium's CRD identity backend): one object
// per label set, named by its numeric id, with the labels in `security-labels`.
//
// Allocation is deterministic so that agents racing on the same labels meet on one object: the
// first candidate id is a hash of the canonical label key; a candidate held by other labels is
// skipped (linear probing through the cluster-local range); a create that loses the race (409)
// reads the winner and reuses it when the labels are the same. An identity that already exists
// for the labels, under any id, is always reused first.
//
// GitOps: Cilium copies a pod's labels into its CiliumIdentity's metadata.labels, so Argo CD's
// tracking label (app.kubernetes.io/instance) lands there too and Argo CD prunes identities as
// its own. We never copy pod labels into metadata: the labels below mark the object as ours, and
// the annotations tell Argo CD to neither compare nor prune it.
import { createHash } from 'node:crypto';
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { CiliumIdentity } from '../api/types.generated.ts';
import {
  CLUSTER_IDENTITY_MAX,
  CLUSTER_IDENTITY_MIN,
  labelSetKey,
  PodNamespaceLabel,
  type LabelSet,
} from '../policy/labels.ts';
import { statusOf } from '../lib/kube.ts';

export const IDENTITY_GROUP = 'cilium.io';
export const IDENTITY_VERSION = 'v2';
export const IDENTITY_PLURAL = 'ciliumidentities';

export const identityMetadata = {
  labels: { 'app.kubernetes.io/managed-by': 'cilium-ts-agent' },
  annotations: {
    'argocd.argoproj.io/compare-options': 'IgnoreExtraneous',
    'argocd.argoproj.io/sync-options': 'Prune=false',
  },
} as const;

const RANGE = CLUSTER_IDENTITY_MAX - CLUSTER_IDENTITY_MIN + 1;

/** The first id tried for a label set: the same on every node. */
export function candidateId(labels: LabelSet): number {
  const h = createHash('sha256').update(labelSetKey(labels)).digest();
  return CLUSTER_IDENTITY_MIN + (h.readUInt32BE(0) % RANGE);
}

function sameLabels(a: LabelSet | undefined, b: LabelSet): boolean {
  return a !== undefined && labelSetKey(a) === labelSetKey(b);
}

/** What the allocator knows of existing identities (the agent's CiliumIdentity informer cache). */
export interface IdentityView {
  labelsOf(id: number): LabelSet | undefined;
  /** Ids whose labels are exactly these. */
  idsFor(labels: LabelSet): number[];
}

/** An IdentityView over a plain id → labels map, kept by the caller. */
export class IdentityCache implements IdentityView {
  readonly #byId = new Map<number, LabelSet>();
  readonly #byKey = new Map<string, Set<number>>();

  set(id: number, labels: LabelSet): void {
    this.delete(id);
    this.#byId.set(id, labels);
    const key = labelSetKey(labels);
    let ids = this.#byKey.get(key);
    if (!ids) this.#byKey.set(key, (ids = new Set()));
    ids.add(id);
  }

  delete(id: number): void {
    const old = this.#byId.get(id);
    if (!old) return;
    this.#byId.delete(id);
    const key = labelSetKey(old);
    this.#byKey.get(key)?.delete(id);
    if (this.#byKey.get(key)?.size === 0) this.#byKey.delete(key);
  }

  labelsOf(id: number): LabelSet | undefined {
    return this.#byId.get(id);
  }

  idsFor(labels: LabelSet): number[] {
    return [...(this.#byKey.get(labelSetKey(labels)) ?? [])].sort((a, b) => a - b);
  }

  entries(): IterableIterator<[number, LabelSet]> {
    return this.#byId.entries();
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Reads a CiliumIdentity object into the cache; false when it is not a numeric identity. */
  apply(obj: CiliumIdentity, deleted = false): boolean {
    const id = Number(obj.metadata.name);
    if (!Number.isInteger(id)) return false;
    if (deleted) this.delete(id);
    else this.set(id, normalizeSecurityLabels(obj['security-labels']));
    return true;
  }
}

function normalizeSecurityLabels(l: Record<string, string | undefined> | undefined): LabelSet {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(l ?? {})) out[k] = v ?? '';
  return out;
}

export interface AllocateResult {
  id: number;
  created: boolean;
}

export class IdentityAllocator {
  readonly #api: CustomObjectsApi;
  readonly #view: IdentityView;
  /** Allocations in flight, so concurrent requests for one label set make one object. */
  readonly #pending = new Map<string, Promise<AllocateResult>>();

  constructor(api: CustomObjectsApi, view: IdentityView) {
    this.#api = api;
    this.#view = view;
  }

  allocate(labels: LabelSet): Promise<AllocateResult> {
    const key = labelSetKey(labels);
    let p = this.#pending.get(key);
    if (!p) {
      p = this.#allocate(labels).finally(() => this.#pending.delete(key));
      this.#pending.set(key, p);
    }
    return p;
  }

  async #allocate(labels: LabelSet): Promise<AllocateResult> {
    const known = this.#view.idsFor(labels)[0];
    if (known !== undefined) return { id: known, created: false };
    let id = candidateId(labels);
    for (let tries = 0; tries < RANGE; tries++, id = id === CLUSTER_IDENTITY_MAX ? CLUSTER_IDENTITY_MIN : id + 1) {
      const holder = this.#view.labelsOf(id);
      if (holder) {
        if (sameLabels(holder, labels)) return { id, created: false };
        continue;
      }
      try {
        await this.#api.createClusterCustomObject({
          group: IDENTITY_GROUP,
          version: IDENTITY_VERSION,
          plural: IDENTITY_PLURAL,
          body: identityObject(id, labels),
        });
        return { id, created: true };
      } catch (err) {
        if (statusOf(err) !== 409) throw err;
      }
      // Someone else holds this id: ours if they allocated the same labels, else probe on.
      const existing = (await this.#api.getClusterCustomObject({
        group: IDENTITY_GROUP,
        version: IDENTITY_VERSION,
        plural: IDENTITY_PLURAL,
        name: String(id),
      })) as CiliumIdentity;
      if (sameLabels(normalizeSecurityLabels(existing['security-labels']), labels)) return { id, created: false };
    }
    throw new Error(`no free identity left in ${CLUSTER_IDENTITY_MIN}-${CLUSTER_IDENTITY_MAX}`);
  }
}

export function identityObject(id: number, labels: LabelSet): CiliumIdentity {
  const ns = labels[`k8s:${PodNamespaceLabel}`];
  return {
    apiVersion: `${IDENTITY_GROUP}/${IDENTITY_VERSION}`,
    kind: 'CiliumIdentity',
    metadata: {
      name: String(id),
      labels: { ...identityMetadata.labels, ...(ns ? { [PodNamespaceLabel]: ns } : {}) },
      annotations: { ...identityMetadata.annotations },
    },
    'security-labels': { ...labels },
  };
}
