// GetFlows for the whole cluster, as Hubble Relay answers it: the request goes down unchanged
// (filters, since/until, first/last N) to every connected agent, and their answers come back
// merged by time. Node status events tell the client which nodes answered (NODE_CONNECTED) and
// which could not (NODE_UNAVAILABLE, NODE_ERROR); one dead agent never stops the others' flows.
//
// Without follow the answers are merged whole and the count is applied to the merge: --last N is
// the newest N of the cluster. With follow and --last N, the relay first does exactly that, then
// follows each agent from the newest flow it already sent (a `since`, dropping the repeats at that
// instant), so nothing falls in the gap between the two. Live flows pass a short sort buffer. An
// agent whose stream ends is followed again, from where it stopped, once it is reachable again.
import * as grpc from '@grpc/grpc-js';
import { timestampFromMs, type Timestamp } from '../flow.ts';
import type { GetFlowsRequest } from '../server.ts';
import type { GetFlowsResponse } from '../printer.ts';
import type { NodeState } from '../generated/relay/NodeState.ts';
import { mergeSnapshot, responseTimeNs } from './flow-order.ts';
import { SortBuffer } from './sort-buffer.ts';
import type { PeerConnection } from './peer-connection.ts';
import type { PeerPool } from './peer-pool.ts';

export interface RelayFlowsOptions {
  pool: PeerPool;
  req: GetFlowsRequest;
  send: (res: GetFlowsResponse) => void;
  signal: AbortSignal;
  /** how long a peer still dialing is waited for before it counts as unavailable */
  dialWaitMs: number;
  sortBuffer?: { drainMs?: number; maxLen?: number };
}

/** An error to hand the client as the call's status. */
export class RelayError extends Error {
  readonly code: grpc.status;
  constructor(code: grpc.status, message: string) {
    super(message);
    this.code = code;
  }
}

export function nodeStatus(state: NodeState, names: string[], message = ''): GetFlowsResponse {
  return {
    node_status: { state_change: state, node_names: names, message },
    time: timestampFromMs(Date.now()),
  } as GetFlowsResponse;
}

function errText(err: unknown): string {
  const e = err as { details?: string; message?: string };
  return e.details || e.message || String(err);
}

/** Where a peer's follow resumes: the newest flow already sent from it, and those sent at that instant. */
interface Resume {
  since: Timestamp;
  sinceNs: number;
  sentAtSince: Set<string>;
}

function resumeAfter(answer: readonly GetFlowsResponse[], fallback: Timestamp): Resume {
  let newest: GetFlowsResponse | undefined;
  for (const r of answer) if (r.flow && (!newest || responseTimeNs(r) >= responseTimeNs(newest))) newest = r;
  if (!newest) return { since: fallback, sinceNs: -Infinity, sentAtSince: new Set() };
  const sinceNs = responseTimeNs(newest);
  const sentAtSince = new Set(answer.filter((r) => r.flow && responseTimeNs(r) >= sinceNs).map((r) => key(r)));
  return { since: newest.flow!.time!, sinceNs, sentAtSince };
}

function key(r: GetFlowsResponse): string {
  return JSON.stringify(r.flow);
}

async function collect(peer: PeerConnection, req: GetFlowsRequest, signal: AbortSignal): Promise<GetFlowsResponse[]> {
  const out: GetFlowsResponse[] = [];
  for await (const r of peer.client!.getFlows(req, signal)) out.push(r);
  return out;
}

/** Every connected peer's answer to a non-follow request; a failing peer becomes NODE_ERROR. */
async function snapshot(
  peers: PeerConnection[],
  req: GetFlowsRequest,
  o: RelayFlowsOptions,
): Promise<GetFlowsResponse[][]> {
  const failures: unknown[] = [];
  const answers = await Promise.all(
    peers.map(async (p) => {
      try {
        return await collect(p, req, o.signal);
      } catch (err) {
        failures.push(err);
        if (!o.signal.aborted) o.send(nodeStatus('NODE_ERROR', [p.name], errText(err)));
        return [];
      }
    }),
  );
  // a request every agent refuses (a bad filter) is the client's error, not the nodes'
  const code = (failures[0] as grpc.ServiceError | undefined)?.code;
  if (
    failures.length === peers.length &&
    (code === grpc.status.INVALID_ARGUMENT || code === grpc.status.UNIMPLEMENTED) &&
    failures.every((f) => (f as grpc.ServiceError).code === code)
  ) {
    throw new RelayError(code, errText(failures[0]));
  }
  return answers;
}

/** Follow one peer until the call ends, again each time it comes back after its stream ended. */
async function followPeer(
  peer: PeerConnection,
  req: GetFlowsRequest,
  resume: Resume | undefined,
  buffer: SortBuffer<GetFlowsResponse>,
  o: RelayFlowsOptions,
): Promise<void> {
  let from = resume;
  let first = true;
  while (!o.signal.aborted) {
    if (!first) {
      if (!(await peer.whenConnected(o.signal))) return;
      o.send(nodeStatus('NODE_CONNECTED', [peer.name]));
    }
    first = false;
    const peerReq: GetFlowsRequest = from ? { ...req, number: 0, since: from.since } : req;
    let reason = 'its flow stream ended';
    try {
      for await (const r of peer.client!.getFlows(peerReq, o.signal)) {
        if (r.flow && from) {
          const t = responseTimeNs(r);
          if (t <= from.sinceNs && from.sentAtSince.delete(key(r))) continue;
        }
        if (r.flow) {
          const t = responseTimeNs(r);
          if (!from || t > from.sinceNs) from = { since: r.flow.time!, sinceNs: t, sentAtSince: new Set() };
          from.sentAtSince.add(key(r));
        }
        buffer.push(r);
      }
    } catch (err) {
      reason = errText(err);
    }
    if (o.signal.aborted) return;
    // resume where this stream stopped; with nothing sent yet, from the moment it stopped
    from ??= { since: timestampFromMs(Date.now()), sinceNs: -Infinity, sentAtSince: new Set() };
    o.send(nodeStatus('NODE_UNAVAILABLE', [peer.name], reason));
  }
}

export async function relayFlows(o: RelayFlowsOptions): Promise<void> {
  const { req } = o;
  const startedAt = timestampFromMs(Date.now());
  const peers = o.pool.list();
  const ready = await Promise.all(peers.map((p) => p.ready(o.dialWaitMs)));
  const connected = peers.filter((_, i) => ready[i]);
  const unavailable = peers.filter((_, i) => !ready[i]).map((p) => p.name);
  if (!connected.length) {
    throw new RelayError(
      grpc.status.UNAVAILABLE,
      peers.length ? `no agent reachable (unavailable: ${unavailable.join(', ')})` : 'no agent known to the relay yet',
    );
  }
  o.send(
    nodeStatus(
      'NODE_CONNECTED',
      connected.map((p) => p.name),
    ),
  );
  if (unavailable.length) o.send(nodeStatus('NODE_UNAVAILABLE', unavailable));

  if (!req.follow) {
    for (const r of mergeSnapshot(await snapshot(connected, req, o), req)) o.send(r);
    return;
  }

  const resumes = new Map<PeerConnection, Resume>();
  if (Number(req.number ?? 0) > 0 && !req.since && !req.first) {
    const answers = await snapshot(connected, { ...req, follow: false }, o);
    for (const r of mergeSnapshot(answers, req)) o.send(r);
    connected.forEach((p, i) => resumes.set(p, resumeAfter(answers[i]!, startedAt)));
  }
  const buffer = new SortBuffer<GetFlowsResponse>({ timeOf: responseTimeNs, emit: o.send, ...o.sortBuffer });
  const following = connected.map((p) => followPeer(p, req, resumes.get(p), buffer, o));
  // agents that join while the client follows: their flows from the moment they joined
  const stopWatching = o.pool.onAdded((p) => {
    const since = timestampFromMs(Date.now());
    following.push(followPeer(p, req, { since, sinceNs: -Infinity, sentAtSince: new Set() }, buffer, o));
  });
  try {
    if (!o.signal.aborted) await new Promise((resolve) => o.signal.addEventListener('abort', resolve, { once: true }));
    await Promise.all(following);
  } finally {
    stopWatching();
    buffer.close();
  }
}
