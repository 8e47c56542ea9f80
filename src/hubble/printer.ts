// Flows as `hubble observe` prints them: compact (one line each), dict, table, and jsonpb (proto3
// JSON of each GetFlowsResponse; `json` is its alias, as in the hubble CLI). Ours on top: the
// policy rules that decided, appended to the line as " by CiliumNetworkPolicy/ns/name ingressDeny[0]".
import { dropReasonNames } from '../datapath/constants.ts';
import {
  decidingPolicies,
  reservedIdentityNames,
  ruleFromPolicy,
  tracePointNames,
  type Endpoint,
  type Flow,
  type Timestamp,
} from './flow.ts';
import { messageToJson } from './proto.ts';
import type { GetFlowsResponse__Output } from './generated/observer/GetFlowsResponse.ts';

export type OutputFormat = 'compact' | 'dict' | 'table' | 'json' | 'jsonpb';
export const outputFormats: readonly OutputFormat[] = ['compact', 'dict', 'table', 'json', 'jsonpb'];

/** observer.GetFlowsResponse as the client decodes it: one flow, lost events or a node status. */
export type GetFlowsResponse = GetFlowsResponse__Output;

export interface PrinterOptions {
  format: OutputFormat;
  /** print the node name after the timestamp */
  nodeName?: boolean;
  /** show IPs instead of pod names (hubble's --ip-translation=false) */
  numeric?: boolean;
  /** for tests: the time zone is the process's; this replaces the local-time formatter */
  formatTime?: (t: Timestamp | undefined) => string;
}

const months = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** Go's time.StampMilli, "Jan _2 15:04:05.000", in local time: hubble's default. */
export function stampMilli(t: Timestamp | undefined): string {
  if (!t) return 'N/A';
  const d = new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6));
  const p2 = (n: number) => String(n).padStart(2, '0');
  return `${months[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}.${String(d.getMilliseconds()).padStart(3, '0')}`;
}

function ports(f: Flow): [string, string] {
  const l4 = f.l4?.TCP ?? f.l4?.UDP ?? f.l4?.SCTP;
  return l4 ? [String(l4.source_port ?? 0), String(l4.destination_port ?? 0)] : ['', ''];
}

function hostname(
  ip: string,
  port: string,
  ep: Endpoint | undefined,
  svc: { name?: string; namespace?: string } | undefined,
  names: string[] | undefined,
  numeric: boolean,
): string {
  let host = ip;
  if (!numeric) {
    if (ep?.pod_name) host = ep.namespace ? `${ep.namespace}/${ep.pod_name}` : ep.pod_name;
    else if (svc?.name) host = svc.namespace ? `${svc.namespace}/${svc.name}` : svc.name;
    else if (names?.length) host = names.join(',');
  }
  if (port && port !== '0') return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  return host;
}

export function hostNames(f: Flow, numeric = false): [string, string] {
  if (!f.IP) return [f.ethernet?.source ?? '', f.ethernet?.destination ?? ''];
  const [sp, dp] = ports(f);
  return [
    hostname(f.IP.source ?? '', sp, f.source, f.source_service, f.source_names, numeric),
    hostname(f.IP.destination ?? '', dp, f.destination, f.destination_service, f.destination_names, numeric),
  ];
}

export function fmtIdentity(id: number | undefined): string {
  const n = id ?? 0;
  const reserved = reservedIdentityNames[n];
  return reserved ? `(${reserved})` : `(ID:${n})`;
}

const policyMatchNames: Readonly<Record<number, string>> = {
  0: 'none',
  1: 'L3-Only',
  2: 'L3-L4',
  3: 'L4-Only',
  4: 'all',
  5: 'L3-Proto',
  6: 'Proto-Only',
};

/** Hubble's GetFlowType: "to-endpoint", "Policy denied", "policy-verdict:L3-L4 INGRESS", "http-request". */
export function flowType(f: Flow): string {
  if (f.l7) {
    const kind = f.l7.http ? 'http' : f.l7.dns ? 'dns' : 'l7';
    return `${kind}-${(f.l7.type ?? 'UNKNOWN_L7_TYPE').toLowerCase()}`;
  }
  const sub = f.event_type?.sub_type ?? 0;
  switch (f.event_type?.type ?? 0) {
    case 4:
      return tracePointNames[sub] ?? String(sub);
    case 1:
      return dropReasonNames[sub] ?? String(sub);
    case 5:
      return `policy-verdict:${policyMatchNames[f.policy_match_type ?? 0] ?? 'unknown'} ${f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN'}`;
    case 7:
      return 'trace-sock';
    default:
      return 'UNKNOWN';
  }
}

export function verdictText(f: Flow): string {
  const v = f.verdict ?? 'VERDICT_UNKNOWN';
  if (f.event_type?.type === 5) {
    if (v === 'FORWARDED' || v === 'REDIRECTED') return 'ALLOWED';
    if (v === 'DROPPED' || v === 'ERROR') return 'DENIED';
    if (v === 'AUDIT') return 'AUDITED';
  }
  return v;
}

/** Ours: " by CiliumNetworkPolicy/x/deny-yb ingressDeny[0]" when the agent knows the deciding rules. */
export function rulesSuffix(f: Flow): string {
  const rules = decidingPolicies(f).map(ruleFromPolicy);
  return rules.length ? ` by ${rules.join(', ')}` : '';
}

export function compactLine(res: GetFlowsResponse, opts: Omit<PrinterOptions, 'format'> = {}): string {
  const time = opts.formatTime ?? stampMilli;
  if (res.lost_events) {
    const l = res.lost_events;
    return `${time(res.time)} EVENTS LOST: ${l.source} CPU(${l.cpu?.value ?? 0}) ${l.num_events_lost}`;
  }
  const f = res.flow;
  if (!f) return '';
  let [src, dst] = hostNames(f, opts.numeric);
  let [srcId, dstId] = [fmtIdentity(f.source?.identity), fmtIdentity(f.destination?.identity)];
  let arrow = '->';
  if (!f.is_reply) arrow = '<>';
  else if (f.is_reply.value) {
    [src, dst, srcId, dstId] = [dst, src, dstId, srcId];
    arrow = '<-';
  }
  const node = opts.nodeName ? ` [${f.node_name ?? ''}]` : '';
  return `${time(f.time)}${node}: ${src} ${srcId} ${arrow} ${dst} ${dstId} ${flowType(f)} ${verdictText(f)} (${f.Summary ?? ''})${rulesSuffix(f)}`;
}

function dictBlock(res: GetFlowsResponse, opts: Omit<PrinterOptions, 'format'>): string {
  const time = opts.formatTime ?? stampMilli;
  const f = res.flow;
  if (!f) return '';
  const [src, dst] = hostNames(f, opts.numeric);
  const rules = decidingPolicies(f).map(ruleFromPolicy);
  return [
    `  TIMESTAMP: ${time(f.time)}`,
    ...(opts.nodeName ? [`       NODE: ${f.node_name ?? ''}`] : []),
    `     SOURCE: ${src}`,
    `DESTINATION: ${dst}`,
    `       TYPE: ${flowType(f)}`,
    `    VERDICT: ${verdictText(f)}`,
    `    SUMMARY: ${f.Summary ?? ''}`,
    ...(rules.length ? [`     POLICY: ${rules.join(', ')}`] : []),
  ].join('\n');
}

/** Columns aligned like Go's tabwriter (minwidth 2, padding 3). */
export function alignTable(rows: string[][]): string {
  const widths: number[] = [];
  for (const r of rows)
    r.forEach((c, i) => {
      widths[i] = Math.max(widths[i] ?? 2, c.length);
    });
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('')).join('\n');
}

/** Writes responses in one format; table rows are held until end(). */
export class FlowPrinter {
  readonly #opts: PrinterOptions;
  readonly #out: (s: string) => void;
  readonly #err: (s: string) => void;
  #rows: string[][] = [];
  #count = 0;

  constructor(opts: PrinterOptions, out: (s: string) => void, err: (s: string) => void = out) {
    this.#opts = opts;
    this.#out = out;
    this.#err = err;
  }

  write(res: GetFlowsResponse): void {
    const { format } = this.#opts;
    if (format === 'json' || format === 'jsonpb') {
      this.#out(JSON.stringify(messageToJson('observer.GetFlowsResponse', res as Record<string, unknown>)) + '\n');
      return;
    }
    if (res.lost_events) {
      this.#err(compactLine(res, this.#opts) + '\n');
      return;
    }
    if (!res.flow) return;
    if (format === 'compact') this.#out(compactLine(res, this.#opts) + '\n');
    else if (format === 'dict') this.#out((this.#count ? '------------\n' : '') + dictBlock(res, this.#opts) + '\n');
    else {
      const f = res.flow;
      const [src, dst] = hostNames(f, this.#opts.numeric);
      const time = this.#opts.formatTime ?? stampMilli;
      this.#rows.push([
        time(f.time),
        ...(this.#opts.nodeName ? [f.node_name ?? ''] : []),
        src,
        dst,
        flowType(f),
        verdictText(f),
        `${f.Summary ?? ''}${rulesSuffix(f)}`,
      ]);
    }
    this.#count++;
  }

  end(): void {
    if (this.#opts.format !== 'table' || !this.#rows.length) return;
    const header = [
      'TIMESTAMP',
      ...(this.#opts.nodeName ? ['NODE'] : []),
      'SOURCE',
      'DESTINATION',
      'TYPE',
      'VERDICT',
      'SUMMARY',
    ];
    this.#out(alignTable([header, ...this.#rows]) + '\n');
    this.#rows = [];
  }
}
