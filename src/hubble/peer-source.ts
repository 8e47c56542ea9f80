// Which agents exist and where their observer API listens, read from CiliumNodes: what the peer
// service (peer-service.ts) announces to Hubble Relay. As in Cilium, a peer is a node and its
// address is the node's InternalIP (IPv4 first) joined with the Hubble port. Cilium assumes every
// agent uses the same port; cilium-ts lets each agent publish where it really listens, because lab
// agents bind 127.0.0.1 on a port of their own: the annotation below, written by the agent on its
// own CiliumNode, wins over InternalIP + the default port.
import type { CiliumNode } from '../api/types.generated.ts';

/** On a CiliumNode: "host:port" of that node's observer API, as the agent that owns it publishes it. */
export const HUBBLE_ADDRESS_ANNOTATION = 'hubble.cilium-ts.io/address';

/** The port an agent's observer API listens on when nothing says otherwise (config/agent: --hubble-listen=:4245). */
export const HUBBLE_AGENT_PORT = 4245;

export interface Peer {
  /** the node's name */
  name: string;
  /** host:port of its observer API; "" when the node has no address yet (the relay shows it unavailable) */
  address: string;
  /** the name to verify the peer's certificate against; undefined: no TLS */
  tlsServerName?: string;
}

function joinHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The node's InternalIP, IPv4 preferred (Cilium's default address family preference). */
function internalIP(cn: CiliumNode): string | undefined {
  const ips = (cn.spec?.addresses ?? []).filter((a) => a.type === 'InternalIP' && a.ip).map((a) => a.ip!);
  return ips.find((ip) => !ip.includes(':')) ?? ips[0];
}

/** One CiliumNode → the peer it stands for. */
export function peerFromCiliumNode(cn: CiliumNode, defaultPort = HUBBLE_AGENT_PORT): Peer {
  const name = cn.metadata?.name ?? '';
  const published = cn.metadata?.annotations?.[HUBBLE_ADDRESS_ANNOTATION];
  if (published) return { name, address: published };
  const ip = internalIP(cn);
  return { name, address: ip ? joinHostPort(ip, defaultPort) : '' };
}

/** Every CiliumNode → the cluster's peers, sorted by name. */
export function peersFromCiliumNodes(nodes: readonly CiliumNode[], defaultPort = HUBBLE_AGENT_PORT): Peer[] {
  return nodes
    .filter((cn) => cn.metadata?.name)
    .map((cn) => peerFromCiliumNode(cn, defaultPort))
    .sort((a, b) => a.name.localeCompare(b.name));
}

/**
 * What an agent publishes in HUBBLE_ADDRESS_ANNOTATION, from its --hubble-listen value and the port
 * the server bound: a one-host bind ("127.0.0.1:0" → "127.0.0.1:43121") is reachable there only; a
 * wildcard bind (":4245", "0.0.0.0:4245") at the node's InternalIP. undefined for a unix socket (no
 * relay on another node can reach it) or a wildcard bind before the node has an InternalIP.
 */
export function publishedHubbleAddress(
  listen: string,
  boundPort: number,
  nodeIP: string | undefined,
): string | undefined {
  if (!listen || listen.startsWith('unix:') || listen.startsWith('/') || !boundPort) return undefined;
  const host = listen.slice(0, listen.lastIndexOf(':')).replace(/^\[|\]$/g, '');
  const wildcard = host === '' || host === '0.0.0.0' || host === '::';
  if (wildcard) return nodeIP ? joinHostPort(nodeIP, boundPort) : undefined;
  return joinHostPort(host, boundPort);
}
