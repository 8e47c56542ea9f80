// A small Prometheus registry (counters, gauges, histograms with labels) and the text exposition
// format 0.0.4. Enough for the operator's /metrics without another dependency.

type LabelValues = Record<string, string>;

function labelKey(labels: LabelValues): string {
  return JSON.stringify(Object.keys(labels).sort().map((k) => [k, labels[k]]));
}

function escape(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatLabels(labels: LabelValues, extra?: [string, string]): string {
  const parts = Object.keys(labels).sort().map((k) => `${k}="${escape(labels[k]!)}"`);
  if (extra) parts.push(`${extra[0]}="${escape(extra[1])}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}

function num(v: number): string {
  return Number.isFinite(v) ? String(v) : v > 0 ? '+Inf' : v < 0 ? '-Inf' : 'NaN';
}

interface Metric {
  name: string;
  help: string;
  type: 'counter' | 'gauge' | 'histogram';
  expose(): string[];
}

export class Counter implements Metric {
  readonly type = 'counter';
  readonly name: string;
  readonly help: string;
  readonly #values = new Map<string, { labels: LabelValues; value: number }>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  inc(labels: LabelValues = {}, by = 1): void {
    const k = labelKey(labels);
    const cur = this.#values.get(k);
    if (cur) cur.value += by;
    else this.#values.set(k, { labels, value: by });
  }

  get(labels: LabelValues = {}): number {
    return this.#values.get(labelKey(labels))?.value ?? 0;
  }

  expose(): string[] {
    return [...this.#values.values()].map((v) => `${this.name}${formatLabels(v.labels)} ${num(v.value)}`);
  }
}

export class Gauge implements Metric {
  readonly type = 'gauge';
  readonly name: string;
  readonly help: string;
  readonly #values = new Map<string, { labels: LabelValues; value: number }>();

  constructor(name: string, help: string) {
    this.name = name;
    this.help = help;
  }

  set(labels: LabelValues, value: number): void {
    this.#values.set(labelKey(labels), { labels, value });
  }

  /** Drop every series, e.g. before setting the current set of pools. */
  reset(): void {
    this.#values.clear();
  }

  get(labels: LabelValues = {}): number | undefined {
    return this.#values.get(labelKey(labels))?.value;
  }

  expose(): string[] {
    return [...this.#values.values()].map((v) => `${this.name}${formatLabels(v.labels)} ${num(v.value)}`);
  }
}

export class Histogram implements Metric {
  readonly type = 'histogram';
  readonly name: string;
  readonly help: string;
  readonly buckets: readonly number[];
  readonly #values = new Map<string, { labels: LabelValues; counts: number[]; sum: number; count: number }>();

  constructor(name: string, help: string, buckets: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]) {
    this.name = name;
    this.help = help;
    this.buckets = buckets;
  }

  observe(labels: LabelValues, value: number): void {
    const k = labelKey(labels);
    let v = this.#values.get(k);
    if (!v) {
      v = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.#values.set(k, v);
    }
    for (const [i, b] of this.buckets.entries()) if (value <= b) v.counts[i]!++;
    v.sum += value;
    v.count++;
  }

  expose(): string[] {
    const out: string[] = [];
    for (const v of this.#values.values()) {
      for (const [i, b] of this.buckets.entries()) out.push(`${this.name}_bucket${formatLabels(v.labels, ['le', num(b)])} ${v.counts[i]}`);
      out.push(`${this.name}_bucket${formatLabels(v.labels, ['le', '+Inf'])} ${v.count}`);
      out.push(`${this.name}_sum${formatLabels(v.labels)} ${num(v.sum)}`);
      out.push(`${this.name}_count${formatLabels(v.labels)} ${v.count}`);
    }
    return out;
  }
}

export class Registry {
  readonly #metrics = new Map<string, Metric>();
  readonly #collectors: Array<() => void> = [];

  /** Runs before every exposition: for values read from elsewhere (kernel maps) at scrape time. */
  onCollect(fn: () => void): void {
    this.#collectors.push(fn);
  }

  counter(name: string, help: string): Counter {
    return this.#register(new Counter(name, help));
  }

  gauge(name: string, help: string): Gauge {
    return this.#register(new Gauge(name, help));
  }

  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.#register(new Histogram(name, help, buckets));
  }

  #register<M extends Metric>(m: M): M {
    const existing = this.#metrics.get(m.name);
    if (existing) {
      if (existing.type !== m.type) throw new Error(`metric ${m.name} is already registered as a ${existing.type}`);
      return existing as M;
    }
    this.#metrics.set(m.name, m);
    return m;
  }

  /** The Prometheus text exposition format. */
  expose(): string {
    for (const c of this.#collectors) c();
    const lines: string[] = [];
    for (const m of this.#metrics.values()) {
      lines.push(`# HELP ${m.name} ${m.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${m.name} ${m.type}`, ...m.expose());
    }
    return lines.join('\n') + '\n';
  }
}

export const prometheusContentType = 'text/plain; version=0.0.4; charset=utf-8';
