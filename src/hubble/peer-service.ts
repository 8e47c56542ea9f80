// Hubble's peer service (peer.Peer/Notify), served beside the observer API by every agent: a
// client first receives every known peer as PEER_ADDED, then each change as it happens (a new node
// PEER_ADDED, a moved address PEER_UPDATED, a removed node PEER_DELETED). Hubble Relay discovers
// the cluster's agents this way. PeerNotifier holds the list; whoever knows the nodes (the agent,
// from CiliumNodes: peer-source.ts) hands it the whole list on every change and it works out the
// notifications.
import * as grpc from '@grpc/grpc-js';
import { observerPackage } from './proto.ts';
import type { Peer } from './peer-source.ts';
import type { ChangeNotification } from './generated/peer/ChangeNotification.ts';
import type { ChangeNotificationType } from './generated/peer/ChangeNotificationType.ts';

export type PeerChangeType = Extract<ChangeNotificationType, 'PEER_ADDED' | 'PEER_DELETED' | 'PEER_UPDATED'>;

export interface PeerChange {
  type: PeerChangeType;
  peer: Peer;
}

export class PeerNotifier {
  readonly #peers = new Map<string, Peer>();
  readonly #subscribers = new Set<(change: PeerChange) => void>();

  /** Replace the whole list (e.g. every CiliumNode after any of them changed); subscribers get the difference. */
  set(peers: readonly Peer[]): void {
    const next = new Map(peers.map((p) => [p.name, p]));
    for (const [name, old] of this.#peers) if (!next.has(name)) this.remove(old.name);
    for (const peer of next.values()) this.upsert(peer);
  }

  upsert(peer: Peer): void {
    const old = this.#peers.get(peer.name);
    if (old && old.address === peer.address && old.tlsServerName === peer.tlsServerName) return;
    this.#peers.set(peer.name, peer);
    this.#emit({ type: old ? 'PEER_UPDATED' : 'PEER_ADDED', peer });
  }

  remove(name: string): void {
    const old = this.#peers.get(name);
    if (!old) return;
    this.#peers.delete(name);
    this.#emit({ type: 'PEER_DELETED', peer: old });
  }

  list(): Peer[] {
    return [...this.#peers.values()];
  }

  /** Every known peer as PEER_ADDED now, then each change; returns the unsubscribe function. */
  subscribe(onChange: (change: PeerChange) => void): () => void {
    for (const peer of this.#peers.values()) onChange({ type: 'PEER_ADDED', peer });
    this.#subscribers.add(onChange);
    return () => this.#subscribers.delete(onChange);
  }

  #emit(change: PeerChange): void {
    for (const s of this.#subscribers) s(change);
  }
}

/** A change as peer.ChangeNotification; `tls` is left out when the peer has no TLS, as Hubble does. */
export function changeNotification({ type, peer }: PeerChange): ChangeNotification {
  return {
    name: peer.name,
    address: peer.address,
    type,
    ...(peer.tlsServerName ? { tls: { server_name: peer.tlsServerName } } : {}),
  };
}

/** The grpc-js definition of peer.Peer, from the same package definition as the observer's. */
export function peerServiceDefinition(): grpc.ServiceDefinition {
  const loaded = grpc.loadPackageDefinition(observerPackage()) as unknown as {
    peer: { Peer: grpc.ServiceClientConstructor };
  };
  return loaded.peer.Peer.service;
}

/**
 * peer.Peer's implementation over a notifier. `open` collects a function per open Notify stream
 * that ends it: the server calls them when it stops, so a client sees the stream end and redials.
 */
export function peerServiceImplementation(
  notifier: PeerNotifier,
  open: Set<() => void>,
): grpc.UntypedServiceImplementation {
  return {
    Notify(call: grpc.ServerWritableStream<unknown, ChangeNotification>) {
      let done = false;
      const end = () => {
        if (done) return;
        done = true;
        unsubscribe();
        open.delete(end);
        if (!call.destroyed && !call.cancelled) call.end();
      };
      const unsubscribe = notifier.subscribe((change) => {
        if (!done) call.write(changeNotification(change));
      });
      open.add(end);
      call.on('cancelled', end);
      call.on('close', end);
      call.on('error', end);
    },
  };
}
