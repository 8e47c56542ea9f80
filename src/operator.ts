// The operator process: the framework's lifecycle (src/controllers/framework.ts) around our own
// machinery — shared resilient informers (warm on every replica), leader election on a Lease,
// per-controller work queues that exist only while we lead, and /healthz, /readyz, /metrics.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { loadKubeConfig } from './lib/kube.ts';
import { logger, type Logger } from './lib/log.ts';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { counter, gauge, histogram } from './lib/metrics.ts';
import { startHealthServer, type HealthServer } from './lib/health.ts';
import { LeaderElector } from './lib/leader-election.ts';
import { WorkQueue } from './lib/workqueue.ts';
import type { ResilientInformer } from './lib/informer.ts';
import { OperatorFramework } from './controllers/framework.ts';
import { patchStatus } from './controllers/status.ts';
import {
  errorMessage,
  makeInformer,
  NotLeaderError,
  resources,
  type Controller,
  type ControllerContext,
  type OperatorMetrics,
  type ResourceName,
} from './controllers/context.ts';
import { LBIPAMController, type LBIPAMControllerOptions } from './controllers/lb-ipam/controller.ts';
import { PodCIDRController } from './controllers/pod-cidr/controller.ts';
import { PolicyStatusController } from './controllers/policy-status.ts';
import { GarbageCollector, type GCOptions } from './controllers/gc.ts';
import type { FamilyPoolConfig } from './controllers/pod-cidr/allocator.ts';

export interface OperatorConfig {
  /** kubeconfig file; $KUBECONFIG, in-cluster or ~/.kube/config when unset */
  kubeconfig?: string;
  /** where the Lease lives */
  namespace: string;
  leaseName: string;
  /** this replica's name in the Lease; hostname + random suffix by default */
  identity: string;
  leaderElect: boolean;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  /** /healthz, /readyz, /metrics; 0 picks a free port, -1 disables */
  healthPort: number;
  healthHost?: string;
  /** create missing CRDs from this folder at start (normally kustomize installs them) */
  registerCrds?: string;
  lbIPAM: (LBIPAMControllerOptions & { enabled: boolean }) | undefined;
  podCIDR: { ipv4?: FamilyPoolConfig; ipv6?: FamilyPoolConfig } | undefined;
  policyStatus: boolean;
  gc: GCOptions | undefined;
}

export function defaultConfig(): OperatorConfig {
  return {
    namespace: process.env.POD_NAMESPACE ?? 'kube-system',
    leaseName: 'cilium-operator-resource-lock',
    identity: `${hostname()}-${randomBytes(4).toString('hex')}`,
    leaderElect: true,
    leaseDurationMs: 15_000,
    renewDeadlineMs: 10_000,
    retryPeriodMs: 2_000,
    healthPort: 9234,
    lbIPAM: { enabled: true },
    podCIDR: undefined,
    policyStatus: true,
    gc: {},
  };
}

function list(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

function duration(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`${what}: '${v}' is not a duration (e.g. 500ms, 30s, 15m)`);
  const n = Number(m[1]);
  return n * ({ ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's'] ?? 1000);
}

function int(v: string | undefined, what: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw new Error(`${what}: '${v}' is not an integer`);
  return n;
}

/**
 * Settings by name, as flags (--cluster-pool-ipv4-cidr) or environment / ConfigMap keys
 * (CLUSTER_POOL_IPV4_CIDR); a flag wins over the environment.
 */
export const settingNames = [
  'kubeconfig',
  'namespace',
  'lease-name',
  'identity',
  'leader-elect',
  'health-port',
  'register-crds',
  'enable-lb-ipam',
  'default-lb-service-ipam',
  'lb-classes',
  'enable-ipv4',
  'enable-ipv6',
  'bpf-lb-proto-diff',
  'cluster-pool-ipv4-cidr',
  'cluster-pool-ipv4-mask-size',
  'cluster-pool-ipv6-cidr',
  'cluster-pool-ipv6-mask-size',
  'enable-policy-status',
  'enable-gc',
  'gc-interval',
  'identity-gc-grace',
  'orphan-gc-grace',
] as const;

export type Settings = Partial<Record<(typeof settingNames)[number], string>>;

export function envName(setting: string): string {
  return setting.toUpperCase().replace(/-/g, '_');
}

export function configFrom(flags: Settings, env: NodeJS.ProcessEnv = process.env): OperatorConfig {
  const get = (k: (typeof settingNames)[number]) => flags[k] ?? env[envName(k)];
  const bool = (k: (typeof settingNames)[number], dflt: boolean) => {
    const v = get(k);
    if (v === undefined || v === '') return dflt;
    if (!['true', 'false'].includes(v)) throw new Error(`${k}: '${v}' is not true or false`);
    return v === 'true';
  };
  const cfg = defaultConfig();
  if (get('kubeconfig')) cfg.kubeconfig = get('kubeconfig');
  cfg.namespace = get('namespace') || cfg.namespace;
  cfg.leaseName = get('lease-name') || cfg.leaseName;
  cfg.identity = get('identity') || env.POD_NAME || cfg.identity;
  cfg.leaderElect = bool('leader-elect', true);
  cfg.healthPort = int(get('health-port'), 'health-port') ?? cfg.healthPort;
  if (get('register-crds')) cfg.registerCrds = get('register-crds');
  const ipv4 = bool('enable-ipv4', true);
  const ipv6 = bool('enable-ipv6', true);
  cfg.lbIPAM = bool('enable-lb-ipam', true)
    ? {
        enabled: true,
        defaultIPAM: bool('default-lb-service-ipam', true),
        ...(get('lb-classes') ? { lbClasses: list(get('lb-classes')) } : {}),
        ipv4Enabled: ipv4,
        ipv6Enabled: ipv6,
        protocolDifferentiation: bool('bpf-lb-proto-diff', true),
      }
    : undefined;
  const fam = (cidrs: string[], mask: number | undefined, what: string): FamilyPoolConfig | undefined => {
    if (cidrs.length === 0) return undefined;
    if (mask === undefined) throw new Error(`${what}: set the mask size for the cluster pool CIDRs ${cidrs.join(',')}`);
    return { cidrs, maskSize: mask };
  };
  const v4 = ipv4
    ? fam(
        list(get('cluster-pool-ipv4-cidr')),
        int(get('cluster-pool-ipv4-mask-size'), 'cluster-pool-ipv4-mask-size'),
        'cluster-pool-ipv4-mask-size',
      )
    : undefined;
  const v6 = ipv6
    ? fam(
        list(get('cluster-pool-ipv6-cidr')),
        int(get('cluster-pool-ipv6-mask-size'), 'cluster-pool-ipv6-mask-size'),
        'cluster-pool-ipv6-mask-size',
      )
    : undefined;
  cfg.podCIDR = v4 || v6 ? { ...(v4 ? { ipv4: v4 } : {}), ...(v6 ? { ipv6: v6 } : {}) } : undefined;
  cfg.policyStatus = bool('enable-policy-status', true);
  cfg.gc = bool('enable-gc', true)
    ? {
        ...(get('gc-interval') ? { intervalMs: duration(get('gc-interval'), 'gc-interval')! } : {}),
        ...(get('identity-gc-grace')
          ? { identityGraceMs: duration(get('identity-gc-grace'), 'identity-gc-grace')! }
          : {}),
        ...(get('orphan-gc-grace') ? { orphanGraceMs: duration(get('orphan-gc-grace'), 'orphan-gc-grace')! } : {}),
      }
    : undefined;
  return cfg;
}

function makeMetrics(): OperatorMetrics {
  const registry = new Registry();
  // process_* and nodejs_* (CPU, memory, event-loop lag, GC), as Cilium's operator exposes Go's runtime's
  collectDefaultMetrics({ register: registry });
  const c = <L extends string>(name: string, help: string, labels: readonly L[]) =>
    counter(registry, name, help, labels);
  const g = <L extends string>(name: string, help: string, labels: readonly L[]) => gauge(registry, name, help, labels);
  return {
    registry,
    // controller-runtime's names, which dashboards for Go operators already chart
    reconcileTotal: c(
      'controller_runtime_reconcile_total',
      'Reconciliations per controller and result (success, error).',
      ['controller', 'result'],
    ),
    reconcileErrors: c('controller_runtime_reconcile_errors_total', 'Failed reconciliations per controller.', [
      'controller',
    ]),
    reconcileSeconds: histogram(
      registry,
      'controller_runtime_reconcile_time_seconds',
      'Time per reconciliation, per controller.',
      ['controller'],
      [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    ),
    queueDepth: g('workqueue_depth', 'Keys waiting in each controller work queue.', ['name']),
    writes: c('cilium_operator_writes_total', 'Objects written by the operator, per controller and kind.', [
      'controller',
      'kind',
    ]),
    isLeader: g('leader_election_master_status', '1 while this replica holds the operator lease.', ['name']),
    // Cilium operator's LB-IPAM and IPAM metric names
    lbIPsAvailable: g('cilium_operator_lbipam_ips_available_total', 'Free addresses per LB IP pool.', ['pool']),
    lbIPsUsed: g('cilium_operator_lbipam_ips_used_total', 'Allocated addresses per LB IP pool.', ['pool']),
    lbIPsTotal: g('cilium_operator_lbipam_ips_total', 'Addresses per LB IP pool.', ['pool']),
    lbConflictingPools: g('cilium_operator_lbipam_conflicting_pools_total', 'LB IP pools marked conflicting.', []),
    podCIDRsUsed: g('cilium_operator_ipam_cidrs_used', 'Pod CIDRs allocated to nodes, per family.', ['family']),
    podCIDRsTotal: g('cilium_operator_ipam_cidrs_total', 'Pod CIDRs the cluster pools hold, per family.', ['family']),
    gcDeleted: c('cilium_operator_gc_deleted_total', 'Objects removed by garbage collection, per kind.', ['kind']),
  };
}

export interface RunningOperator {
  identity: string;
  /** the health/metrics port (when enabled) */
  port: number | undefined;
  metrics: OperatorMetrics;
  isLeader(): boolean;
  /** resolves when every controller has no pending work (tests) */
  idle(): Promise<void>;
  /** graceful: stop controllers, release the lease, stop watches */
  stop(): Promise<void>;
  /** as if the process were killed: stop everything without releasing the lease (tests) */
  crash(): Promise<void>;
}

export interface RunOperatorOptions {
  config: OperatorConfig;
  /** use this client instead of loading config.kubeconfig (its file is still used for the framework) */
  kc?: KubeConfig;
  log?: Logger;
}

export async function runOperator(opts: RunOperatorOptions): Promise<RunningOperator> {
  const cfg = opts.config;
  const log = opts.log ?? logger('operator');
  const kc = opts.kc ?? loadKubeConfig(cfg.kubeconfig);
  const metrics = makeMetrics();
  const informers = new Map<ResourceName, ResilientInformer<KubernetesObject>>();
  const queues = new Map<string, WorkQueue>();
  let elector: LeaderElector | undefined;
  let leading = !cfg.leaderElect;

  const custom = kc.makeApiClient(CustomObjectsApi);
  const ctx: ControllerContext = {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    custom,
    metrics,
    log,
    informer<T extends KubernetesObject>(name: ResourceName) {
      let inf = informers.get(name);
      if (!inf) {
        inf = makeInformer(kc, resources[name], log.child({ resource: resources[name].plural }));
        informers.set(name, inf);
      }
      return inf as unknown as ResilientInformer<T>;
    },
    queue(controller, handler, concurrency) {
      const q = new WorkQueue(handler, {
        concurrency,
        onError: (key, err, retryInMs, attempts) => {
          const level = err instanceof NotLeaderError ? 'debug' : 'warn';
          log.log(level, 'reconcile failed, will retry', {
            controller,
            key,
            attempts,
            retryInMs,
            error: errorMessage(err),
          });
        },
        onDone: (_key, ok, ms) => {
          metrics.reconcileTotal.inc({ controller, result: ok ? 'success' : 'error' });
          if (!ok) metrics.reconcileErrors.inc({ controller });
          metrics.reconcileSeconds.observe({ controller }, ms / 1000);
        },
      });
      queues.set(controller, q);
      return q;
    },
    assertLeader(what) {
      if (!(elector ? elector.isLeader() : leading)) throw new NotLeaderError(what);
    },
    patchStatus: (target, status) => patchStatus(custom, target, status),
  };

  const controllers: Controller[] = [];
  if (cfg.lbIPAM?.enabled) controllers.push(new LBIPAMController(ctx, cfg.lbIPAM));
  if (cfg.podCIDR) controllers.push(new PodCIDRController(ctx, cfg.podCIDR));
  if (cfg.policyStatus) controllers.push(new PolicyStatusController(ctx));
  if (cfg.gc) controllers.push(new GarbageCollector(ctx, cfg.gc));

  let running = false;
  const startControllers = () => {
    if (running) return;
    running = true;
    metrics.isLeader.set({ name: cfg.leaseName }, 1);
    for (const c of controllers) c.start();
    log.info('controllers started', { controllers: controllers.map((c) => c.name) });
  };
  const stopControllers = async () => {
    if (!running) return;
    running = false;
    metrics.isLeader.set({ name: cfg.leaseName }, 0);
    await Promise.all(controllers.map((c) => c.stop()));
    log.info('controllers stopped');
  };

  let health: HealthServer | undefined;
  const startedAt = Date.now();
  const init = async () => {
    if (cfg.registerCrds) await framework.registerCrds(cfg.registerCrds);
    for (const name of new Set(controllers.flatMap((c) => c.uses))) ctx.informer(name);
    // Every replica keeps its caches warm, so a standby that takes over only has to reconcile.
    await Promise.all([...informers.values()].map((i) => i.start()));
    log.info('caches synced', { resources: [...informers.values()].map((i) => i.path), ms: Date.now() - startedAt });
    if (!cfg.leaderElect) {
      startControllers();
      return;
    }
    elector = new LeaderElector({
      kc,
      namespace: cfg.namespace,
      name: cfg.leaseName,
      identity: cfg.identity,
      leaseDurationMs: cfg.leaseDurationMs,
      renewDeadlineMs: cfg.renewDeadlineMs,
      retryPeriodMs: cfg.retryPeriodMs,
      onStartedLeading: startControllers,
      onStoppedLeading: stopControllers,
      onNewLeader: (id) => log.info('leader is', { leader: id, self: id === cfg.identity }),
      log,
    });
    elector.start();
  };

  // Without --kubeconfig the framework loads the default ($KUBECONFIG, in-cluster, ~/.kube/config) as our loadKubeConfig does.
  const framework = new OperatorFramework({ ...(cfg.kubeconfig ? { kubeconfigPath: cfg.kubeconfig } : {}), log, init });

  if (cfg.healthPort >= 0) {
    health = await startHealthServer({
      port: cfg.healthPort,
      ...(cfg.healthHost ? { host: cfg.healthHost } : {}),
      registry: metrics.registry,
      healthz: () => {
        const broken = [...informers.values()].filter((i) => i.error !== undefined);
        return broken.length ? `watch failing: ${broken.map((i) => `${i.path}: ${i.error}`).join('; ')}` : undefined;
      },
      readyz: () => {
        const pending = [...informers.values()].filter((i) => !i.synced);
        return informers.size === 0 || pending.length
          ? `caches not synced: ${pending.map((i) => i.path).join(', ') || 'starting'}`
          : undefined;
      },
    });
    log.info('serving health and metrics', { port: health.port });
  }
  const depthTimer = setInterval(() => {
    for (const [name, q] of queues) metrics.queueDepth.set({ name }, q.depth);
  }, 1000);
  depthTimer.unref();

  try {
    await framework.start();
  } catch (err) {
    clearInterval(depthTimer);
    await health?.close();
    await Promise.all([...informers.values()].map((i) => i.stop()));
    throw err;
  }

  const shutdown = async (release: boolean) => {
    clearInterval(depthTimer);
    await stopControllers();
    await elector?.stop({ release });
    framework.stop();
    await Promise.all([...informers.values()].map((i) => i.stop()));
    await health?.close();
    log.info('operator stopped', { identity: cfg.identity, released: release });
  };

  return {
    identity: cfg.identity,
    port: health?.port,
    metrics,
    isLeader: () => (elector ? elector.isLeader() : leading),
    idle: async () => {
      await Promise.all(controllers.map((c) => c.idle()));
    },
    stop: () => shutdown(true),
    crash: async () => {
      // No lease release, no goodbye: the standby must notice the silence on its own.
      leading = false;
      await elector?.stop({ release: false });
      clearInterval(depthTimer);
      await stopControllers();
      framework.stop();
      await Promise.all([...informers.values()].map((i) => i.stop()));
      await health?.close();
    },
  };
}
