// Hubble's observer service over gRPC for one node: GetFlows (filters, last N / first N, follow,
// since/until), ServerStatus, GetNodes, GetNamespaces; agent and debug events are empty streams.
// The `hubble` CLI, Hubble Relay and `cilium-ts observe` all speak to it.
import { existsSync, rmSync } from 'node:fs';
import { once } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import { observerPackage } from './proto.ts';
import { FlowRing } from './flow-ring.ts';
import { compileFilters, FilterError, type FlowFilter, type FlowPredicate } from './filters.ts';
import { timestampFromMs, timestampNs, type Timestamp } from './flow.ts';
import { peerServiceDefinition, peerServiceImplementation, type PeerNotifier } from './peer-service.ts';
import { logger } from '../lib/log.ts';

const log = logger('hubble');

/** Hubble's default port for the observer API. */
export const HUBBLE_DEFAULT_PORT = 4245;
export const HUBBLE_VERSION = '1.20.2-cilium-ts';

export interface GetFlowsRequest {
  number?: number;
  first?: boolean;
  follow?: boolean;
  whitelist?: FlowFilter[];
  blacklist?: FlowFilter[];
  since?: Timestamp;
  until?: Timestamp;
}

export interface HubbleServerOptions {
  ring: FlowRing;
  nodeName: string;
  /** "127.0.0.1:4245", "0.0.0.0:4245", "[::]:0", "unix:/var/run/cilium-ts/hubble.sock" or an absolute socket path */
  listen?: string;
  /** reported by ServerStatus and GetNodes */
  version?: string;
  /** also serve peer.Peer/Notify (Hubble Relay's discovery) with these peers */
  peers?: PeerNotifier;
}

export interface HubbleServer {
  /** "127.0.0.1:43121" or "unix:/path": what a client passes as --server */
  address: string;
  /** the bound TCP port (0 for a unix socket) */
  port: number;
  stop(): Promise<void>;
}

interface Observed {
  ring: FlowRing;
  nodeName: string;
  version: string;
  startedAt: bigint;
  address: string;
  /** streams still open, ended when the server stops */
  open: Set<() => void>;
}

/** What a GetFlows call reads: its first position and its limits, decided before streaming. */
export interface FlowsPlan {
  startSeq: number;
  /** stop after this position unless following */
  endSeq: number;
  /** stop after this many flows (0: no limit) */
  limit: number;
  match: FlowPredicate;
  sinceNs: number;
  untilNs: number;
}

function invalid(message: string): grpc.ServiceError {
  return Object.assign(new Error(message), {
    code: grpc.status.INVALID_ARGUMENT,
    details: message,
    metadata: new grpc.Metadata(),
  });
}

/** Decide where a GetFlows call starts and stops, as Hubble's observer does. Throws FilterError. */
export function planFlows(ring: FlowRing, req: GetFlowsRequest): FlowsPlan {
  const match = compileFilters(req.whitelist ?? [], req.blacklist ?? []);
  const number = Number(req.number ?? 0);
  const sinceNs = req.since ? timestampNs(req.since) : 0;
  const untilNs = req.until ? timestampNs(req.until) : Infinity;
  const endSeq = ring.seen;
  if (req.first && req.follow) throw new FilterError('first cannot be combined with follow');
  if (req.first || req.since) {
    let startSeq = ring.oldestSeq;
    if (req.since) {
      while (startSeq < endSeq && timestampNs(ring.at(startSeq)?.time) < sinceNs) startSeq++;
    }
    return { startSeq, endSeq, limit: number, match, sinceNs, untilNs };
  }
  if (number > 0) {
    // the last N matching flows at or before `until`: walk back from the newest
    let found = 0;
    let startSeq = endSeq;
    for (let seq = endSeq - 1; seq >= ring.oldestSeq && found < number; seq--) {
      const flow = ring.at(seq)!;
      if (timestampNs(flow.time) <= untilNs && match(flow)) {
        found++;
        startSeq = seq;
      }
    }
    return { startSeq, endSeq, limit: 0, match, sinceNs, untilNs };
  }
  return { startSeq: req.follow ? endSeq : ring.oldestSeq, endSeq, limit: 0, match, sinceNs, untilNs };
}

type Writable = grpc.ServerWritableStream<unknown, unknown>;

/** Write with backpressure; false when the client went away while we waited for it to drain. */
async function write(call: Writable, msg: unknown, signal: AbortSignal): Promise<boolean> {
  if (call.write(msg)) return true;
  try {
    await once(call, 'drain', { signal });
    return true;
  } catch {
    return false;
  }
}

async function streamFlows(o: Observed, call: Writable, req: GetFlowsRequest): Promise<void> {
  let plan: FlowsPlan;
  try {
    plan = planFlows(o.ring, req);
  } catch (err) {
    if (err instanceof FilterError) {
      // grpc-js sends a server stream's 'error' event as the call's status
      call.emit(
        'error',
        Object.assign(invalid(err.message), err.unimplemented ? { code: grpc.status.UNIMPLEMENTED } : {}),
      );
      return;
    }
    throw err;
  }
  const follow = !!req.follow;
  if (!follow && plan.startSeq >= plan.endSeq) {
    call.end();
    return;
  }
  const abort = new AbortController();
  const onCancel = () => abort.abort();
  call.on('cancelled', onCancel);
  call.on('close', onCancel);
  o.open.add(onCancel);
  let sent = 0;
  try {
    for await (const ev of o.ring.follow({ fromSeq: plan.startSeq, signal: abort.signal })) {
      if ('lost' in ev) {
        if (
          !(await write(
            call,
            { lost_events: ev.lost, node_name: o.nodeName, time: timestampFromMs(Date.now()) },
            abort.signal,
          ))
        )
          break;
        continue;
      }
      const { seq, flow } = ev;
      const t = timestampNs(flow.time);
      if (t > plan.untilNs) {
        if (follow || seq >= plan.endSeq - 1) break;
        continue;
      }
      if (t >= plan.sinceNs && plan.match(flow)) {
        if (!(await write(call, { flow, node_name: flow.node_name || o.nodeName, time: flow.time }, abort.signal)))
          break;
        sent++;
        if (plan.limit && sent >= plan.limit) break;
      }
      if (!follow && seq >= plan.endSeq - 1) break;
    }
  } finally {
    abort.abort();
    o.open.delete(onCancel);
    call.off('cancelled', onCancel);
    call.off('close', onCancel);
  }
  if (!call.cancelled && !call.destroyed) call.end();
}

/** Flows per second over the last minute, from the flows' own times. */
export function flowsRate(ring: FlowRing): number {
  const horizon = (Date.now() - 60_000) * 1e6;
  let n = 0;
  for (const { flow } of ring.newestFirst()) {
    if (timestampNs(flow.time) < horizon) break;
    n++;
  }
  return n / 60;
}

function uptimeNs(o: Observed): number {
  return Number(process.hrtime.bigint() - o.startedAt);
}

function statusOf(o: Observed): Record<string, unknown> {
  const s = o.ring.stats();
  return {
    num_flows: s.size,
    max_flows: s.capacity,
    seen_flows: s.seen,
    uptime_ns: uptimeNs(o),
    num_connected_nodes: { value: 1 },
    num_unavailable_nodes: { value: 0 },
    version: o.version,
    flows_rate: flowsRate(o.ring),
  };
}

function namespacesOf(ring: FlowRing): { namespace: string }[] {
  const seen = new Set<string>();
  for (const { flow } of ring.oldestFirst()) {
    for (const ns of [flow.source?.namespace, flow.destination?.namespace]) if (ns) seen.add(ns);
  }
  return [...seen].sort().map((namespace) => ({ namespace }));
}

/** An empty event stream: ends at once, or stays open while the client follows. */
function emptyEvents(o: Observed, call: Writable): void {
  const req = call.request as { follow?: boolean };
  if (!req.follow) {
    call.end();
    return;
  }
  const end = () => {
    o.open.delete(end);
    if (!call.destroyed) call.end();
  };
  o.open.add(end);
  call.on('cancelled', end);
}

function observerService(o: Observed): grpc.UntypedServiceImplementation {
  return {
    GetFlows(call: Writable) {
      streamFlows(o, call, call.request as GetFlowsRequest).catch((err: unknown) => {
        log.error('GetFlows failed', { error: String(err) });
        if (!call.destroyed) call.emit('error', Object.assign(new Error(String(err)), { code: grpc.status.INTERNAL }));
      });
    },
    GetAgentEvents: (call: Writable) => emptyEvents(o, call),
    GetDebugEvents: (call: Writable) => emptyEvents(o, call),
    ServerStatus(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, statusOf(o));
    },
    GetNodes(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      const s = o.ring.stats();
      cb(null, {
        nodes: [
          {
            name: o.nodeName,
            version: o.version,
            address: o.address,
            state: 'NODE_CONNECTED',
            tls: { enabled: false },
            uptime_ns: uptimeNs(o),
            num_flows: s.size,
            max_flows: s.capacity,
            seen_flows: s.seen,
          },
        ],
      });
    },
    GetNamespaces(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
      cb(null, { namespaces: namespacesOf(o.ring) });
    },
  };
}

/** The grpc-js service definition of observer.Observer (shared with the client in src/cli/observe.ts). */
export function observerServiceDefinition(): grpc.ServiceDefinition {
  const loaded = grpc.loadPackageDefinition(observerPackage()) as unknown as {
    observer: { Observer: grpc.ServiceClientConstructor };
  };
  return loaded.observer.Observer.service;
}

export function bindTarget(listen: string): { target: string; socket?: string } {
  if (listen.startsWith('unix:')) {
    const path = listen.replace(/^unix:(\/\/)?/, '');
    return { target: `unix:${path}`, socket: path };
  }
  if (listen.startsWith('/')) return { target: `unix:${listen}`, socket: listen };
  return { target: listen };
}

/** grpc.health.v1.Health: `hubble status` checks it before asking ServerStatus. */
export function healthService(): { definition: grpc.ServiceDefinition; impl: grpc.UntypedServiceImplementation } {
  const loaded = grpc.loadPackageDefinition(observerPackage()) as unknown as {
    grpc: { health: { v1: { Health: grpc.ServiceClientConstructor } } };
  };
  return {
    definition: loaded.grpc.health.v1.Health.service,
    impl: {
      Check(_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) {
        cb(null, { status: 'SERVING' });
      },
      Watch(call: Writable) {
        call.write({ status: 'SERVING' });
        call.end();
      },
    },
  };
}

/** Serve the ring's flows on `listen` (default 127.0.0.1:4245). */
export async function startHubbleServer(opts: HubbleServerOptions): Promise<HubbleServer> {
  const listen = opts.listen ?? `127.0.0.1:${HUBBLE_DEFAULT_PORT}`;
  const { target, socket } = bindTarget(listen);
  if (socket && existsSync(socket)) rmSync(socket);
  const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1 });
  const observed: Observed = {
    ring: opts.ring,
    nodeName: opts.nodeName,
    version: opts.version ?? HUBBLE_VERSION,
    startedAt: process.hrtime.bigint(),
    address: '',
    open: new Set(),
  };
  server.addService(observerServiceDefinition(), observerService(observed));
  const health = healthService();
  server.addService(health.definition, health.impl);
  if (opts.peers) server.addService(peerServiceDefinition(), peerServiceImplementation(opts.peers, observed.open));
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`hubble: cannot listen on ${listen}: ${err.message}`)) : resolve(p),
    );
  });
  const host = target.startsWith('unix:') ? '' : target.slice(0, target.lastIndexOf(':'));
  observed.address = socket
    ? `unix:${socket}`
    : `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  log.info('observer API listening', { address: observed.address, capacity: opts.ring.capacity });
  return {
    address: observed.address,
    port: socket ? 0 : port,
    async stop() {
      for (const end of [...observed.open]) end();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2000);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (socket && existsSync(socket)) rmSync(socket);
    },
  };
}
