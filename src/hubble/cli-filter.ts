// `hubble observe` flags → FlowFilters, as the hubble CLI builds them: an undirected flag (--pod,
// --label, --port, --ip, --identity, --namespace …) becomes a pair of filters, one matching the
// source and one the destination; directed and plain flags (--from-pod, --verdict …) go into both.
// `--not` sends the next flag to the blacklist.
import { FilterError, type FlowFilter } from './filters.ts';
import { reservedIdentityNames } from './flow.ts';
import { messageTypeNames, tracePointNames } from './flow.ts';

export interface FilterFlag {
  name: string;
  value: string;
  /** preceded by --not */
  not?: boolean;
}

export const filterFlagNames = [
  'uuid',
  'ip',
  'from-ip',
  'to-ip',
  'pod',
  'from-pod',
  'to-pod',
  'namespace',
  'from-namespace',
  'to-namespace',
  'all-namespaces',
  'label',
  'from-label',
  'to-label',
  'fqdn',
  'from-fqdn',
  'to-fqdn',
  'service',
  'from-service',
  'to-service',
  'port',
  'from-port',
  'to-port',
  'identity',
  'from-identity',
  'to-identity',
  'verdict',
  'drop-reason-desc',
  'protocol',
  'type',
  'node-name',
  'node-label',
  'traffic-direction',
  'tcp-flags',
  'ip-version',
  'ipv4',
  'ipv6',
  'http-status',
  'http-method',
  'http-path',
  'http-url',
  'reply',
  'not-reply',
  'workload',
  'from-workload',
  'to-workload',
] as const;
export type FilterFlagName = (typeof filterFlagNames)[number];

/** Flags that `hubble observe` refuses to combine. */
const conflicts: string[][] = [
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-namespace', 'namespace', 'all-namespaces'],
  ['from-fqdn', 'from-ip', 'ip', 'fqdn', 'from-pod', 'pod'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-namespace', 'namespace', 'all-namespaces'],
  ['to-fqdn', 'to-ip', 'ip', 'fqdn', 'to-pod', 'pod'],
  ['to-pod', 'namespace', 'all-namespaces'],
  ['from-pod', 'namespace', 'all-namespaces'],
  ['label', 'from-label'],
  ['label', 'to-label'],
  ['service', 'from-service'],
  ['service', 'to-service'],
  ['port', 'to-port'],
  ['port', 'from-port'],
  ['identity', 'to-identity'],
  ['identity', 'from-identity'],
  ['workload', 'to-workload'],
  ['workload', 'from-workload'],
  ['reply', 'not-reply'],
];

type ListField = {
  [K in keyof FlowFilter]-?: FlowFilter[K] extends unknown[] | undefined ? K : never;
}[keyof FlowFilter];

class Tracker {
  left: FlowFilter | undefined;
  right: FlowFilter | undefined;
  ns: string[] = [];
  srcNs: string[] = [];
  dstNs: string[] = [];
  changed: string[] = [];

  push<K extends ListField>(
    side: 'left' | 'right' | 'both',
    field: K,
    value: NonNullable<FlowFilter[K]>[number],
  ): void {
    for (const s of side === 'both' ? (['left', 'right'] as const) : [side]) {
      const f = (this[s] ??= {});
      ((f[field] ??= [] as never) as unknown[]).push(value);
    }
  }

  track(name: string): void {
    if (!this.changed.includes(name)) this.changed.push(name);
    for (const group of conflicts) {
      if (!group.includes(name)) continue;
      const other = group.find((g) => g !== name && this.changed.includes(g));
      if (other) throw new FilterError(`filters --${name} and --${other} cannot be combined`);
    }
  }

  filters(): FlowFilter[] {
    if (!this.left && !this.right && !this.ns.length && !this.srcNs.length && !this.dstNs.length) return [];
    const left = (this.left ??= {});
    const right = (this.right ??= {});
    if (this.dstNs.length) {
      applyNs(left, 'destination', this.dstNs);
      applyNs(right, 'destination', this.dstNs);
    }
    if (this.srcNs.length) {
      applyNs(left, 'source', this.srcNs);
      applyNs(right, 'source', this.srcNs);
    }
    if (this.ns.length) {
      applyNs(left, 'source', this.ns);
      applyNs(right, 'destination', this.ns);
    }
    return canonical(left) === canonical(right) ? [left] : [left, right];
  }
}

/** Put pod filters without a namespace into each of `namespaces` ("" matches any namespace). */
function applyNs(ff: FlowFilter, end: 'source' | 'destination', namespaces: string[]): void {
  const podKey = `${end}_pod` as const;
  const svcKey = `${end}_service` as const;
  if (!ff[podKey]?.length && !ff[svcKey]?.length) ff[podKey] = [''];
  for (const key of [podKey, svcKey]) {
    const names = ff[key];
    if (!names?.length) continue;
    ff[key] = names.flatMap((n) => (n.includes('/') ? [n] : namespaces.map((ns) => `${ns}/${n}`)));
  }
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x)
      ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => a.localeCompare(b)))
      : x,
  );
}

const verdicts = ['VERDICT_UNKNOWN', 'FORWARDED', 'DROPPED', 'ERROR', 'AUDIT', 'REDIRECTED', 'TRACED', 'TRANSLATED'];

export function parseIdentity(v: string): number {
  const byName = Object.entries(reservedIdentityNames).find(([, name]) => name === v);
  if (byName) return Number(byName[0]);
  if (/^\d+$/.test(v) && Number(v) <= 0xffffffff) return Number(v);
  throw new FilterError(
    `invalid security identity "${v}": expected one of ${Object.values(reservedIdentityNames).join(', ')} or a number`,
  );
}

function parseTcpFlags(v: string): Record<string, boolean> {
  const flags: Record<string, boolean> = {};
  for (const f of v.split(',')) {
    const name = f.trim().toUpperCase();
    if (!['SYN', 'FIN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR', 'NS'].includes(name))
      throw new FilterError(`unknown tcp flag: ${f}`);
    flags[name] = true;
  }
  return flags;
}

function parseEventType(v: string): { type: number; match_sub_type?: boolean; sub_type?: number } {
  const [t = '', sub] = v.split(':', 2);
  const type = messageTypeNames[t] ?? (/^\d+$/.test(t) ? Number(t) : NaN);
  if (Number.isNaN(type))
    throw new FilterError(`unknown event type "${t}": one of ${Object.keys(messageTypeNames).join(', ')} or a number`);
  if (sub === undefined) return { type };
  const point = type === 4 ? Object.entries(tracePointNames).find(([, n]) => n === sub)?.[0] : undefined;
  const subType = point !== undefined ? Number(point) : /^\d+$/.test(sub) ? Number(sub) : NaN;
  if (Number.isNaN(subType)) throw new FilterError(`unknown event sub-type "${sub}"`);
  return { type, match_sub_type: true, sub_type: subType };
}

function parseWorkload(v: string): { kind?: string; name?: string } {
  const i = v.indexOf('/');
  return i < 0 ? { name: v } : { kind: v.slice(0, i), name: v.slice(i + 1) };
}

function apply(t: Tracker, name: string, value: string): void {
  t.track(name);
  switch (name) {
    case 'uuid':
      return t.push('both', 'uuid', value);
    case 'ip':
      t.push('left', 'source_ip', value);
      return t.push('right', 'destination_ip', value);
    case 'from-ip':
      return t.push('both', 'source_ip', value);
    case 'to-ip':
      return t.push('both', 'destination_ip', value);
    case 'pod':
      t.push('left', 'source_pod', value);
      return t.push('right', 'destination_pod', value);
    case 'from-pod':
      return t.push('both', 'source_pod', value);
    case 'to-pod':
      return t.push('both', 'destination_pod', value);
    case 'namespace':
      t.ns.push(value);
      return;
    case 'from-namespace':
      t.srcNs.push(value);
      return;
    case 'to-namespace':
      t.dstNs.push(value);
      return;
    case 'all-namespaces':
      t.ns.push('');
      return;
    case 'label':
      t.push('left', 'source_label', value);
      return t.push('right', 'destination_label', value);
    case 'from-label':
      return t.push('both', 'source_label', value);
    case 'to-label':
      return t.push('both', 'destination_label', value);
    case 'fqdn':
      t.push('left', 'source_fqdn', value);
      return t.push('right', 'destination_fqdn', value);
    case 'from-fqdn':
      return t.push('both', 'source_fqdn', value);
    case 'to-fqdn':
      return t.push('both', 'destination_fqdn', value);
    case 'service':
      t.push('left', 'source_service', value);
      return t.push('right', 'destination_service', value);
    case 'from-service':
      return t.push('both', 'source_service', value);
    case 'to-service':
      return t.push('both', 'destination_service', value);
    case 'port':
      t.push('left', 'source_port', value);
      return t.push('right', 'destination_port', value);
    case 'from-port':
      return t.push('both', 'source_port', value);
    case 'to-port':
      return t.push('both', 'destination_port', value);
    case 'identity': {
      const id = parseIdentity(value);
      t.push('left', 'source_identity', id);
      return t.push('right', 'destination_identity', id);
    }
    case 'from-identity':
      return t.push('both', 'source_identity', parseIdentity(value));
    case 'to-identity':
      return t.push('both', 'destination_identity', parseIdentity(value));
    case 'verdict': {
      const v = value.toUpperCase();
      if (!verdicts.includes(v)) throw new FilterError(`invalid --verdict value: ${value}`);
      return t.push('both', 'verdict', v);
    }
    case 'drop-reason-desc':
      return t.push('both', 'drop_reason_desc', value.toUpperCase());
    case 'protocol':
      return t.push('both', 'protocol', value);
    case 'type':
      return t.push('both', 'event_type', parseEventType(value));
    case 'node-name':
      return t.push('both', 'node_name', value);
    case 'node-label':
      return t.push('both', 'node_labels', value);
    case 'traffic-direction': {
      const d = value.toUpperCase();
      if (d !== 'INGRESS' && d !== 'EGRESS') throw new FilterError(`invalid --traffic-direction value: ${value}`);
      return t.push('both', 'traffic_direction', d);
    }
    case 'tcp-flags':
      return t.push('both', 'tcp_flags', parseTcpFlags(value));
    case 'ip-version': {
      const v = value.toLowerCase().replace(/^(ip|v|ipv)/, '');
      if (v !== '4' && v !== '6') throw new FilterError(`invalid --ip-version value: ${value}`);
      return t.push('both', 'ip_version', v === '4' ? 'IPv4' : 'IPv6');
    }
    case 'ipv4':
      return t.push('both', 'ip_version', 'IPv4');
    case 'ipv6':
      return t.push('both', 'ip_version', 'IPv6');
    case 'http-status':
      return t.push('both', 'http_status_code', value);
    case 'http-method':
      return t.push('both', 'http_method', value);
    case 'http-path':
      return t.push('both', 'http_path', value);
    case 'http-url':
      return t.push('both', 'http_url', value);
    case 'reply':
      return t.push('both', 'reply', true);
    case 'not-reply':
      return t.push('both', 'reply', false);
    case 'workload': {
      const w = parseWorkload(value);
      t.push('left', 'source_workload', w);
      return t.push('right', 'destination_workload', w);
    }
    case 'from-workload':
      return t.push('both', 'source_workload', parseWorkload(value));
    case 'to-workload':
      return t.push('both', 'destination_workload', parseWorkload(value));
    default:
      throw new FilterError(`unknown filter flag --${name}`);
  }
}

/** The whitelist and blacklist that `hubble observe` would send for these flags, in order. */
export function filtersFromFlags(flags: FilterFlag[]): { whitelist: FlowFilter[]; blacklist: FlowFilter[] } {
  const white = new Tracker();
  const black = new Tracker();
  for (const f of flags) apply(f.not ? black : white, f.name, f.value);
  return { whitelist: white.filters(), blacklist: black.filters() };
}
