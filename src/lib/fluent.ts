// kubernetes-fluent-client behind a thin adapter: typed reads, creates, server-side applies,
// deletes and status patches of built-in kinds against one kubeconfig file. Its objects are
// @kubernetes/client-node 1.x models (its own copy): they stay on this side, never mixed with
// src/lib/kube.ts's 2.x KubeConfig or models. Kinds are named ('Pod', 'Node' …), so callers never
// hold the library's classes, and the library (~0.4 s to load) loads on the first call, not on import:
// `lab pod list` and `lab probe` never pay for it.
import type { K8s as K8sFn, kind as Kinds } from 'kubernetes-fluent-client';

type Fluent = typeof import('kubernetes-fluent-client');
let library: Promise<Fluent> | undefined;
const load = (): Promise<Fluent> => (library ??= import('kubernetes-fluent-client'));

/** A built-in kind as fluent-client's `kind` names it, and its object. */
export type KindName = keyof typeof Kinds;
// Objects read back are the apiserver's JSON as is: a field typed Date holds an RFC 3339 string.
export type Obj<N extends KindName> = InstanceType<(typeof Kinds)[N]>;
export type Pod = Obj<'Pod'>;
export type Node = Obj<'Node'>;
export type ServiceAccount = Obj<'ServiceAccount'>;

/** What the apiserver refused, with its HTTP status as `code` (so lib/kube.ts's statusOf reads it). */
export class ApiError extends Error {
  readonly code: number;
  constructor(code: number, message: string) {
    super(message);
    this.code = code;
  }
}

function apiError(err: unknown, what: string): Error {
  // fluent-client rejects with its fetch result: { status, statusText, data } (data: a metav1.Status).
  const r = err as { status?: unknown; statusText?: unknown; data?: { message?: unknown } } | undefined;
  if (typeof r?.status !== 'number') return err instanceof Error ? err : new Error(`${what}: ${String(err)}`);
  const status = typeof r.statusText === 'string' ? r.statusText : '';
  const detail = typeof r.data?.message === 'string' ? r.data.message : status;
  return new ApiError(r.status, `${what}: ${detail} (HTTP ${r.status})`);
}

/** What Apply and PatchStatus take: the object with every field optional. */
export type Draft<N extends KindName> = Parameters<ReturnType<typeof K8sFn<(typeof Kinds)[N]>>['Apply']>[0];

export interface Cluster {
  /** undefined when there is no such object */
  get<N extends KindName>(kind: N, name: string, namespace?: string): Promise<Obj<N> | undefined>;
  create<N extends KindName>(kind: N, obj: Obj<N>): Promise<Obj<N>>;
  /** Server-side apply. fluent-client records it under the field manager "pepr" (hard-coded in 3.11). */
  apply<N extends KindName>(kind: N, obj: Draft<N>, opts?: { force?: boolean }): Promise<Obj<N>>;
  /** Deletes with the object's own grace period; an object already gone is not an error. */
  delete<N extends KindName>(kind: N, name: string, namespace?: string): Promise<void>;
  /** A merge patch of the status subresource with `obj.status`. */
  patchStatus<N extends KindName>(kind: N, obj: Draft<N>): Promise<Obj<N>>;
}

/**
 * fluent-client reads the default kubeconfig ($KUBECONFIG) itself, synchronously when a call
 * starts; setting it around that moment points each call at `kubeconfig` without leaving the
 * process's environment changed. (Watches re-read it on every reconnect: not offered here.)
 */
async function on<R>(kubeconfig: string, what: string, call: (f: Fluent) => Promise<R>): Promise<R> {
  const f = await load();
  const before = process.env.KUBECONFIG;
  process.env.KUBECONFIG = kubeconfig;
  let pending: Promise<R>;
  try {
    pending = call(f);
  } finally {
    if (before === undefined) delete process.env.KUBECONFIG;
    else process.env.KUBECONFIG = before;
  }
  try {
    return await pending;
  } catch (e) {
    throw apiError(e, what);
  }
}

function ref(kind: KindName, name: string | undefined, namespace?: string): string {
  return `${kind} ${namespace ? `${namespace}/` : ''}${name ?? ''}`;
}

function named(obj: { metadata?: { name?: string; namespace?: string } }): [string | undefined, string | undefined] {
  return [obj.metadata?.name, obj.metadata?.namespace];
}

/** The cluster a kubeconfig file points at. */
export function cluster(kubeconfig: string): Cluster {
  const scoped = <N extends KindName>(f: Fluent, kind: N, namespace?: string) =>
    namespace ? f.K8s(f.kind[kind]).InNamespace(namespace) : f.K8s(f.kind[kind]);
  const of = <N extends KindName>(f: Fluent, kind: N) => f.K8s(f.kind[kind]);
  return {
    async get(kind, name, namespace) {
      try {
        return await on(kubeconfig, `reading ${ref(kind, name, namespace)}`, (f) =>
          scoped(f, kind, namespace).Get(name),
        );
      } catch (e) {
        if (e instanceof ApiError && e.code === 404) return undefined;
        throw e;
      }
    },
    create: (kind, obj) => on(kubeconfig, `creating ${ref(kind, ...named(obj))}`, (f) => of(f, kind).Create(obj)),
    apply: (kind, obj, opts) =>
      on(kubeconfig, `applying ${ref(kind, ...named(obj))}`, (f) =>
        of(f, kind).Apply(obj, { force: opts?.force ?? false }),
      ),
    delete: (kind, name, namespace) =>
      on(kubeconfig, `deleting ${ref(kind, name, namespace)}`, (f) => scoped(f, kind, namespace).Delete(name)),
    patchStatus: (kind, obj) =>
      on(kubeconfig, `updating the status of ${ref(kind, ...named(obj))}`, (f) => of(f, kind).PatchStatus(obj)),
  };
}
