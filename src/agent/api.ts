// The agent's local API: JSON over HTTP on a unix socket (as Cilium's agent serves its REST API on
// /var/run/cilium/cilium.sock). The `cilium-ts` status and inspection commands read it; it never
// changes anything.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { dropReasonNames } from '../datapath/constants.ts';
import { formatLabelSet, formatRuleRef, protocolNumber } from '../policy/index.ts';
import { policyMapEntries } from '../datapath/policy-encoding.ts';
import { bpfLbList, explainService, ServiceNotFound } from './api-services.ts';
import type { AgentView } from './types.ts';

export { DEFAULT_AGENT_SOCKET } from './api-socket.ts';

type Handler = (q: URLSearchParams, params: string[]) => unknown;

class NotFound extends Error {}
class BadRequest extends Error {}

export function agentRoutes(agent: AgentView): Array<[RegExp, Handler]> {
  const endpoint = (id: string) => {
    const ep = agent.localEndpoints().find((e) => String(e.id) === id || `${e.namespace}/${e.pod}` === id);
    if (!ep) throw new NotFound(`no endpoint ${id} on this node`);
    return ep;
  };
  return [
    [/^\/v1\/status$/, () => agent.status()],
    [/^\/v1\/endpoint$/, () => agent.localEndpoints()],
    [
      /^\/v1\/endpoint\/(.+)$/,
      (_q, [id]) => {
        const ep = endpoint(decodeURIComponent(id!));
        const policy = agent.engine.policyOf(ep.id);
        return {
          ...ep,
          policy: {
            enforceIngress: !!policy?.enforceIngress,
            enforceEgress: !!policy?.enforceEgress,
            entries: policyMapEntries(policy).length,
          },
        };
      },
    ],
    [
      /^\/v1\/identity$/,
      () =>
        [...agent.engine.identities()]
          .sort((a, b) => a[0] - b[0])
          .map(([id, labels]) => ({ id, labels: formatLabelSet(labels) })),
    ],
    [
      /^\/v1\/identity\/(\d+)$/,
      (_q, [id]) => {
        const labels = agent.engine.identities().get(Number(id));
        if (!labels) throw new NotFound(`no identity ${id}`);
        return { id: Number(id), labels: formatLabelSet(labels) };
      },
    ],
    [
      /^\/v1\/policy$/,
      () => {
        const byPolicy = new Map<
          string,
          { kind: string; namespace?: string; name: string; revision?: string; rules: number }
        >();
        for (const r of agent.engine.rules()) {
          const key = `${r.policy.kind}/${r.policy.namespace ?? ''}/${r.policy.name}`;
          const cur = byPolicy.get(key) ?? {
            kind: r.policy.kind,
            ...(r.policy.namespace ? { namespace: r.policy.namespace } : {}),
            name: r.policy.name,
            revision: agent.policyRevisions.get(key),
            rules: 0,
          };
          cur.rules++;
          byPolicy.set(key, cur);
        }
        return { policies: [...byPolicy.values()], notes: agent.engine.notes() };
      },
    ],
    [
      /^\/v1\/policy\/explain$/,
      (q) => {
        const fromParam = q.get('from') ?? '';
        const from = /^\d+$/.test(fromParam) ? Number(fromParam) : endpoint(fromParam).identity;
        const protocol = q.get('protocol') ?? 'TCP';
        if (protocolNumber(protocol) === undefined) throw new BadRequest(`unknown protocol ${protocol}`);
        const toParam = q.get('to') ?? '';
        if (toParam.startsWith('svc:')) {
          try {
            return explainService(agent, from, toParam.slice(4), Number(q.get('port') ?? 0), protocol);
          } catch (e) {
            throw e instanceof ServiceNotFound ? new NotFound(e.message) : e;
          }
        }
        const to = endpoint(toParam);
        const e = agent.engine.explain(from, to.id, Number(q.get('port') ?? 0), protocol);
        const side = (d: typeof e.ingress) => ({
          verdict: d.verdict,
          rules: d.rules.map(formatRuleRef),
          policies: d.policies.map((p) => `${p.kind} ${p.namespace ? `${p.namespace}/` : ''}${p.name}`),
          endpoint: d.endpointId,
        });
        return {
          verdict: e.verdict,
          fromIdentity: from,
          to: `${to.namespace}/${to.pod}`,
          port: e.port,
          protocol,
          egress: side(e.egress),
          ingress: side(e.ingress),
        };
      },
    ],
    [
      /^\/v1\/bpf\/policy\/(.+)$/,
      (_q, [id]) => {
        const ep = endpoint(decodeURIComponent(id!));
        const desired = new Map(
          policyMapEntries(agent.engine.policyOf(ep.id)).map((e) => [
            JSON.stringify(e.key),
            e.rules.map(formatRuleRef),
          ]),
        );
        return agent.datapath.endpointPolicyEntries(ep.id).map(([key, entry]) => ({
          identity: key.identity,
          direction: key.direction,
          protocol: key.protocol,
          port: key.port,
          portPrefixLen: key.portPrefixLen,
          verdict: entry.deny ? 'deny' : 'allow',
          rules: desired.get(JSON.stringify(key)) ?? [],
        }));
      },
    ],
    [
      /^\/v1\/bpf\/ct$/,
      () =>
        agent.datapath.maps.conntrack.entries().map(([k, v]) => ({
          ...k,
          packets: Number(v.packets),
          bytes: Number(v.bytes),
          srcIdentity: v.srcIdentity,
          tcpFlagsSeen: v.tcpFlagsSeen,
          ageSeconds: Number((process.hrtime.bigint() - v.lastSeen) / 1_000_000_000n),
        })),
    ],
    [
      /^\/v1\/bpf\/ipcache$/,
      () =>
        agent.datapath.maps.ipcache
          .entries()
          .map(([prefix, v]) => ({ prefix, identity: v.identity, tunnelEndpoint: v.tunnelEndpoint })),
    ],
    [
      /^\/v1\/bpf\/metrics$/,
      () =>
        agent.datapath.maps.metrics.entries().map(([k, v]) => ({
          reason: k.reason,
          reasonName: dropReasonNames[k.reason] ?? String(k.reason),
          direction: k.direction,
          packets: Number(v.count),
          bytes: Number(v.bytes),
        })),
    ],
    [/^\/v1\/service$/, () => agent.serviceSource?.services() ?? []],
    [/^\/v1\/bpf\/lb$/, () => bpfLbList(agent)],
    [/^\/v1\/map$/, () => agent.datapath.mapStats()],
  ];
}

export interface AgentApiServer {
  socketPath: string;
  close(): Promise<void>;
}

export async function startAgentApi(agent: AgentView, socketPath: string): Promise<AgentApiServer> {
  const routes = agentRoutes(agent);
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://agent');
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET') return send(405, { error: 'the agent API is read-only' });
    for (const [re, handler] of routes) {
      const m = re.exec(url.pathname);
      if (!m) continue;
      try {
        return send(200, handler(url.searchParams, m.slice(1)));
      } catch (e) {
        const status = e instanceof NotFound ? 404 : e instanceof BadRequest ? 400 : 500;
        return send(status, { error: (e as Error).message });
      }
    }
    send(404, { error: `no such path ${url.pathname}` });
  });
  mkdirSync(dirname(socketPath), { recursive: true });
  rmSync(socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  chmodSync(socketPath, 0o600);
  return {
    socketPath,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        rmSync(socketPath, { force: true });
      }),
  };
}
