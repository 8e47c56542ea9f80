// /metrics speaks Prometheus' text format 0.0.4 (prom-client's registry, through our get-or-create helpers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { counter, gauge, histogram, valueOf } from '../../../src/lib/metrics.ts';

test('counters, gauges and histograms expose HELP, TYPE and labelled samples', async () => {
  const r = new Registry();
  const c = counter(r, 'reconcile_total', 'Reconciliations.', ['controller', 'result']);
  c.inc({ controller: 'lb-ipam', result: 'success' });
  c.inc({ result: 'success', controller: 'lb-ipam' }, 2);
  gauge(r, 'ips_available', 'Free "IPs"\nper pool.', ['pool']).set({ pool: 'a"b' }, 7);
  const h = histogram(r, 'seconds', 'Durations.', ['controller'], [0.1, 1]);
  h.observe({ controller: 'x' }, 0.5);
  const text = await r.metrics();
  assert.match(
    text,
    /^# HELP reconcile_total Reconciliations\.\n# TYPE reconcile_total counter\nreconcile_total\{controller="lb-ipam",result="success"\} 3\n/,
  );
  assert.match(text, /# HELP ips_available Free "IPs"\\nper pool\.\n/);
  assert.match(text, /ips_available\{pool="a\\"b"\} 7\n/);
  // prom-client writes `le` before the other labels (the Go client writes it last); label order carries no meaning.
  assert.match(
    text,
    /seconds_bucket\{le="0.1",controller="x"\} 0\nseconds_bucket\{le="1",controller="x"\} 1\nseconds_bucket\{le="\+Inf",controller="x"\} 1\nseconds_sum\{controller="x"\} 0.5\nseconds_count\{controller="x"\} 1\n/,
  );
  assert.equal(counter(r, 'reconcile_total', 'again'), c, 'registering twice returns the same metric');
  assert.throws(() => gauge(r, 'reconcile_total', 'clash'), /already registered as a counter/);
});

test('valueOf reads one series by its exact labels; a series never written reads 0', async () => {
  const r = new Registry();
  const c = counter(r, 'writes_total', 'Writes.', ['controller', 'kind']);
  c.inc({ controller: 'lb-ipam', kind: 'Service' }, 3);
  c.inc({ controller: 'pod-cidr', kind: 'CiliumNode' });
  assert.equal(await valueOf(c, { kind: 'Service', controller: 'lb-ipam' }), 3);
  assert.equal(await valueOf(c, { controller: 'lb-ipam', kind: 'CiliumNode' }), 0);
  const g = gauge(r, 'leader', 'Leading.', ['name']);
  g.set({ name: 'lock' }, 0);
  assert.equal(await valueOf(g, { name: 'lock' }), 0);
  g.set({ name: 'lock' }, 1);
  assert.equal(await valueOf(g, { name: 'lock' }), 1);
});
