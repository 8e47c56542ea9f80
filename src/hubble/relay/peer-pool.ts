// The relay's peers: one PeerConnection per agent the peer service announced, replaced when its
// address changes and closed when it is deleted.
import { PeerConnection, type BackoffOptions } from './peer-connection.ts';
import type { PeerChange } from '../peer-service.ts';
import type { Logger } from '../../lib/log.ts';

export class PeerPool {
  readonly #peers = new Map<string, PeerConnection>();
  readonly #backoff: BackoffOptions;
  readonly #log: Logger;
  readonly #onAdded = new Set<(peer: PeerConnection) => void>();

  constructor(opts: { log: Logger; backoff?: BackoffOptions }) {
    this.#log = opts.log;
    this.#backoff = opts.backoff ?? {};
  }

  apply({ type, peer }: PeerChange): void {
    const old = this.#peers.get(peer.name);
    if (type === 'PEER_DELETED') {
      if (!old) return;
      old.close();
      this.#peers.delete(peer.name);
      this.#log.info('peer deleted', { node: peer.name });
      return;
    }
    if (old && old.address === peer.address && old.tlsServerName === peer.tlsServerName) return;
    old?.close();
    const conn = new PeerConnection(peer, this.#backoff);
    this.#peers.set(peer.name, conn);
    this.#log.info(old ? 'peer updated' : 'peer added', { node: peer.name, address: peer.address });
    for (const f of this.#onAdded) f(conn);
  }

  /** Call `f` with each connection created from now on (a new peer, or a peer at a new address). */
  onAdded(f: (peer: PeerConnection) => void): () => void {
    this.#onAdded.add(f);
    return () => this.#onAdded.delete(f);
  }

  /** The peers, by name. */
  list(): PeerConnection[] {
    return [...this.#peers.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  close(): void {
    for (const p of this.#peers.values()) p.close();
    this.#peers.clear();
  }
}
