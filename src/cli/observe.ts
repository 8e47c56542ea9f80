// `cilium-ts observe`: flows from the Hubble observer API of one or more agents, with the flags of
// `hubble observe`. The cluster view comes from Hubble Relay when there is one (the lab's
// relay.addr), else from several --server addresses (or the lab's agents): the CLI asks every agent
// and merges their flows by time (see src/hubble/README.md).
import { parseArgs } from 'node:util';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { filtersFromFlags, filterFlagNames, type FilterFlag } from '../hubble/cli-filter.ts';
import { FilterError } from '../hubble/filters.ts';
import { ObserverClient } from '../hubble/client.ts';
import { FlowPrinter, outputFormats, type GetFlowsResponse, type OutputFormat } from '../hubble/printer.ts';
import { timestampFromMs, timestampNs, type Timestamp } from '../hubble/flow.ts';
import type { GetFlowsRequest } from '../hubble/server.ts';

export const observeUsage = `usage: cilium-ts observe [--server ADDR]... [filters] [-f | --last N | --first N | --all]
                        [--since T] [--until T] [-o compact|dict|table|json|jsonpb] [--print-node-name]
       cilium-ts observe status [--server ADDR]...

  --server ADDR        an agent's or the relay's observer API: host:port or unix:///path; repeat (or
                       comma-separate) agents for the cluster view; default $HUBBLE_SERVER, else the lab's
                       relay (.lab/relay.addr), else its agents (.lab/hubble.addr), else localhost:4245
  filters (as hubble observe): --namespace/-n, --from-namespace, --to-namespace, --all-namespaces/-A,
    --pod, --from-pod, --to-pod ([ns/]name-prefix), --label/-l, --from-label, --to-label (k8s:app=web),
    --ip, --from-ip, --to-ip (CIDR too), --port, --from-port, --to-port, --identity, --from-identity,
    --to-identity, --verdict FORWARDED|DROPPED|..., --protocol tcp|udp|icmp|..., --type/-t drop|trace|...,
    --traffic-direction ingress|egress, --tcp-flags SYN,ACK, --node-name, --drop-reason-desc, --uuid,
    --ipv4, --ipv6, --reply, --not-reply; --not before a filter excludes what it matches
  -f, --follow         keep printing new flows; --last N  the last N (default 20); --first N; --all
  --since/--until T    RFC 3339 time or a duration ago (5m, 1h30m)
`;

const booleanFilters = new Set(['all-namespaces', 'ipv4', 'ipv6', 'reply', 'not-reply']);
const shortFilters: Record<string, string> = { namespace: 'n', label: 'l', type: 't', 'all-namespaces': 'A' };

/**
 * $HUBBLE_SERVER, else the lab's Hubble Relay (relay.addr), else every address in the lab's
 * hubble.addr (one per agent: the CLI fans out), else localhost:4245.
 */
export async function defaultHubbleAddress(): Promise<string[]> {
  return (await defaultServers()).servers;
}

async function defaultServers(): Promise<{ servers: string[]; relay: boolean }> {
  const env = process.env.HUBBLE_SERVER;
  if (env) return { servers: splitServers([env]), relay: false };
  const { labPaths } = await import('../lab/paths.ts');
  for (const [name, relay] of [
    ['relay.addr', true],
    ['hubble.addr', false],
  ] as const) {
    const file = join(labPaths().dir, name);
    if (!existsSync(file)) continue;
    const servers = splitServers(readFileSync(file, 'utf8').split('\n'));
    if (servers.length) return { servers: relay ? servers.slice(0, 1) : servers, relay };
  }
  return { servers: ['localhost:4245'], relay: false };
}

function splitServers(values: string[]): string[] {
  return values
    .flatMap((v) => v.split(/[,\s]+/))
    .map((s) => s.trim())
    .filter(Boolean);
}

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "5m" (that long ago), "1h30m", or an RFC 3339 time → Timestamp. */
export function parseTime(value: string, now = Date.now()): Timestamp {
  const v = value.trim();
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * durationUnits[m[2]!]!;
    return timestampFromMs(now - ms);
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms))
    throw new FilterError(`invalid time "${value}": want RFC 3339 (2025-01-02T15:04:05Z) or a duration (5m)`);
  const frac = v.match(/T\d\d:\d\d:\d\d\.(\d+)/)?.[1];
  const t = timestampFromMs(Math.floor(ms / 1000) * 1000);
  return frac ? { seconds: t.seconds, nanos: Number(frac.padEnd(9, '0').slice(0, 9)) } : t;
}

function positiveInt(name: string, v: string | undefined): number {
  if (v === undefined) return 0;
  if (!/^\d+$/.test(v)) throw new FilterError(`--${name} must be a non-negative integer, not "${v}"`);
  return Number(v);
}

export interface ObserveOptions {
  servers: string[];
  /** the one server is Hubble Relay: flows of many nodes */
  relay?: boolean;
  request: GetFlowsRequest;
  output: OutputFormat;
  printNodeName: boolean;
  /** --last N over the merged flows of several servers */
  last: number;
  first: number;
}

/** The command line → what to ask and how to print; throws FilterError on bad flags. */
export function parseObserveArgs(args: string[]): ObserveOptions & { status: boolean; serversGiven: boolean } {
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean; short?: string }> = {
    server: { type: 'string', multiple: true },
    output: { type: 'string', short: 'o' },
    follow: { type: 'boolean', short: 'f' },
    last: { type: 'string' },
    first: { type: 'string' },
    all: { type: 'boolean' },
    since: { type: 'string' },
    until: { type: 'string' },
    'print-node-name': { type: 'boolean' },
    not: { type: 'boolean', multiple: true },
  };
  for (const name of filterFlagNames) {
    options[name] = {
      type: booleanFilters.has(name) ? 'boolean' : 'string',
      multiple: true,
      ...(shortFilters[name] ? { short: shortFilters[name] } : {}),
    };
  }
  const { values, positionals, tokens } = parseArgs({ args, options, allowPositionals: true, tokens: true });
  const status = positionals[0] === 'status';
  if (positionals.length && !status) throw new FilterError(`unexpected argument "${positionals[0]}"`);

  const flags: FilterFlag[] = [];
  let not = false;
  for (const t of tokens ?? []) {
    if (t.kind !== 'option') continue;
    if (t.name === 'not') {
      if (not) throw new FilterError('consecutive --not statements');
      not = true;
      continue;
    }
    if (!(filterFlagNames as readonly string[]).includes(t.name)) continue;
    flags.push({ name: t.name, value: t.value ?? '', not });
    not = false;
  }
  const { whitelist, blacklist } = filtersFromFlags(flags);

  const output = (values.output as string | undefined) ?? 'compact';
  if (!(outputFormats as readonly string[]).includes(output)) {
    throw new FilterError(`invalid output format "${output}": one of ${outputFormats.join(', ')}`);
  }
  const follow = !!values.follow;
  const first = positiveInt('first', values.first as string | undefined);
  let last = positiveInt('last', values.last as string | undefined);
  const all = !!values.all;
  if (first && last) throw new FilterError('cannot set both --first and --last');
  if (first && all) throw new FilterError('cannot set both --first and --all');
  if (first && follow) throw new FilterError('cannot set both --first and --follow');
  if (last && all) throw new FilterError('cannot set both --last and --all');
  if (output === 'table' && follow) throw new FilterError('table output format is not compatible with follow mode');
  const since = values.since ? parseTime(values.since as string) : undefined;
  const until = values.until && !follow ? parseTime(values.until as string) : undefined;
  if (!since && !until && !first) {
    if (all) last = Number.MAX_SAFE_INTEGER;
    else if (!last && !follow) last = 20;
  }
  const request: GetFlowsRequest = {
    number: first || last,
    ...(first ? { first: true } : {}),
    follow,
    whitelist,
    blacklist,
    ...(since ? { since } : {}),
    ...(until ? { until } : {}),
  };
  const given = splitServers((values.server as string[] | undefined) ?? []);
  return {
    servers: given,
    serversGiven: given.length > 0,
    request,
    output: output as OutputFormat,
    printNodeName: !!values['print-node-name'],
    last,
    first,
    status,
  };
}

function errText(err: unknown): string {
  const e = err as { details?: string; message?: string };
  return e.details || e.message || String(err);
}

async function printStatus(servers: string[], out: (s: string) => void): Promise<number> {
  let failed = 0;
  let connected = 0;
  let nodes = 0;
  const unavailable: string[] = [];
  let flows = 0,
    max = 0,
    seen = 0,
    rate = 0;
  for (const server of servers) {
    const client = new ObserverClient(server);
    try {
      const s = await client.serverStatus();
      flows += s.num_flows ?? 0;
      max += s.max_flows ?? 0;
      seen += s.seen_flows ?? 0;
      rate += s.flows_rate ?? 0;
      // an agent counts itself; a relay counts the agents it reaches and those it cannot
      const up = s.num_connected_nodes?.value ?? 1;
      connected += up;
      nodes += up + (s.num_unavailable_nodes?.value ?? 0);
      if (s.unavailable_nodes?.length) unavailable.push(...s.unavailable_nodes);
      out(`Healthcheck (via ${server}): Ok\n`);
    } catch (err) {
      failed++;
      nodes++;
      out(`Healthcheck (via ${server}): ${errText(err)}\n`);
    } finally {
      client.close();
    }
  }
  const pct = max ? ((flows / max) * 100).toFixed(2) : '0.00';
  out(`Current/Max Flows: ${flows.toLocaleString('en-US')}/${max.toLocaleString('en-US')} (${pct}%)\n`);
  out(`Flows/s: ${rate.toFixed(2)}\nSeen Flows: ${seen.toLocaleString('en-US')}\n`);
  out(`Connected Nodes: ${connected}/${nodes}\n`);
  if (unavailable.length)
    out(`Unavailable Nodes: ${unavailable.length}\n${unavailable.map((n) => `  - ${n}\n`).join('')}`);
  return failed === servers.length ? 1 : 0;
}

/** A relay's word on nodes it could not read, on stderr as the hubble CLI gives it; NODE_CONNECTED is quiet. */
function nodeStatusWarning(res: GetFlowsResponse, err: (s: string) => void): void {
  const s = res.node_status!;
  if (s.state_change === 'NODE_CONNECTED' || !s.node_names?.length) return;
  const state = s.state_change === 'NODE_ERROR' ? 'error' : 'unavailable';
  err(`cilium-ts observe: ${state}: ${s.node_names.join(', ')}${s.message ? `: ${s.message}` : ''}\n`);
}

/** Run against every server; without --follow, merge all answers by time before printing. */
async function observe(opts: ObserveOptions, out: (s: string) => void, err: (s: string) => void): Promise<number> {
  const printer = new FlowPrinter(
    { format: opts.output, nodeName: opts.printNodeName || opts.servers.length > 1 || !!opts.relay },
    out,
    err,
  );
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const clients = opts.servers.map((s) => new ObserverClient(s));
  const merged: GetFlowsResponse[] = [];
  const follow = !!opts.request.follow;
  let failures = 0;
  try {
    await Promise.all(
      clients.map(async (client) => {
        try {
          for await (const res of client.getFlows(opts.request, abort.signal)) {
            if (res.node_status) {
              nodeStatusWarning(res, err);
              continue;
            }
            if (follow) printer.write(res);
            else merged.push(res);
          }
        } catch (e) {
          failures++;
          err(`cilium-ts observe: ${client.address}: ${errText(e)}\n`);
        }
      }),
    );
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
    for (const c of clients) c.close();
  }
  if (!follow) {
    merged.sort((a, b) => timestampNs(a.flow?.time ?? a.time) - timestampNs(b.flow?.time ?? b.time));
    let shown = merged;
    if (clients.length > 1) {
      const flows = merged.filter((r) => r.flow);
      if (opts.first) shown = flows.slice(0, opts.first);
      else if (opts.last && !opts.request.since) shown = flows.slice(-opts.last);
    }
    for (const res of shown) printer.write(res);
  }
  printer.end();
  return failures === clients.length ? 1 : 0;
}

export async function observeCommand(args: string[]): Promise<number> {
  const out = (s: string) => void process.stdout.write(s);
  const err = (s: string) => void process.stderr.write(s);
  if (args.includes('-h') || args.includes('--help')) {
    out(observeUsage);
    return 0;
  }
  let opts: ReturnType<typeof parseObserveArgs>;
  try {
    opts = parseObserveArgs(args);
  } catch (e) {
    err(`cilium-ts observe: ${errText(e)}\n${observeUsage}`);
    return 2;
  }
  const { servers, relay } = opts.serversGiven ? { servers: opts.servers, relay: false } : await defaultServers();
  if (opts.status) return printStatus(servers, out);
  return observe({ ...opts, servers, relay }, out, err);
}
