// Hubble Relay for cilium-ts: the observer API (observer.Observer, plus gRPC health) for the whole
// cluster. It learns the agents from one agent's peer service (PeerWatcher), keeps a connection
// to each (PeerPool), and answers GetFlows, ServerStatus, GetNodes and GetNamespaces from all of
// them. It is never in the forwarding path: if it is down, only `observe` through it stops.
import * as grpc from '@grpc/grpc-js';
import { existsSync, rmSync } from 'node:fs';
import {
  bindTarget,
  healthService,
  observerServiceDefinition,
  HUBBLE_VERSION,
  type GetFlowsRequest,
} from '../server.ts';
import { logger, type Logger } from '../../lib/log.ts';
import { PeerPool } from './peer-pool.ts';
import { PeerWatcher } from './peer-watcher.ts';
import { relayFlows, RelayError } from './get-flows.ts';
import { clusterNodes, clusterServerStatus, peerStatuses } from './cluster-status.ts';
import type { BackoffOptions } from './peer-connection.ts';

/** Where Hubble Relay listens by default (and where the hubble CLI looks first). */
export const RELAY_DEFAULT_LISTEN = '127.0.0.1:4245';

export interface RelayOptions {
  /** an agent's peer service: host:port or unix:path */
  peerService: string;
  /** default 127.0.0.1:4245 */
  listen?: string;
  version?: string;
  /** redial backoff towards the peers and the peer service */
  backoff?: BackoffOptions;
  /** how long a peer still dialing is waited for by a request (default 2 s) */
  dialWaitMs?: number;
  /** per-peer ServerStatus deadline (default 5 s) */
  statusTimeoutMs?: number;
  /** follow mode's sort buffer: drain timeout (default 1 s, Hubble's) and length (default 100) */
  sortBuffer?: { drainMs?: number; maxLen?: number };
  log?: Logger;
}

export interface Relay {
  /** what a client passes as --server */
  address: string;
  port: number;
  pool: PeerPool;
  /** the Notify stream to the peer service is open */
  readonly discovering: boolean;
  stop(): Promise<void>;
}

function serviceError(err: unknown): Partial<grpc.ServiceError> & Error {
  const code = err instanceof RelayError ? err.code : grpc.status.INTERNAL;
  const message = err instanceof Error ? err.message : String(err);
  return Object.assign(new Error(message), { code, details: message, metadata: new grpc.Metadata() });
}

type Writable = grpc.ServerWritableStream<unknown, unknown>;
type Unary = grpc.ServerUnaryCall<unknown, unknown>;

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  const log = opts.log ?? logger('hubble-relay');
  const listen = opts.listen ?? RELAY_DEFAULT_LISTEN;
  const version = opts.version ?? HUBBLE_VERSION;
  const dialWaitMs = opts.dialWaitMs ?? 2000;
  const statusTimeoutMs = opts.statusTimeoutMs ?? 5000;
  const startedAt = process.hrtime.bigint();
  const pool = new PeerPool({ log, ...(opts.backoff ? { backoff: opts.backoff } : {}) });
  const watcher = new PeerWatcher({
    address: opts.peerService,
    onChange: (c) => pool.apply(c),
    log,
    ...(opts.backoff ? { backoff: opts.backoff } : {}),
  });
  const open = new Set<() => void>();
  const statuses = () => peerStatuses(pool.list(), dialWaitMs, statusTimeoutMs);

  const observer: grpc.UntypedServiceImplementation = {
    GetFlows(call: Writable) {
      const abort = new AbortController();
      const end = () => abort.abort();
      open.add(end);
      call.on('cancelled', end);
      call.on('close', end);
      const send = (res: unknown) => {
        if (!call.cancelled && !call.destroyed && !call.writableEnded) call.write(res);
      };
      relayFlows({
        pool,
        req: call.request as GetFlowsRequest,
        send,
        signal: abort.signal,
        dialWaitMs,
        ...(opts.sortBuffer ? { sortBuffer: opts.sortBuffer } : {}),
      })
        .then(() => {
          if (!call.cancelled && !call.destroyed) call.end();
        })
        .catch((err: unknown) => {
          if (!(err instanceof RelayError)) log.error('GetFlows failed', { error: String(err) });
          if (!call.cancelled && !call.destroyed) call.emit('error', serviceError(err));
        })
        .finally(() => open.delete(end));
    },
    GetAgentEvents(call: Writable) {
      call.emit('error', serviceError(new RelayError(grpc.status.UNIMPLEMENTED, 'GetAgentEvents not implemented')));
    },
    GetDebugEvents(call: Writable) {
      call.emit('error', serviceError(new RelayError(grpc.status.UNIMPLEMENTED, 'GetDebugEvents not implemented')));
    },
    ServerStatus(_call: Unary, cb: grpc.sendUnaryData<unknown>) {
      statuses().then(
        (s) => cb(null, clusterServerStatus(s, { version, uptimeNs: Number(process.hrtime.bigint() - startedAt) })),
        (err: unknown) => cb(serviceError(err)),
      );
    },
    GetNodes(_call: Unary, cb: grpc.sendUnaryData<unknown>) {
      statuses().then(
        (s) => cb(null, { nodes: clusterNodes(s) }),
        (err: unknown) => cb(serviceError(err)),
      );
    },
    GetNamespaces(_call: Unary, cb: grpc.sendUnaryData<unknown>) {
      const connected = pool.list().filter((p) => p.connected);
      Promise.allSettled(connected.map((p) => p.client!.getNamespaces(statusTimeoutMs))).then(
        (results) => {
          const seen = new Map<string, { cluster?: string; namespace?: string }>();
          for (const r of results) {
            if (r.status !== 'fulfilled') continue;
            for (const ns of r.value.namespaces ?? []) seen.set(`${ns.cluster ?? ''}/${ns.namespace ?? ''}`, ns);
          }
          cb(null, { namespaces: [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, ns]) => ns) });
        },
        (err: unknown) => cb(serviceError(err)),
      );
    },
  };

  const server = new grpc.Server({ 'grpc.keepalive_permit_without_calls': 1 });
  server.addService(observerServiceDefinition(), observer);
  const health = healthService();
  server.addService(health.definition, health.impl);
  const { target, socket } = bindTarget(listen);
  if (socket && existsSync(socket)) rmSync(socket);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(target, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`hubble relay: cannot listen on ${listen}: ${err.message}`)) : resolve(p),
    );
  });
  const host = target.slice(0, target.lastIndexOf(':'));
  const address = socket ? `unix:${socket}` : `${host === '0.0.0.0' || host === '[::]' ? '127.0.0.1' : host}:${port}`;
  watcher.start();
  log.info('hubble relay listening', { address, peerService: opts.peerService });

  return {
    address,
    port: socket ? 0 : port,
    pool,
    get discovering() {
      return watcher.streaming;
    },
    async stop() {
      for (const end of [...open]) end();
      await watcher.stop();
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
      pool.close();
      if (socket && existsSync(socket)) rmSync(socket);
    },
  };
}
