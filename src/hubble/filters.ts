// Hubble's FlowFilter semantics, as its server applies them (cilium pkg/hubble/filters): a flow is
// shown when it matches any whitelist filter (or none is given) and no blacklist filter; inside one
// FlowFilter every field that is set must match; inside a field any one value may match.
import { isIP } from 'node:net';
import type { Flow, Endpoint, TCPFlags, Workload } from './flow.ts';

export interface EventTypeFilter {
  type?: number;
  match_sub_type?: boolean;
  sub_type?: number;
}

/** flow.FlowFilter, keepCase field names, enums as names. */
export interface FlowFilter {
  uuid?: string[];
  source_ip?: string[];
  source_ip_xlated?: string[];
  source_pod?: string[];
  source_fqdn?: string[];
  source_label?: string[];
  source_service?: string[];
  source_workload?: Workload[];
  source_cluster_name?: string[];
  destination_ip?: string[];
  destination_pod?: string[];
  destination_fqdn?: string[];
  destination_label?: string[];
  destination_service?: string[];
  destination_workload?: Workload[];
  destination_cluster_name?: string[];
  traffic_direction?: string[];
  verdict?: string[];
  drop_reason_desc?: string[];
  interface?: { index?: number; name?: string }[];
  event_type?: EventTypeFilter[];
  http_status_code?: string[];
  protocol?: string[];
  source_port?: string[];
  destination_port?: string[];
  reply?: boolean[];
  dns_query?: string[];
  source_identity?: number[];
  destination_identity?: number[];
  http_method?: string[];
  http_path?: string[];
  http_url?: string[];
  http_header?: { key: string; value: string }[];
  tcp_flags?: TCPFlags[];
  node_name?: string[];
  node_labels?: string[];
  ip_version?: string[];
  trace_id?: string[];
  ip_trace_id?: number[];
  encrypted?: boolean[];
  experimental?: { cel_expression?: string[] };
}

export type FlowPredicate = (f: Flow) => boolean;

/** A filter the server cannot apply as asked: the client gets INVALID_ARGUMENT with this message. */
export class FilterError extends Error {
  readonly unimplemented: boolean;
  constructor(message: string, unimplemented = false) {
    super(message);
    this.name = 'FilterError';
    this.unimplemented = unimplemented;
  }
}

// ---- IP ----

function ipv4ToBigInt(ip: string): bigint {
  return ip.split('.').reduce((acc, o) => (acc << 8n) | BigInt(Number(o)), 0n);
}
function ipv6ToBigInt(ip: string): bigint {
  let s = ip.toLowerCase();
  const v4 = s.match(/(\d+\.\d+\.\d+\.\d+)$/);
  if (v4) {
    const n = ipv4ToBigInt(v4[1]!);
    s = s.slice(0, -v4[1]!.length) + `${(n >> 16n).toString(16)}:${(n & 0xffffn).toString(16)}`;
  }
  const [head = '', tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail !== undefined && tail !== '' ? tail.split(':') : [];
  const groups = tail !== undefined ? [...h, ...new Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g || '0', 16)), 0n);
}
function ipToBigInt(ip: string): { family: 4 | 6; n: bigint } | undefined {
  const family = isIP(ip);
  if (family === 4) return { family, n: ipv4ToBigInt(ip) };
  if (family === 6) return { family, n: ipv6ToBigInt(ip) };
  return undefined;
}

function ipMatcher(values: string[], field: string): (ip: string | undefined) => boolean {
  const exact = new Set<string>();
  const prefixes: { family: 4 | 6; net: bigint; mask: bigint }[] = [];
  for (const v of values) {
    if (v.includes('/')) {
      const [addr = '', lenText = ''] = v.split('/');
      const parsed = ipToBigInt(addr);
      const bits = parsed?.family === 4 ? 32 : 128;
      const len = Number(lenText);
      if (!parsed || !/^\d+$/.test(lenText) || len > bits)
        throw new FilterError(`invalid IP prefix "${v}" in ${field}`);
      const mask = len === 0 ? 0n : ((1n << BigInt(len)) - 1n) << BigInt(bits - len);
      prefixes.push({ family: parsed.family, net: parsed.n & mask, mask });
    } else {
      if (!isIP(v)) throw new FilterError(`invalid IP address "${v}" in ${field}`);
      exact.add(v);
    }
  }
  return (ip) => {
    if (!ip) return false;
    if (exact.has(ip)) return true;
    if (!prefixes.length) return false;
    const parsed = ipToBigInt(ip);
    return !!parsed && prefixes.some((p) => p.family === parsed.family && (parsed.n & p.mask) === p.net);
  };
}

// ---- pods and services: "[namespace/][name-prefix]" ----

/** Hubble's ParseNamespaceName: "ns/name" → [ns, name]; "name" → ["default", name]. */
export function parseNamespaceName(s: string): [string, string] {
  const parts = s.split('/');
  if (parts.length > 1) return [parts[0]!, parts[1]!];
  if (parts[0] === '') return ['', ''];
  return ['default', parts[0]!];
}

function namespacedNameMatcher(
  values: string[],
  field: string,
): (ns: string | undefined, name: string | undefined) => boolean {
  const filters = values.map((v) => {
    if (v === '') throw new FilterError(`invalid ${field} filter: name must not be empty`);
    const [ns, prefix] = parseNamespaceName(v);
    return { ns, prefix };
  });
  return (ns = '', name = '') => {
    if (!ns && !name) return false;
    return filters.some((f) => (f.prefix === '' || name.startsWith(f.prefix)) && (f.ns === '' || f.ns === ns));
  };
}

// ---- label selectors: Kubernetes selector syntax over Cilium's "source:key=value" labels ----

interface ParsedLabel {
  source: string;
  key: string;
  value: string;
}

/** "k8s:app=web" → {k8s, app, web}; "reserved:host" → {reserved, host, ""}; "app=web" → {unspec, …}. */
export function parseLabel(label: string): ParsedLabel {
  const eq = label.indexOf('=');
  const kv = eq < 0 ? label : label.slice(0, eq);
  const value = eq < 0 ? '' : label.slice(eq + 1);
  const colon = kv.indexOf(':');
  if (colon < 0) return { source: 'unspec', key: kv, value };
  return { source: kv.slice(0, colon), key: kv.slice(colon + 1), value };
}

interface Requirement {
  source: string;
  key: string;
  op: 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin';
  values: string[];
}

function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

function selectorKey(raw: string, selector: string): { source: string; key: string } {
  const k = raw.trim();
  if (!k || /[\s()!=]/.test(k)) throw new FilterError(`invalid label selector "${selector}": bad key "${raw}"`);
  const colon = k.indexOf(':');
  return colon < 0 ? { source: 'any', key: k } : { source: k.slice(0, colon), key: k.slice(colon + 1) };
}

/** Parse a selector as `hubble observe --label` takes it: "k8s:app=web,env in (a,b),!debug". */
export function parseSelector(selector: string): Requirement[] {
  const reqs: Requirement[] = [];
  for (const part of splitTopLevel(selector)) {
    const s = part.trim();
    if (!s) throw new FilterError(`invalid label selector "${selector}": empty requirement`);
    let m: RegExpMatchArray | null;
    if ((m = s.match(/^!\s*([^\s!=()]+)$/))) {
      reqs.push({ ...selectorKey(m[1]!, selector), op: '!exists', values: [] });
    } else if ((m = s.match(/^([^\s!=()]+)\s+(in|notin)\s*\(([^)]*)\)$/))) {
      const values = m[3]!
        .split(',')
        .map((v) => v.trim())
        .filter((v) => v !== '');
      reqs.push({ ...selectorKey(m[1]!, selector), op: m[2] as 'in' | 'notin', values });
    } else if ((m = s.match(/^([^\s!=()]+)\s*(==|=|!=)\s*([^\s,()=!]*)$/))) {
      reqs.push({ ...selectorKey(m[1]!, selector), op: m[2] === '!=' ? '!=' : '=', values: [m[3]!] });
    } else if ((m = s.match(/^([^\s!=()]+)$/))) {
      reqs.push({ ...selectorKey(m[1]!, selector), op: 'exists', values: [] });
    } else {
      throw new FilterError(`invalid label selector "${selector}": cannot parse "${s}"`);
    }
  }
  return reqs;
}

function labelValue(labels: ParsedLabel[], source: string, key: string): string | undefined {
  const l = labels.find((x) => x.key === key && (source === 'any' || x.source === source));
  return l?.value;
}

function requirementMatches(r: Requirement, labels: ParsedLabel[]): boolean {
  const v = labelValue(labels, r.source, r.key);
  switch (r.op) {
    case 'exists':
      return v !== undefined;
    case '!exists':
      return v === undefined;
    case '=':
      return v !== undefined && v === r.values[0];
    case '!=':
      return v === undefined || v !== r.values[0];
    case 'in':
      return v !== undefined && r.values.includes(v);
    case 'notin':
      return v === undefined || !r.values.includes(v);
  }
}

function selectorMatcher(selectors: string[]): (labels: string[] | undefined) => boolean {
  const parsed = selectors.map(parseSelector);
  return (labels) => {
    const ls = (labels ?? []).map(parseLabel);
    return parsed.some((reqs) => reqs.every((r) => requirementMatches(r, ls)));
  };
}

// ---- glob patterns (FQDNs, node names) ----

function globRegex(pattern: string, field: string): string {
  if (pattern === '') throw new FilterError(`invalid ${field} filter: empty pattern`);
  return pattern
    .toLowerCase()
    .split('*')
    .map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&'))
    .join('[-a-z0-9_.]*');
}

function nodeNameMatcher(patterns: string[]): (name: string | undefined) => boolean {
  const re = new RegExp(
    `^(?:${patterns
      .map((p) => {
        const parts = p.split('/');
        if (parts.length > 2) throw new FilterError(`invalid node_name pattern "${p}": too many slashes`);
        const [cluster, node] = parts.length === 2 ? [parts[0]!, parts[1]!] : ['', parts[0]!];
        const any = '[-a-z0-9_.]+';
        return `${cluster ? globRegex(cluster, 'node_name') : any}/${node ? globRegex(node, 'node_name') : any}`;
      })
      .join('|')})$`,
  );
  return (name) => {
    if (!name) return false;
    return re.test((name.includes('/') ? name : `default/${name}`).toLowerCase());
  };
}

function fqdnMatcher(patterns: string[], field: string): (names: string[] | undefined) => boolean {
  const re = new RegExp(`^(?:${patterns.map((p) => globRegex(p.replace(/\.$/, ''), field)).join('|')})$`);
  return (names) => (names ?? []).some((n) => re.test(n.toLowerCase().replace(/\.$/, '')));
}

// ---- ports, protocols, flags ----

function portOf(f: Flow, end: 'source_port' | 'destination_port'): number | undefined {
  const l4 = f.l4;
  return (l4?.TCP ?? l4?.UDP ?? l4?.SCTP)?.[end];
}

function portMatcher(values: string[], field: string): Set<number> {
  return new Set(
    values.map((v) => {
      const n = Number(v);
      if (!/^\d+$/.test(v) || n > 65535) throw new FilterError(`invalid port "${v}" in ${field}`);
      return n;
    }),
  );
}

const l4Protocols = new Set(['icmp', 'icmpv4', 'icmpv6', 'tcp', 'udp', 'sctp', 'vrrp', 'igmp']);
const l7Protocols = new Set(['dns', 'http']);

function protocolMatcher(values: string[]): FlowPredicate {
  const protos = values.map((p) => {
    const v = p.toLowerCase();
    if (!l4Protocols.has(v) && !l7Protocols.has(v)) throw new FilterError(`unknown protocol: "${p}"`);
    return v;
  });
  return (f) =>
    protos.some((p) => {
      const l4 = f.l4;
      switch (p) {
        case 'icmp':
          return !!(l4?.ICMPv4 || l4?.ICMPv6);
        case 'icmpv4':
          return !!l4?.ICMPv4;
        case 'icmpv6':
          return !!l4?.ICMPv6;
        case 'tcp':
          return !!l4?.TCP;
        case 'udp':
          return !!l4?.UDP;
        case 'sctp':
          return !!l4?.SCTP;
        case 'dns':
          return !!f.l7?.dns;
        case 'http':
          return !!f.l7?.http;
        default:
          return false;
      }
    });
}

const tcpFlagNames: (keyof TCPFlags)[] = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'];

/** A flow matches one TCPFlags value when it has every flag that value sets. */
function tcpFlagsMatcher(values: TCPFlags[]): FlowPredicate {
  return (f) => {
    const flags = f.l4?.TCP?.flags;
    if (!flags) return false;
    return values.some((want) => tcpFlagNames.every((n) => !want[n] || flags[n]));
  };
}

function workloadMatcher(values: Workload[]): (ep: Endpoint | undefined) => boolean {
  return (ep) =>
    (ep?.workloads ?? []).some((w) =>
      values.some((v) => (!v.name || v.name === w.name) && (!v.kind || v.kind === w.kind)),
    );
}

function regexes(values: string[], field: string): RegExp[] {
  return values.map((v) => {
    try {
      return new RegExp(v);
    } catch (err) {
      throw new FilterError(`invalid regular expression "${v}" in ${field}: ${(err as Error).message}`);
    }
  });
}

function httpStatusMatcher(values: string[]): FlowPredicate {
  const tests = values.map((v) => {
    const m = v.match(/^([1-5])(\d\d|\+)$/);
    if (!m) throw new FilterError(`invalid http_status_code "${v}": want e.g. 200 or 5+`);
    return m[2] === '+' ? (c: number) => Math.floor(c / 100) === Number(m[1]) : (c: number) => c === Number(v);
  });
  return (f) => {
    const code = f.l7?.http?.code;
    return code !== undefined && code !== 0 && tests.some((t) => t(code));
  };
}

// ---- one FlowFilter → predicate ----

function set<T>(v: T[] | undefined): v is T[] {
  return Array.isArray(v) && v.length > 0;
}

/** Compile one FlowFilter; throws FilterError for values Hubble would reject. */
export function compileFilter(ff: FlowFilter): FlowPredicate {
  const checks: FlowPredicate[] = [];
  const add = (p: FlowPredicate) => checks.push(p);

  if (set(ff.uuid)) {
    const ids = new Set(ff.uuid);
    add((f) => !!f.uuid && ids.has(f.uuid));
  }
  if (set(ff.source_ip)) {
    const m = ipMatcher(ff.source_ip, 'source_ip');
    add((f) => m(f.IP?.source));
  }
  if (set(ff.source_ip_xlated)) {
    const m = ipMatcher(ff.source_ip_xlated, 'source_ip_xlated');
    add((f) => m(f.IP?.source_xlated));
  }
  if (set(ff.destination_ip)) {
    const m = ipMatcher(ff.destination_ip, 'destination_ip');
    add((f) => m(f.IP?.destination));
  }
  if (set(ff.source_pod)) {
    const m = namespacedNameMatcher(ff.source_pod, 'source_pod');
    add((f) => m(f.source?.namespace, f.source?.pod_name));
  }
  if (set(ff.destination_pod)) {
    const m = namespacedNameMatcher(ff.destination_pod, 'destination_pod');
    add((f) => m(f.destination?.namespace, f.destination?.pod_name));
  }
  if (set(ff.source_service)) {
    const m = namespacedNameMatcher(ff.source_service, 'source_service');
    add((f) => m(f.source_service?.namespace, f.source_service?.name));
  }
  if (set(ff.destination_service)) {
    const m = namespacedNameMatcher(ff.destination_service, 'destination_service');
    add((f) => m(f.destination_service?.namespace, f.destination_service?.name));
  }
  if (set(ff.source_fqdn)) {
    const m = fqdnMatcher(ff.source_fqdn, 'source_fqdn');
    add((f) => m(f.source_names));
  }
  if (set(ff.destination_fqdn)) {
    const m = fqdnMatcher(ff.destination_fqdn, 'destination_fqdn');
    add((f) => m(f.destination_names));
  }
  if (set(ff.source_label)) {
    const m = selectorMatcher(ff.source_label);
    add((f) => m(f.source?.labels));
  }
  if (set(ff.destination_label)) {
    const m = selectorMatcher(ff.destination_label);
    add((f) => m(f.destination?.labels));
  }
  if (set(ff.node_labels)) {
    const m = selectorMatcher(ff.node_labels);
    add((f) => m(f.node_labels));
  }
  if (set(ff.source_workload)) {
    const m = workloadMatcher(ff.source_workload);
    add((f) => m(f.source));
  }
  if (set(ff.destination_workload)) {
    const m = workloadMatcher(ff.destination_workload);
    add((f) => m(f.destination));
  }
  if (set(ff.source_cluster_name)) {
    const names = new Set(ff.source_cluster_name);
    add((f) => names.has(f.source?.cluster_name ?? ''));
  }
  if (set(ff.destination_cluster_name)) {
    const names = new Set(ff.destination_cluster_name);
    add((f) => names.has(f.destination?.cluster_name ?? ''));
  }
  if (set(ff.traffic_direction)) {
    const dirs = new Set(ff.traffic_direction);
    add((f) => dirs.has(f.traffic_direction ?? 'TRAFFIC_DIRECTION_UNKNOWN'));
  }
  if (set(ff.verdict)) {
    const verdicts = new Set(ff.verdict);
    add((f) => verdicts.has(f.verdict ?? 'VERDICT_UNKNOWN'));
  }
  if (set(ff.drop_reason_desc)) {
    const reasons = new Set(ff.drop_reason_desc);
    add((f) => reasons.has(f.drop_reason_desc ?? 'DROP_REASON_UNKNOWN'));
  }
  if (set(ff.interface)) {
    const wanted = ff.interface;
    add(
      (f) =>
        !!f.interface &&
        wanted.some((i) => (!i.index || i.index === f.interface!.index) && (!i.name || i.name === f.interface!.name)),
    );
  }
  if (set(ff.event_type)) {
    const types = ff.event_type;
    add((f) => {
      const ev = f.event_type;
      if (!ev) return false;
      return types.some(
        (t) =>
          (!t.type || t.type === (ev.type ?? 0)) && (!t.match_sub_type || (t.sub_type ?? 0) === (ev.sub_type ?? 0)),
      );
    });
  }
  if (set(ff.protocol)) add(protocolMatcher(ff.protocol));
  if (set(ff.source_port)) {
    const ports = portMatcher(ff.source_port, 'source_port');
    add((f) => {
      const p = portOf(f, 'source_port');
      return p !== undefined && ports.has(p);
    });
  }
  if (set(ff.destination_port)) {
    const ports = portMatcher(ff.destination_port, 'destination_port');
    add((f) => {
      const p = portOf(f, 'destination_port');
      return p !== undefined && ports.has(p);
    });
  }
  if (set(ff.reply)) {
    const wanted = ff.reply;
    add((f) => {
      if (!f.is_reply && f.verdict !== 'DROPPED') return false;
      return wanted.includes(f.is_reply?.value ?? false);
    });
  }
  if (set(ff.source_identity)) {
    const ids = new Set(ff.source_identity.map(Number));
    add((f) => ids.has(f.source?.identity ?? 0));
  }
  if (set(ff.destination_identity)) {
    const ids = new Set(ff.destination_identity.map(Number));
    add((f) => ids.has(f.destination?.identity ?? 0));
  }
  if (set(ff.tcp_flags)) add(tcpFlagsMatcher(ff.tcp_flags));
  if (set(ff.node_name)) {
    const m = nodeNameMatcher(ff.node_name);
    add((f) => m(f.node_name));
  }
  if (set(ff.ip_version)) {
    const versions = new Set(ff.ip_version);
    add((f) => versions.has(f.IP?.ipVersion ?? 'IP_NOT_USED'));
  }
  if (set(ff.encrypted)) {
    const wanted = ff.encrypted;
    add((f) => wanted.includes(f.IP?.encrypted ?? false));
  }
  if (set(ff.dns_query)) {
    const res = regexes(ff.dns_query, 'dns_query');
    add((f) => {
      const q = f.l7?.dns?.query;
      return q !== undefined && res.some((r) => r.test(q));
    });
  }
  if (set(ff.http_status_code)) add(httpStatusMatcher(ff.http_status_code));
  if (set(ff.http_method)) {
    const methods = new Set(ff.http_method.map((m) => m.toUpperCase()));
    add((f) => methods.has((f.l7?.http?.method ?? '').toUpperCase()));
  }
  if (set(ff.http_path)) {
    const res = regexes(ff.http_path, 'http_path');
    add((f) => {
      const url = f.l7?.http?.url;
      if (!url) return false;
      const path = URL.canParse(url) ? new URL(url).pathname : url;
      return res.some((r) => r.test(path));
    });
  }
  if (set(ff.http_url)) {
    const res = regexes(ff.http_url, 'http_url');
    add((f) => {
      const url = f.l7?.http?.url;
      return !!url && res.some((r) => r.test(url));
    });
  }
  if (set(ff.http_header)) {
    const wanted = ff.http_header;
    add((f) => (f.l7?.http?.headers ?? []).some((h) => wanted.some((w) => w.key === h.key && w.value === h.value)));
  }
  // Flows carry no trace context yet: a filter on it matches nothing, as it would in Hubble.
  if (set(ff.trace_id) || set(ff.ip_trace_id)) add(() => false);
  if (set(ff.experimental?.cel_expression)) {
    throw new FilterError('cel_expression filters are not supported by cilium-ts', true);
  }

  if (checks.length === 0) return () => true;
  if (checks.length === 1) return checks[0]!;
  return (f) => checks.every((c) => c(f));
}

/** Whitelist/blacklist as Hubble's GetFlows applies them. */
export function compileFilters(whitelist: FlowFilter[] = [], blacklist: FlowFilter[] = []): FlowPredicate {
  const white = whitelist.map(compileFilter);
  const black = blacklist.map(compileFilter);
  if (!white.length && !black.length) return () => true;
  return (f) => (white.length === 0 || white.some((p) => p(f))) && !black.some((p) => p(f));
}
