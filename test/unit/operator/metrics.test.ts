// /metrics speaks Prometheus' text format 0.0.4.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from '../../../src/lib/metrics.ts';

test('counters, gauges and histograms expose HELP, TYPE and labelled samples', () => {
  const r = new Registry();
  const c = r.counter('reconcile_total', 'Reconciliations.');
  c.inc({ controller: 'lb-ipam', result: 'success' });
  c.inc({ result: 'success', controller: 'lb-ipam' }, 2);
  r.gauge('ips_available', 'Free "IPs"\nper pool.').set({ pool: 'a"b' }, 7);
  const h = r.histogram('seconds', 'Durations.', [0.1, 1]);
  h.observe({ controller: 'x' }, 0.5);
  const text = r.expose();
  assert.match(text, /^# HELP reconcile_total Reconciliations\.\n# TYPE reconcile_total counter\nreconcile_total\{controller="lb-ipam",result="success"\} 3\n/);
  assert.match(text, /# HELP ips_available Free "IPs"\\nper pool\.\n/);
  assert.match(text, /ips_available\{pool="a\\"b"\} 7\n/);
  assert.match(text, /seconds_bucket\{controller="x",le="0.1"\} 0\nseconds_bucket\{controller="x",le="1"\} 1\nseconds_bucket\{controller="x",le="\+Inf"\} 1\nseconds_sum\{controller="x"\} 0.5\nseconds_count\{controller="x"\} 1\n/);
  assert.equal(r.counter('reconcile_total', 'again'), c, 'registering twice returns the same metric');
  assert.throws(() => r.gauge('reconcile_total', 'clash'), /already registered as a counter/);
});
