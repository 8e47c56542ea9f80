// ServerStatus and GetNodes for the whole cluster, as Hubble Relay answers them: every peer is
// asked for its own ServerStatus; the flow counts of those that answer are summed, and a peer that
// is not connected or does not answer counts as unavailable (by name, the list capped as Hubble
// caps it). GetNodes lists every peer with its state and, for the connected ones, their figures.
import type { ServerStatusResponse } from '../generated/observer/ServerStatusResponse.ts';
import type { Node } from '../generated/observer/Node.ts';
import type { ServerStatus } from '../client.ts';
import type { PeerConnection } from './peer-connection.ts';

/** Hubble Relay names at most this many unavailable nodes in ServerStatus. */
export const MAX_UNAVAILABLE_NODES_LISTED = 10;

export interface PeerStatus {
  peer: PeerConnection;
  status?: ServerStatus;
  error?: string;
}

/** Each peer's own ServerStatus, or why there is none. */
export async function peerStatuses(
  peers: PeerConnection[],
  dialWaitMs: number,
  timeoutMs: number,
): Promise<PeerStatus[]> {
  return Promise.all(
    peers.map(async (peer): Promise<PeerStatus> => {
      if (!(await peer.ready(dialWaitMs))) return { peer, error: peer.address ? 'not connected' : 'no address' };
      try {
        return { peer, status: await peer.client!.serverStatus(timeoutMs) };
      } catch (err) {
        return { peer, error: (err as { details?: string }).details || String(err) };
      }
    }),
  );
}

export function clusterServerStatus(
  statuses: PeerStatus[],
  relay: { version: string; uptimeNs: number },
): ServerStatusResponse {
  let numFlows = 0;
  let maxFlows = 0;
  let seenFlows = 0;
  let rate = 0;
  const unavailable: string[] = [];
  for (const { peer, status } of statuses) {
    if (!status) {
      unavailable.push(peer.name);
      continue;
    }
    numFlows += status.num_flows ?? 0;
    maxFlows += status.max_flows ?? 0;
    seenFlows += status.seen_flows ?? 0;
    rate += status.flows_rate ?? 0;
  }
  return {
    num_flows: numFlows,
    max_flows: maxFlows,
    seen_flows: seenFlows,
    uptime_ns: relay.uptimeNs,
    num_connected_nodes: { value: statuses.length - unavailable.length },
    num_unavailable_nodes: { value: unavailable.length },
    unavailable_nodes: unavailable.slice(0, MAX_UNAVAILABLE_NODES_LISTED),
    version: relay.version,
    flows_rate: rate,
  };
}

export function clusterNodes(statuses: PeerStatus[]): Node[] {
  return statuses.map(({ peer, status }): Node => {
    const tls = peer.tlsServerName ? { enabled: true, server_name: peer.tlsServerName } : { enabled: false };
    if (!status) return { name: peer.name, address: peer.address, state: 'NODE_UNAVAILABLE', tls };
    return {
      name: peer.name,
      version: status.version ?? '',
      address: peer.address,
      state: 'NODE_CONNECTED',
      tls,
      uptime_ns: status.uptime_ns ?? 0,
      num_flows: status.num_flows ?? 0,
      max_flows: status.max_flows ?? 0,
      seen_flows: status.seen_flows ?? 0,
    };
  });
}
