// One agent as the relay sees it: a gRPC client to its observer API that keeps itself connected.
// grpc-js redials with exponential backoff on its own once asked to connect; we ask again every
// time the channel falls idle (the agent closed the connection, e.g. it restarted), so a peer that
// comes back is CONNECTED again without anyone calling it first. Keepalive pings notice an agent
// whose node vanished without closing anything.
import { connectivityState } from '@grpc/grpc-js';
import { ObserverClient } from '../client.ts';
import type { Peer } from '../peer-source.ts';

export interface BackoffOptions {
  /** first redial after a failure (grpc-js doubles it up to the maximum, with jitter) */
  initialMs?: number;
  maxMs?: number;
}

/** relay.NodeState as the relay reports a peer: CONNECTED, or UNAVAILABLE until it is. */
export type PeerState = 'NODE_CONNECTED' | 'NODE_UNAVAILABLE';

export class PeerConnection {
  readonly name: string;
  readonly address: string;
  readonly tlsServerName: string | undefined;
  readonly #client: ObserverClient | undefined;
  #closed = false;

  constructor(peer: Peer, backoff: BackoffOptions = {}) {
    this.name = peer.name;
    this.address = peer.address;
    this.tlsServerName = peer.tlsServerName;
    if (!peer.address) return;
    this.#client = new ObserverClient(peer.address, {
      'grpc.initial_reconnect_backoff_ms': backoff.initialMs ?? 1000,
      'grpc.min_reconnect_backoff_ms': Math.min(backoff.initialMs ?? 1000, 1000),
      'grpc.max_reconnect_backoff_ms': backoff.maxMs ?? 30_000,
      'grpc.keepalive_time_ms': 30_000,
      'grpc.keepalive_timeout_ms': 10_000,
      'grpc.keepalive_permit_without_calls': 1,
    });
    this.#keepConnecting();
  }

  /** The observer API client; undefined when the peer has no address. */
  get client(): ObserverClient | undefined {
    return this.#client;
  }

  get state(): PeerState {
    const ch = this.#client?.channel;
    return ch && !this.#closed && ch.getConnectivityState(false) === connectivityState.READY
      ? 'NODE_CONNECTED'
      : 'NODE_UNAVAILABLE';
  }

  get connected(): boolean {
    return this.state === 'NODE_CONNECTED';
  }

  /**
   * Connected now, or within `ms` when a dial is under way (a relay just started, an agent just
   * added); a peer whose last dial failed is not waited for: it is unavailable.
   */
  async ready(ms: number): Promise<boolean> {
    const ch = this.#client?.channel;
    if (!ch || this.#closed) return false;
    const deadline = Date.now() + ms;
    for (;;) {
      const s = ch.getConnectivityState(true);
      if (s === connectivityState.READY) return true;
      if (s === connectivityState.TRANSIENT_FAILURE || s === connectivityState.SHUTDOWN) return false;
      if (Date.now() >= deadline) return false;
      const changed = await new Promise<boolean>((resolve) =>
        ch.watchConnectivityState(s, deadline, (err) => resolve(!err)),
      );
      if (!changed) return false;
    }
  }

  /** Resolves true once connected (now or after redials), false when closed or `signal` aborts first. */
  async whenConnected(signal: AbortSignal): Promise<boolean> {
    const ch = this.#client?.channel;
    if (!ch) return false;
    while (!this.#closed && !signal.aborted) {
      const s = ch.getConnectivityState(true);
      if (s === connectivityState.READY) return true;
      if (s === connectivityState.SHUTDOWN) return false;
      // a bounded watch: an aborted wait leaves no watcher behind for longer than this
      await new Promise<void>((resolve) => {
        const done = () => {
          signal.removeEventListener('abort', done);
          resolve();
        };
        signal.addEventListener('abort', done);
        ch.watchConnectivityState(s, Date.now() + 5000, done);
      });
    }
    return false;
  }

  close(): void {
    this.#closed = true;
    this.#client?.close();
  }

  #keepConnecting(): void {
    const ch = this.#client?.channel;
    if (!ch || this.#closed) return;
    const s = ch.getConnectivityState(true);
    if (s === connectivityState.SHUTDOWN) return;
    ch.watchConnectivityState(s, Infinity, () => this.#keepConnecting());
  }
}
