// The status and inspection commands, as Cilium users type them: `status`, `endpoint list|get`,
// `identity list|get`, `policy get`, `policy explain`, `bpf policy get`, `bpf ct list`,
// `bpf ipcache list`, `bpf lb list`, `service list`, `map list`. They read the agent's local API
// (src/agent/api.ts) over its unix socket and import nothing else at start-up; `policy explain
// --offline` loads the policy engine (src/cli/explain-offline.ts) only when asked.
// protocols.ts alone, not the index: each module the command loads is start-up time
import { protocolNames, protocolNumber } from '../policy/api/protocols.ts';
import { agentGet } from './agent-client.ts';
import type {
  BpfLbResponse,
  BpfPolicyEntry,
  ConntrackEntry,
  EndpointResponse,
  ExplainResponse,
  IdentityResponse,
  IpcacheEntry,
  MapStat,
  PolicyListResponse,
  ServiceExplainResponse,
  ServiceResponse,
  StatusResponse,
} from './agent-wire.ts';
import { portFlag } from './flags.ts';
import { renderStatus } from './status.ts';
import { formatTable } from './table.ts';

const { parseArgs } = process.getBuiltinModule('node:util'); // not imported: see src/cli/main.ts

const out = (s: string) => process.stdout.write(s);

async function show<T>(path: string, json: boolean, render: (v: T) => string): Promise<number> {
  const v = await agentGet<T>(path);
  out(json ? `${JSON.stringify(v, null, 2)}\n` : render(v));
  return 0;
}

const onOff = (b: boolean) => (b ? 'Enabled' : 'Disabled');

const protoName = (p: number) => protocolNames[p] ?? String(p);

function endpointTable(eps: EndpointResponse[]): string {
  const head = ['ENDPOINT', 'POLICY (ingress)', 'POLICY (egress)', 'IDENTITY', 'LABELS (source:key[=value])', 'IPv4'];
  return formatTable(
    [...head, 'STATUS'],
    eps
      .sort((a, b) => a.id - b.id)
      .map((e) => [e.id, onOff(e.ingress), onOff(e.egress), e.identity, e.labels.join(' '), e.ip, e.state]),
  );
}

function policyTable(p: PolicyListResponse): string {
  const rows = p.policies.map((x) => [x.kind, x.namespace ?? '', x.name, x.rules, x.revision ?? '']);
  const notes = p.notes.length ? `\nNot enforced:\n${p.notes.map((n) => `  ${n}`).join('\n')}\n` : '';
  return formatTable(['KIND', 'NAMESPACE', 'NAME', 'RULES', 'REVISION'], rows) + notes;
}

function bpfPolicyTable(entries: BpfPolicyEntry[]): string {
  const portProto = (e: BpfPolicyEntry) => {
    if (e.protocol === 0) return 'ANY';
    const port = e.portPrefixLen === 0 ? 'ANY' : String(e.port);
    const prefix = e.portPrefixLen > 0 && e.portPrefixLen < 16 ? `/${e.portPrefixLen}` : '';
    return `${port}${prefix}/${protoName(e.protocol)}`;
  };
  return formatTable(
    ['POLICY', 'DIRECTION', 'IDENTITY', 'PORT/PROTO', 'RULES'],
    entries.map((e) => [
      e.verdict === 'deny' ? 'Deny' : 'Allow',
      e.direction === 'ingress' ? 'Ingress' : 'Egress',
      e.identity === 0 ? 'ANY' : e.identity,
      portProto(e),
      e.rules.join('; '),
    ]),
  );
}

function conntrackTable(cts: ConntrackEntry[]): string {
  return formatTable(
    ['PROTO', 'SOURCE', 'DESTINATION', 'DIRECTION', 'PACKETS', 'BYTES', 'IDLE', 'SOURCE IDENTITY'],
    cts.map((c) => [
      protoName(c.protocol),
      `${c.saddr}:${c.sport}`,
      `${c.daddr}:${c.dport}`,
      c.dir,
      c.packets,
      c.bytes,
      `${c.ageSeconds}s`,
      c.srcIdentity,
    ]),
  );
}

const hostPort = (address: string, port: number) => `${address.includes(':') ? `[${address}]` : address}:${port}`;

/** `cilium service list`: one row per frontend, its backends numbered below each other. */
function serviceTable(services: ServiceResponse[]): string {
  const rows: string[][] = [];
  for (const s of services.sort((a, b) => a.id - b.id)) {
    const f = s.frontend;
    const frontend = `${hostPort(f.address, f.port)}/${f.protocol}${f.scope === 'internal' ? '/i' : ''}`;
    const name = s.name ? `${s.namespace}/${s.name}` : '';
    const backends = s.backends.map((b, i) => `${i + 1} => ${hostPort(b.address, b.port)}/${b.protocol} (${b.state})`);
    rows.push([String(s.id), frontend, f.type, name, backends[0] ?? '']);
    for (const b of backends.slice(1)) rows.push(['', '', '', '', b]);
  }
  return formatTable(['ID', 'Frontend', 'Service Type', 'Service', 'Backend'], rows);
}

/** `cilium bpf lb list`: every services-map slot, the frontend's own (slot 0) with its flags. */
function bpfLbTable(lb: BpfLbResponse): string {
  const backends = new Map(lb.backends.map((b) => [b.id, b]));
  const rows = lb.services.map((s) => {
    const svc = `${s.frontend}${s.scope === 'internal' ? '/i' : ''} (${s.slot})`;
    if (s.slot === 0) return [svc, `0.0.0.0:0 (${s.revNatId}) (0) [${(s.flags ?? []).join(', ')}]`];
    const b = s.backendId === undefined ? undefined : backends.get(s.backendId);
    const be = b ? `${hostPort(b.address, b.port)}/${b.protocol}` : `backend ${s.backendId ?? '?'} (missing)`;
    return [svc, `${be} (${s.revNatId}) (${s.slot})${b && b.state !== 'active' ? ` [${b.state}]` : ''}`];
  });
  return formatTable(['SERVICE ADDRESS', 'BACKEND ADDRESS (REVNAT_ID) (SLOT)'], rows);
}

function renderServiceExplained(e: ServiceExplainResponse, from: string): string {
  let text = `${from} -> svc:${e.service} (${e.frontend}): ${e.verdict.toUpperCase()}\n`;
  if (e.backends.length === 0) text += '  no backend: new connections are refused\n';
  for (const b of e.backends) {
    text += renderExplained(
      { ...b, fromIdentity: e.fromIdentity, to: b.pod ?? b.backend },
      `  via ${b.backend}`,
      b.pod ?? b.backend,
    ).replace(/^ {2}(egress|ingress)/gm, '    $1');
    if (b.note) text += `    (${b.note})\n`;
  }
  return text;
}

function renderExplained(e: ExplainResponse, from: string, to: string): string {
  const side = (name: string, d: ExplainResponse['egress']) => {
    const why =
      d.verdict === 'default-denied'
        ? `no rule allows it; enforcement is on because of ${d.policies.join(', ') || 'enforcement mode always'}`
        : d.rules.length
          ? d.rules.join('; ')
          : d.verdict === 'no-enforcement'
            ? 'no policy selects this side'
            : '';
    return `  ${name.padEnd(8)}${d.verdict.padEnd(16)}${why}\n`;
  };
  const head = `${from} -> ${to} ${e.protocol}/${e.port}: ${e.verdict.toUpperCase()}\n`;
  return `${head}${side('egress', e.egress)}${side('ingress', e.ingress)}`;
}

interface ExplainArgs {
  from: string;
  to: string;
  port: number;
  protocol: string;
  offline: boolean;
  files: string[];
}

async function explain(a: ExplainArgs): Promise<ExplainResponse | ServiceExplainResponse> {
  if (protocolNumber(a.protocol) === undefined) throw new Error(`unknown protocol ${a.protocol}`);
  if (a.offline) {
    if (a.to.startsWith('svc:')) {
      const { explainServiceOffline } = await import('./explain-offline.ts');
      return explainServiceOffline(a.files, a.from, a.to.slice(4), a.port, a.protocol);
    }
    const { explainOffline } = await import('./explain-offline.ts');
    return explainOffline(a.files, a.from, a.to, a.port, a.protocol);
  }
  const q = new URLSearchParams({ from: a.from, to: a.to, port: String(a.port), protocol: a.protocol });
  return agentGet<ExplainResponse | ServiceExplainResponse>(`/v1/policy/explain?${q.toString()}`);
}

export async function inspectCommand(cmd: string, args: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o', default: 'text' },
      verbose: { type: 'boolean', default: false },
      port: { type: 'string', default: '0' },
      protocol: { type: 'string', default: 'TCP' },
      offline: { type: 'boolean', default: false },
      file: { type: 'string', short: 'f', multiple: true },
    },
  });
  const json = values.output === 'json';
  const [sub, arg, arg2] = positionals;
  const id = (v: string | undefined) => encodeURIComponent(v ?? '');
  switch (`${cmd} ${sub ?? ''}`.trim()) {
    case 'status':
      return show<StatusResponse>('/v1/status', json, (s) => renderStatus(s, values.verbose));
    case 'endpoint list':
      return show('/v1/endpoint', json, endpointTable);
    case 'endpoint get':
      return show(`/v1/endpoint/${id(arg)}`, true, () => '');
    case 'identity list':
      return show('/v1/identity', json, (ids: IdentityResponse[]) =>
        formatTable(
          ['ID', 'LABELS'],
          ids.map((i) => [i.id, i.labels.join(' ')]),
        ),
      );
    case 'identity get':
      return show(`/v1/identity/${id(arg)}`, json, (i: IdentityResponse) =>
        formatTable(['ID', 'LABELS'], [[i.id, i.labels.join(' ')]]),
      );
    case 'policy get':
      return show('/v1/policy', json, policyTable);
    case 'policy explain': {
      if (!arg || !arg2) {
        throw new Error(
          'usage: cilium-ts policy explain FROM TO --port N [--protocol TCP|UDP|ICMP] [--offline -f PATH...]',
        );
      }
      const e = await explain({
        from: arg,
        to: arg2,
        port: portFlag('port', values.port),
        protocol: values.protocol,
        offline: values.offline,
        files: values.file ?? [],
      });
      if (json) out(`${JSON.stringify(e, null, 2)}\n`);
      else out('backends' in e ? renderServiceExplained(e, arg) : renderExplained(e, arg, arg2));
      return e.verdict === 'allowed' || e.verdict === 'no-enforcement' ? 0 : 1;
    }
    case 'bpf policy':
      if (arg === 'get') return show(`/v1/bpf/policy/${id(arg2)}`, json, bpfPolicyTable);
      break;
    case 'bpf lb':
      return show('/v1/bpf/lb', json, bpfLbTable);
    case 'service list':
      return show('/v1/service', json, serviceTable);
    case 'bpf ct':
      return show('/v1/bpf/ct', json, conntrackTable);
    case 'bpf ipcache':
      return show('/v1/bpf/ipcache', json, (rows: IpcacheEntry[]) => {
        // The tunnel column appears once some entry lies behind another node (a one-node lab has none).
        const tunnels = rows.some((r) => r.tunnelEndpoint);
        return formatTable(
          ['IP PREFIX/ADDRESS', 'IDENTITY', ...(tunnels ? ['TUNNEL ENDPOINT'] : [])],
          rows
            .sort((a, b) => a.prefix.localeCompare(b.prefix))
            .map((r) => [r.prefix, r.identity, ...(tunnels ? [r.tunnelEndpoint ?? '0.0.0.0'] : [])]),
        );
      });
    case 'map list':
      return show('/v1/map', json, (maps: MapStat[]) =>
        formatTable(
          ['NAME', 'ENTRIES', 'MAX ENTRIES'],
          maps.map((m) => [m.name, m.entries, m.maxEntries]),
        ),
      );
  }
  return undefined;
}
