// The relay's discovery, as Hubble Relay's: one long Notify call to the peer service of an agent
// (--peer-service). The first messages list every agent (PEER_ADDED), later ones say what
// changed. When the stream ends or fails (that agent restarted) the watcher redials with
// exponential backoff; the peers it already knows stay in the pool meanwhile, and the new stream's
// PEER_ADDED messages update them.
import { setTimeout as sleep } from 'node:timers/promises';
import * as grpc from '@grpc/grpc-js';
import { observerPackage } from '../proto.ts';
import { grpcTarget } from '../client.ts';
import type { ChangeNotification__Output } from '../generated/peer/ChangeNotification.ts';
import type { PeerChange } from '../peer-service.ts';
import type { Logger } from '../../lib/log.ts';

type PeerStub = grpc.Client & {
  Notify(req: object): grpc.ClientReadableStream<ChangeNotification__Output>;
};

export interface PeerWatcherOptions {
  /** host:port (or unix:path) of an agent's peer service */
  address: string;
  onChange: (change: PeerChange) => void;
  log: Logger;
  backoff?: { initialMs?: number; maxMs?: number };
}

/** A notification as the pool's change; undefined for UNKNOWN or a nameless one. */
export function peerChange(n: ChangeNotification__Output): PeerChange | undefined {
  if (!n.name || !n.type || n.type === 'UNKNOWN') return undefined;
  const tlsServerName = n.tls?.server_name || undefined;
  return {
    type: n.type,
    peer: { name: n.name, address: n.address ?? '', ...(tlsServerName ? { tlsServerName } : {}) },
  };
}

export class PeerWatcher {
  readonly #o: PeerWatcherOptions;
  readonly #stub: PeerStub;
  readonly #abort = new AbortController();
  #call: grpc.ClientReadableStream<ChangeNotification__Output> | undefined;
  #loop: Promise<void> | undefined;
  #streaming = false;

  constructor(opts: PeerWatcherOptions) {
    this.#o = opts;
    const loaded = grpc.loadPackageDefinition(observerPackage()) as unknown as {
      peer: { Peer: new (target: string, creds: grpc.ChannelCredentials) => PeerStub };
    };
    this.#stub = new loaded.peer.Peer(grpcTarget(opts.address), grpc.credentials.createInsecure());
  }

  /** a Notify stream is open now */
  get streaming(): boolean {
    return this.#streaming;
  }

  start(): void {
    this.#loop ??= this.#run();
  }

  async stop(): Promise<void> {
    this.#abort.abort();
    this.#call?.cancel();
    await this.#loop;
    this.#stub.close();
  }

  async #run(): Promise<void> {
    const initial = this.#o.backoff?.initialMs ?? 1000;
    const max = this.#o.backoff?.maxMs ?? 30_000;
    let delay = initial;
    while (!this.#abort.signal.aborted) {
      const received = await this.#stream();
      if (this.#abort.signal.aborted) return;
      if (received) delay = initial;
      this.#o.log.warn('peer service stream ended, redialing', { address: this.#o.address, retryInMs: delay });
      try {
        await sleep(delay * (0.8 + Math.random() * 0.4), undefined, { signal: this.#abort.signal });
      } catch {
        return;
      }
      delay = Math.min(delay * 2, max);
    }
  }

  /** One Notify call until it ends; true if it delivered anything. */
  async #stream(): Promise<boolean> {
    let received = false;
    const call = this.#stub.Notify({});
    this.#call = call;
    call.on('metadata', () => {
      this.#streaming = true;
    });
    try {
      for await (const n of call as AsyncIterable<ChangeNotification__Output>) {
        this.#streaming = true;
        received = true;
        const change = peerChange(n);
        if (change) this.#o.onChange(change);
      }
    } catch (err) {
      if (!this.#abort.signal.aborted) {
        this.#o.log.debug('peer service stream failed', {
          address: this.#o.address,
          error: (err as grpc.ServiceError).details || String(err),
        });
      }
    } finally {
      this.#streaming = false;
      this.#call = undefined;
    }
    return received;
  }
}
