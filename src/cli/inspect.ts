// The status and inspection commands, as Cilium users type them: `status`, `endpoint list|get`,
// `identity list|get`, `policy get`, `policy explain`, `bpf policy get`, `bpf ct list`,
// `bpf ipcache list`, `map list`. They read the agent's local API (src/agent/api.ts) over its
// unix socket; `policy explain --offline` computes the same answer from manifests alone.
import { request } from 'node:http';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_AGENT_SOCKET } from '../agent/api.ts';
import { labPaths } from '../lab/lab.ts';
import {
  PolicyEngine, formatRuleRef, podIdentityLabels, protocolNumber, type PolicyObject,
} from '../policy/index.ts';
import { readManifests } from './policy-validate.ts';

/** $CILIUM_TS_AGENT_SOCKET, else the lab's agent when a lab runs, else the node agent's socket. */
export function defaultAgentSocket(): string {
  if (process.env.CILIUM_TS_AGENT_SOCKET) return process.env.CILIUM_TS_AGENT_SOCKET;
  const lab = join(labPaths().dir, 'agent.sock');
  return existsSync(lab) ? lab : DEFAULT_AGENT_SOCKET;
}

export function agentGet<T>(path: string, socketPath = defaultAgentSocket()): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          return reject(new Error(`the agent answered ${res.statusCode} with no JSON`));
        }
        if (res.statusCode !== 200) return reject(new Error((parsed as { error?: string }).error ?? `HTTP ${res.statusCode}`));
        resolve(parsed as T);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(new Error(
      e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
        ? `no agent answers on ${socketPath} (is the lab up? set CILIUM_TS_AGENT_SOCKET to point elsewhere)`
        : e.message)));
    req.end();
  });
}

/** Aligned columns, headers in capitals, as kubectl and cilium print them. */
export function formatTable(head: string[], rows: Array<Array<string | number | boolean>>): string {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]!))).join('   ').trimEnd()).join('\n') + '\n';
}

const out = (s: string) => process.stdout.write(s);

interface Endpoint { id: number; namespace: string; pod: string; identity: number; state: string; ip: string; ingress: boolean; egress: boolean; labels: string[] }

async function show(path: string, json: boolean, render: (v: never) => string): Promise<number> {
  const v = await agentGet<never>(path);
  out(json ? `${JSON.stringify(v, null, 2)}\n` : render(v));
  return 0;
}

const onOff = (b: boolean) => (b ? 'Enabled' : 'Disabled');

export async function inspectCommand(cmd: string, args: string[]): Promise<number | undefined> {
  const { values, positionals } = parseArgs({
    args, allowPositionals: true,
    options: {
      output: { type: 'string', short: 'o', default: 'text' }, verbose: { type: 'boolean', default: false },
      port: { type: 'string', default: '0' }, protocol: { type: 'string', default: 'TCP' },
      offline: { type: 'boolean', default: false }, file: { type: 'string', short: 'f', multiple: true },
    },
  });
  const json = values.output === 'json';
  const [sub, arg, arg2] = positionals;
  switch (`${cmd} ${sub ?? ''}`.trim()) {
    case 'status':
      return show('/v1/status', json, (s: ReturnType<import('../agent/agent.ts').Agent['status']>) => {
        const lines = [
          ['Node', s.node], ['Agent', s.agent],
          ['Kubernetes', s.kubernetes.every((k) => k.synced && !k.error) ? `Ok (${s.kubernetes.length} watches synced)` : s.kubernetes.filter((k) => k.error).map((k) => `${k.watch}: ${k.error}`).join('; ') || 'syncing'],
          ['Datapath', `${s.datapath.mode}, maps pinned in ${s.datapath.pinRoot}`], ['Pod CIDR', s.datapath.podCidr ?? 'waiting for the operator'],
          ['Policy enforcement', s.enforcementMode],
          ['Endpoints', `${s.endpoints.ready}/${s.endpoints.total} ready, ${s.endpoints.enforcingIngress} enforcing ingress, ${s.endpoints.enforcingEgress} enforcing egress`],
          ['Identities', String(s.identities)], ['Policies', String(s.policies)],
          ...(s.flows ? [['Hubble', JSON.stringify(s.flows)]] : []),
        ];
        let text = lines.map(([k, v]) => `${`${k}:`.padEnd(20)}${v}`).join('\n') + '\n';
        if (values.verbose) text += `\nBPF maps:\n${formatTable(['NAME', 'ENTRIES', 'MAX', 'PRESSURE'], s.maps.map((m) => [m.name, m.entries, m.maxEntries, `${(m.pressure * 100).toFixed(1)}%`]))}`;
        return text;
      });
    case 'endpoint list':
      return show('/v1/endpoint', json, (eps: Endpoint[]) => formatTable(
        ['ENDPOINT', 'POLICY (ingress)', 'POLICY (egress)', 'IDENTITY', 'LABELS (source:key[=value])', 'IPv4', 'STATUS'],
        eps.sort((a, b) => a.id - b.id).map((e) => [e.id, onOff(e.ingress), onOff(e.egress), e.identity, e.labels.join(' '), e.ip, e.state])));
    case 'endpoint get':
      return show(`/v1/endpoint/${encodeURIComponent(arg ?? '')}`, true, () => '');
    case 'identity list':
      return show('/v1/identity', json, (ids: Array<{ id: number; labels: string[] }>) => formatTable(['ID', 'LABELS'], ids.map((i) => [i.id, i.labels.join(' ')])));
    case 'identity get':
      return show(`/v1/identity/${encodeURIComponent(arg ?? '')}`, json, (i: { id: number; labels: string[] }) => formatTable(['ID', 'LABELS'], [[i.id, i.labels.join(' ')]]));
    case 'policy get':
      return show('/v1/policy', json, (p: { policies: Array<{ kind: string; namespace?: string; name: string; revision?: string; rules: number }>; notes: string[] }) =>
        formatTable(['KIND', 'NAMESPACE', 'NAME', 'RULES', 'REVISION'], p.policies.map((x) => [x.kind, x.namespace ?? '', x.name, x.rules, x.revision ?? ''])) +
        (p.notes.length ? `\nNot enforced:\n${p.notes.map((n) => `  ${n}`).join('\n')}\n` : ''));
    case 'policy explain': {
      if (!arg || !arg2) throw new Error('usage: cilium-ts policy explain FROM TO --port N [--protocol TCP|UDP|ICMP] [--offline -f PATH...]');
      if (protocolNumber(values.protocol!) === undefined) throw new Error(`unknown protocol ${values.protocol}`);
      const e = values.offline
        ? explainOffline(values.file ?? [], arg, arg2, Number(values.port), values.protocol!)
        : await agentGet<Explained>(`/v1/policy/explain?from=${encodeURIComponent(arg)}&to=${encodeURIComponent(arg2)}&port=${values.port}&protocol=${values.protocol}`);
      out(json ? `${JSON.stringify(e, null, 2)}\n` : renderExplained(e, arg, arg2));
      return e.verdict === 'allowed' || e.verdict === 'no-enforcement' ? 0 : 1;
    }
    case 'bpf policy':
      if (sub === 'policy' && arg === 'get') {
        return show(`/v1/bpf/policy/${encodeURIComponent(arg2 ?? '')}`, json, (entries: Array<{ identity: number; direction: string; protocol: number; port: number; portPrefixLen: number; verdict: string; rules: string[] }>) =>
          formatTable(['POLICY', 'DIRECTION', 'IDENTITY', 'PORT/PROTO', 'RULES'], entries.map((e) => [
            e.verdict === 'deny' ? 'Deny' : 'Allow', e.direction === 'ingress' ? 'Ingress' : 'Egress', e.identity === 0 ? 'ANY' : e.identity,
            e.protocol === 0 ? 'ANY' : `${e.portPrefixLen === 0 ? 'ANY' : e.port}${e.portPrefixLen > 0 && e.portPrefixLen < 16 ? `/${e.portPrefixLen}` : ''}/${protoName(e.protocol)}`,
            e.rules.join('; ')])));
      }
      break;
    case 'bpf ct':
      return show('/v1/bpf/ct', json, (cts: Array<{ protocol: number; saddr: string; sport: number; daddr: string; dport: number; dir: string; packets: number; bytes: number; ageSeconds: number; srcIdentity: number }>) =>
        formatTable(['PROTO', 'SOURCE', 'DESTINATION', 'DIRECTION', 'PACKETS', 'BYTES', 'IDLE', 'SOURCE IDENTITY'],
          cts.map((c) => [protoName(c.protocol), `${c.saddr}:${c.sport}`, `${c.daddr}:${c.dport}`, c.dir, c.packets, c.bytes, `${c.ageSeconds}s`, c.srcIdentity])));
    case 'bpf ipcache':
      return show('/v1/bpf/ipcache', json, (rows: Array<{ prefix: string; identity: number }>) => formatTable(['IP PREFIX/ADDRESS', 'IDENTITY'], rows.sort((a, b) => a.prefix.localeCompare(b.prefix)).map((r) => [r.prefix, r.identity])));
    case 'map list':
      return show('/v1/map', json, (maps: Array<{ name: string; entries: number; maxEntries: number }>) => formatTable(['NAME', 'ENTRIES', 'MAX ENTRIES'], maps.map((m) => [m.name, m.entries, m.maxEntries])));
  }
  return undefined;
}

const protoName = (p: number) => ({ 1: 'ICMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 132: 'SCTP' } as Record<number, string>)[p] ?? String(p);

interface Explained {
  verdict: string; fromIdentity: number; to: string; port: number; protocol: string;
  egress: { verdict: string; rules: string[]; policies: string[] }; ingress: { verdict: string; rules: string[]; policies: string[] };
}

function renderExplained(e: Explained, from: string, to: string): string {
  const side = (name: string, d: Explained['egress']) => {
    const why = d.verdict === 'default-denied' ? `no rule allows it; enforcement is on because of ${d.policies.join(', ') || 'enforcement mode always'}`
      : d.rules.length ? d.rules.join('; ') : d.verdict === 'no-enforcement' ? 'no policy selects this side' : '';
    return `  ${name.padEnd(8)}${d.verdict.padEnd(16)}${why}\n`;
  };
  return `${from} -> ${to} ${e.protocol}/${e.port}: ${e.verdict.toUpperCase()}\n${side('egress', e.egress)}${side('ingress', e.ingress)}`;
}

/** The same question answered from manifests alone: Pods (and Namespaces) plus policies. */
export function explainOffline(paths: string[], from: string, to: string, port: number, protocol: string): Explained {
  if (paths.length === 0) throw new Error('--offline needs manifests: -f FILE|DIR|- (Pods, Namespaces and policies)');
  const objs = readManifests(paths);
  const nsLabels = new Map<string, Record<string, string>>();
  for (const o of objs) if (o.kind === 'Namespace') nsLabels.set(String((o.metadata as { name?: string })?.name), ((o.metadata as { labels?: Record<string, string> })?.labels) ?? {});
  const engine = new PolicyEngine({ enforcementMode: 'default', allowLocalhost: false });
  const pods = new Map<string, { id: number; identity: number }>();
  let next = 1, identity = 256;
  for (const o of objs.filter((x) => x.kind === 'Pod')) {
    const md = o.metadata as { name?: string; namespace?: string; labels?: Record<string, string> };
    const spec = o.spec as { serviceAccountName?: string; containers?: Array<{ ports?: Array<{ name?: string; containerPort: number; protocol?: string }> }> } | undefined;
    const ns = md.namespace ?? 'default';
    const ref = `${ns}/${md.name}`;
    const id = next++, ident = identity++;
    engine.upsertIdentity(ident, podIdentityLabels({ namespace: ns, podLabels: md.labels ?? {}, namespaceLabels: nsLabels.get(ns) ?? {}, serviceAccount: spec?.serviceAccountName ?? 'default' }));
    const namedPorts = (spec?.containers ?? []).flatMap((c) => c.ports ?? []).filter((p) => p.name).map((p) => ({ name: p.name!, port: p.containerPort, protocol: p.protocol ?? 'TCP' }));
    engine.upsertEndpoint({ id, identity: ident, namedPorts });
    pods.set(ref, { id, identity: ident });
  }
  for (const o of objs) {
    if (o.kind === 'CiliumNetworkPolicy' || o.kind === 'CiliumClusterwideNetworkPolicy' || o.kind === 'NetworkPolicy') engine.upsertPolicy(o as unknown as PolicyObject);
  }
  const src = pods.get(from), dst = pods.get(to);
  if (!src) throw new Error(`no Pod ${from} in the manifests (FROM and TO are namespace/name of Pods given with -f)`);
  if (!dst) throw new Error(`no Pod ${to} in the manifests`);
  const e = engine.explain(src.identity, dst.id, port, protocol);
  const side = (d: typeof e.ingress) => ({ verdict: d.verdict, rules: d.rules.map(formatRuleRef), policies: d.policies.map((p) => `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`) });
  return { verdict: e.verdict, fromIdentity: src.identity, to, port, protocol, egress: side(e.egress), ingress: side(e.ingress) };
}
