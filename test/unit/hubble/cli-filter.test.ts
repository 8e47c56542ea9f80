// `cilium-ts observe` flags → the FlowFilters `hubble observe` would send for the same flags.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { filtersFromFlags } from '../../../src/hubble/cli-filter.ts';
import { FilterError } from '../../../src/hubble/filters.ts';
import { parseObserveArgs, parseTime } from '../../../src/cli/observe.ts';

const f = (...pairs: [string, string, boolean?][]) =>
  filtersFromFlags(pairs.map(([name, value, not]) => ({ name, value, not })));

test('an undirected flag becomes a source filter OR a destination filter', () => {
  assert.deepEqual(f(['pod', 'x/a']).whitelist, [{ source_pod: ['x/a'] }, { destination_pod: ['x/a'] }]);
  assert.deepEqual(f(['label', 'k8s:app=a']).whitelist, [
    { source_label: ['k8s:app=a'] },
    { destination_label: ['k8s:app=a'] },
  ]);
  assert.deepEqual(f(['port', '80']).whitelist, [{ source_port: ['80'] }, { destination_port: ['80'] }]);
  assert.deepEqual(f(['identity', 'world']).whitelist, [{ source_identity: [2] }, { destination_identity: [2] }]);
  assert.deepEqual(f(['ip', '10.0.0.0/8']).whitelist, [
    { source_ip: ['10.0.0.0/8'] },
    { destination_ip: ['10.0.0.0/8'] },
  ]);
});

test('directed and plain flags go into every filter; equal halves collapse into one', () => {
  assert.deepEqual(f(['from-pod', 'x/a'], ['to-port', '80'], ['verdict', 'dropped']).whitelist, [
    { source_pod: ['x/a'], destination_port: ['80'], verdict: ['DROPPED'] },
  ]);
  assert.deepEqual(f(['pod', 'x/a'], ['protocol', 'tcp']).whitelist, [
    { source_pod: ['x/a'], protocol: ['tcp'] },
    { destination_pod: ['x/a'], protocol: ['tcp'] },
  ]);
  assert.deepEqual(f(['from-identity', '300'], ['to-identity', '301']).whitelist, [
    { source_identity: [300], destination_identity: [301] },
  ]);
  assert.deepEqual(f(['from-label', 'app=a'], ['to-label', 'app=b']).whitelist, [
    { source_label: ['app=a'], destination_label: ['app=b'] },
  ]);
});

test('--namespace: flows from or to the namespace; pods without a namespace are put in it', () => {
  assert.deepEqual(f(['namespace', 'y']).whitelist, [{ source_pod: ['y/'] }, { destination_pod: ['y/'] }]);
  assert.deepEqual(f(['namespace', 'y'], ['verdict', 'DROPPED']).whitelist, [
    { verdict: ['DROPPED'], source_pod: ['y/'] },
    { verdict: ['DROPPED'], destination_pod: ['y/'] },
  ]);
  assert.deepEqual(f(['from-namespace', 'x'], ['to-pod', 'b']).whitelist, [
    { destination_pod: ['b'], source_pod: ['x/'] },
  ]);
  assert.deepEqual(f(['to-namespace', 'y'], ['to-pod', 'b']).whitelist, [{ destination_pod: ['y/b'] }]);
});

test('--not sends the next flag to the blacklist', () => {
  const { whitelist, blacklist } = f(['from-pod', 'x/'], ['verdict', 'FORWARDED', true]);
  assert.deepEqual(whitelist, [{ source_pod: ['x/'] }]);
  assert.deepEqual(blacklist, [{ verdict: ['FORWARDED'] }]);
});

test('flags hubble refuses to combine, and bad values, are errors', () => {
  assert.throws(() => f(['label', 'a'], ['from-label', 'b']), /--from-label and --label cannot be combined/);
  assert.throws(() => f(['port', '80'], ['to-port', '81']), /cannot be combined/);
  assert.throws(() => f(['namespace', 'x'], ['to-pod', 'b']), /cannot be combined/);
  assert.throws(() => f(['verdict', 'MAYBE']), FilterError);
  assert.throws(() => f(['identity', 'nobody']), FilterError);
  assert.throws(() => f(['tcp-flags', 'SYN,XMAS']), FilterError);
});

test('event types: names and sub-types as hubble spells them', () => {
  assert.deepEqual(f(['type', 'drop']).whitelist, [{ event_type: [{ type: 1 }] }]);
  assert.deepEqual(f(['type', 'trace:to-endpoint']).whitelist, [
    { event_type: [{ type: 4, match_sub_type: true, sub_type: 0 }] },
  ]);
  assert.deepEqual(f(['type', 'policy-verdict']).whitelist, [{ event_type: [{ type: 5 }] }]);
});

test('the command line: defaults, order of --not, follow, last/first, since', () => {
  const o = parseObserveArgs(['--server', 'a:1,b:2', '-n', 'y', '--not', '--verdict', 'FORWARDED', '-o', 'json']);
  assert.deepEqual(o.servers, ['a:1', 'b:2']);
  assert.equal(o.output, 'json');
  assert.equal(o.request.number, 20, 'hubble prints the last 20 by default');
  assert.deepEqual(o.request.blacklist, [{ verdict: ['FORWARDED'] }]);
  assert.deepEqual(o.request.whitelist, [{ source_pod: ['y/'] }, { destination_pod: ['y/'] }]);
  assert.equal(parseObserveArgs(['-f']).request.number, 0, 'following alone shows only new flows');
  assert.equal(parseObserveArgs(['-f', '--last', '5']).request.number, 5);
  assert.deepEqual(parseObserveArgs(['--first', '3']).request, {
    number: 3,
    first: true,
    follow: false,
    whitelist: [],
    blacklist: [],
  });
  assert.equal(parseObserveArgs(['--all']).request.number, Number.MAX_SAFE_INTEGER);
  const since = parseObserveArgs(['--since', '2025-11-28T12:00:00.5Z', '--until', '2025-11-28T12:01:00Z']).request;
  assert.deepEqual(since.since, { seconds: 1764331200, nanos: 500_000_000 });
  assert.deepEqual(since.until, { seconds: 1764331260, nanos: 0 });
  assert.equal(since.number, 0, 'a time window has no default count');
  assert.deepEqual(parseObserveArgs(['-l', 'k8s:app=a']).request.whitelist, [
    { source_label: ['k8s:app=a'] },
    { destination_label: ['k8s:app=a'] },
  ]);
  assert.throws(() => parseObserveArgs(['--first', '1', '--last', '1']), /both --first and --last/);
  assert.throws(() => parseObserveArgs(['-o', 'table', '-f']), /not compatible with follow/);
  assert.throws(() => parseObserveArgs(['-o', 'yaml']), /invalid output format/);
});

test('times: durations ago, RFC 3339', () => {
  const now = Date.UTC(2025, 10, 28, 12, 0, 0);
  assert.deepEqual(parseTime('5m', now), { seconds: now / 1000 - 300, nanos: 0 });
  assert.deepEqual(parseTime('1h30m', now), { seconds: now / 1000 - 5400, nanos: 0 });
  assert.deepEqual(parseTime('2025-11-28T12:00:00Z'), { seconds: 1764331200, nanos: 0 });
  assert.throws(() => parseTime('yesterday'), FilterError);
});
