// A thin layer over prom-client: get-or-create by name (so two parts that declare the same metric
// share it, and a clash of types is an error that names the metric instead of prom-client's
// "already registered"), and an async reader of one series for tests and status output.
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

type Metric = Counter<string> | Gauge<string> | Histogram<string>;

function typeOf(m: unknown): string {
  if (m instanceof Counter) return 'counter';
  if (m instanceof Gauge) return 'gauge';
  if (m instanceof Histogram) return 'histogram';
  return 'metric of another kind';
}

function getOrCreate<M extends Metric>(registry: Registry, name: string, kind: string, create: () => M): M {
  const existing = registry.getSingleMetric(name);
  if (existing === undefined) return create();
  if (typeOf(existing) !== kind) {
    throw new Error(`metric ${name} is already registered as a ${typeOf(existing)}, not a ${kind}`);
  }
  return existing as M;
}

export function counter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Counter<L> {
  return getOrCreate(registry, name, 'counter', () => new Counter({ name, help, labelNames, registers: [registry] }));
}

export function gauge<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
): Gauge<L> {
  return getOrCreate(registry, name, 'gauge', () => new Gauge({ name, help, labelNames, registers: [registry] }));
}

export function histogram<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[] = [],
  buckets?: readonly number[],
): Histogram<L> {
  return getOrCreate(
    registry,
    name,
    'histogram',
    () =>
      new Histogram({ name, help, labelNames, registers: [registry], ...(buckets ? { buckets: [...buckets] } : {}) }),
  );
}

/** The value of the series with exactly these labels; a series never written reads 0. */
export async function valueOf(
  metric: Counter<string> | Gauge<string>,
  labels: Record<string, string> = {},
): Promise<number> {
  const want = Object.entries(labels);
  const { values } = await metric.get();
  const series = values.find((v) => {
    const have = Object.entries(v.labels).filter(([, x]) => x !== undefined);
    return have.length === want.length && want.every(([k, x]) => v.labels[k] === x);
  });
  return series?.value ?? 0;
}
