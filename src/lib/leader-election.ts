// Leader election on a coordination.k8s.io/v1 Lease, as client-go's leaderelection does it:
// - a candidate takes the lease when it is free, or when its record has not changed for
//   leaseDuration by our own clock (we never compare our clock with the holder's timestamps);
// - the leader renews every retryPeriod; if it cannot renew within renewDeadline it stops leading
//   at once (isLeader() turns false even before the next tick notices);
// - every write carries the resourceVersion it read, so two candidates cannot both win a round;
// - stop() releases the lease (holder cleared) so a standby takes over without waiting.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { errorText, statusOf } from './kube.ts';
import type { Logger } from './log.ts';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  /** default 15 s */
  leaseDurationMs?: number;
  /** default 10 s */
  renewDeadlineMs?: number;
  /** default 2 s */
  retryPeriodMs?: number;
  onStartedLeading: () => void | Promise<void>;
  onStoppedLeading: () => void | Promise<void>;
  onNewLeader?: (identity: string) => void;
  log: Logger;
}

interface Observed {
  holder: string;
  renewTime: string;
  transitions: number;
  resourceVersion: string;
}

export class LeaderElector {
  readonly #o: Required<Omit<LeaderElectionOptions, 'onNewLeader'>> & Pick<LeaderElectionOptions, 'onNewLeader'>;
  readonly #api: CoordinationV1Api;
  #observed: Observed | undefined;
  /** when #observed last changed, by our clock */
  #observedAt = 0;
  /** last successful acquire or renew, by our clock; 0 when not leading */
  #renewedAt = 0;
  #leading = false;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #tick: Promise<void> | undefined;
  #lastLeader = '';

  constructor(opts: LeaderElectionOptions) {
    this.#o = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, ...opts };
    this.#api = opts.kc.makeApiClient(CoordinationV1Api);
  }

  get identity(): string {
    return this.#o.identity;
  }

  /** True only while our last renewal is younger than the renew deadline. */
  isLeader(): boolean {
    return this.#leading && Date.now() - this.#renewedAt < this.#o.renewDeadlineMs;
  }

  /** The holder we last saw ('' when none). */
  get leader(): string {
    return this.#observed?.holder ?? '';
  }

  start(): void {
    this.#stopped = false;
    this.#schedule(0);
  }

  /** Stop campaigning; a leader releases the lease so a standby takes over at once. */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#tick;
    if (this.#leading) {
      if (opts.release ?? true) await this.#release();
      await this.#lose('stopped');
    }
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      this.#tick = this.#round().finally(() => this.#schedule(this.#nextDelay()));
    }, ms);
    this.#timer.unref();
  }

  /** A standby tries again the moment the holder's lease runs out, not up to retryPeriod later. */
  #nextDelay(): number {
    const o = this.#observed;
    if (this.#leading || !o || o.holder === '' || o.holder === this.#o.identity) return this.#o.retryPeriodMs;
    const expiresIn = this.#observedAt + this.#o.leaseDurationMs - Date.now();
    return Math.max(10, Math.min(this.#o.retryPeriodMs, expiresIn + 10));
  }

  async #round(): Promise<void> {
    try {
      const ok = await this.#tryAcquireOrRenew();
      if (ok) {
        this.#renewedAt = Date.now();
        if (!this.#leading && !this.#stopped) {
          this.#leading = true;
          this.#o.log.info('became leader', {
            lease: `${this.#o.namespace}/${this.#o.name}`,
            identity: this.#o.identity,
          });
          await this.#o.onStartedLeading();
        }
        return;
      }
    } catch (err) {
      this.#o.log.warn('lease update failed', { lease: `${this.#o.namespace}/${this.#o.name}`, error: errorText(err) });
    }
    if (this.#leading && Date.now() - this.#renewedAt >= this.#o.renewDeadlineMs)
      await this.#lose('renew deadline passed');
  }

  async #lose(why: string): Promise<void> {
    if (!this.#leading) return;
    this.#leading = false;
    this.#renewedAt = 0;
    this.#o.log.log(why === 'stopped' ? 'info' : 'warn', 'stopped leading', {
      lease: `${this.#o.namespace}/${this.#o.name}`,
      identity: this.#o.identity,
      why,
    });
    await this.#o.onStoppedLeading();
  }

  #observe(lease: V1Lease): void {
    const spec = lease.spec ?? {};
    const next: Observed = {
      holder: spec.holderIdentity ?? '',
      renewTime: String(spec.renewTime ?? ''),
      transitions: spec.leaseTransitions ?? 0,
      resourceVersion: lease.metadata?.resourceVersion ?? '',
    };
    const o = this.#observed;
    if (!o || o.holder !== next.holder || o.renewTime !== next.renewTime || o.transitions !== next.transitions) {
      this.#observedAt = Date.now();
    }
    this.#observed = next;
    if (next.holder !== this.#lastLeader) {
      this.#lastLeader = next.holder;
      if (next.holder) this.#o.onNewLeader?.(next.holder);
    }
  }

  #spec(transitions: number, acquireTime: V1MicroTime | undefined): V1Lease['spec'] {
    const now = new V1MicroTime();
    return {
      holderIdentity: this.#o.identity,
      leaseDurationSeconds: Math.ceil(this.#o.leaseDurationMs / 1000),
      acquireTime: acquireTime ?? now,
      renewTime: now,
      leaseTransitions: transitions,
    };
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.#o;
    let lease: V1Lease;
    try {
      lease = await this.#api.readNamespacedLease({ name, namespace });
    } catch (err) {
      if (statusOf(err) !== 404) throw err;
      const created = await this.#api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: this.#spec(0, undefined),
        },
      });
      this.#observe(created);
      return true;
    }
    this.#observe(lease);
    const o = this.#observed!;
    const mine = o.holder === identity;
    const expired = Date.now() - this.#observedAt >= this.#o.leaseDurationMs;
    if (!mine && o.holder !== '' && !expired) {
      // Someone else holds a live lease: if we thought we led, we stop writing now, not at the deadline.
      if (this.#leading) await this.#lose(`lease taken by ${o.holder}`);
      return false;
    }
    const body: V1Lease = {
      ...lease,
      spec: this.#spec(mine ? o.transitions : o.transitions + 1, mine ? lease.spec?.acquireTime : undefined),
    };
    try {
      const updated = await this.#api.replaceNamespacedLease({ name, namespace, body });
      this.#observe(updated);
      return true;
    } catch (err) {
      // Someone else wrote the lease since we read it: they won this round.
      if (statusOf(err) === 409) return false;
      throw err;
    }
  }

  async #release(): Promise<void> {
    const { namespace, name } = this.#o;
    try {
      const lease = await this.#api.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== this.#o.identity) return;
      await this.#api.replaceNamespacedLease({
        name,
        namespace,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: new V1MicroTime() },
        },
      });
    } catch (err) {
      this.#o.log.warn('releasing the lease failed', { error: errorText(err) });
    }
  }
}
