// L4 parts of rules: protocols, ports (numbers, names, ranges) and ICMP types, and how they
// become the (protocol, port, portPrefixLen) triples of policy map keys.

import { IpProto } from '../datapath/constants.ts';
import { portRangeToPrefixes } from '../datapath/codecs.ts';
import { parsePort } from '../webhooks/semantics/ports.ts';

/** IP protocol numbers: the datapath's, plus those policies may name. */
export const Proto = { ...IpProto, IGMP: 2, VRRP: 112, SCTP: 132 } as const;

export const protocolNames: Readonly<Record<number, string>> = {
  0: 'ANY', 1: 'ICMP', 2: 'IGMP', 6: 'TCP', 17: 'UDP', 58: 'ICMPv6', 112: 'VRRP', 132: 'SCTP',
};

/** Protocols without ports: a rule naming them matches the whole protocol. */
const portless = new Set<number>([Proto.IGMP, Proto.VRRP]);

/**
 * The protocols a rule's protocol name stands for. ANY (and no protocol) is Cilium's ANY: TCP,
 * UDP and SCTP. Unknown names give none (fail closed).
 */
export function protocolsOf(name: string | undefined): number[] {
  switch ((name ?? 'ANY').toUpperCase()) {
    case '':
    case 'ANY':
      return [Proto.TCP, Proto.UDP, Proto.SCTP];
    case 'TCP':
      return [Proto.TCP];
    case 'UDP':
      return [Proto.UDP];
    case 'SCTP':
      return [Proto.SCTP];
    case 'ICMP':
      return [Proto.ICMP];
    case 'ICMPV6':
      return [Proto.ICMPV6];
    case 'IGMP':
      return [Proto.IGMP];
    case 'VRRP':
      return [Proto.VRRP];
    default:
      return [];
  }
}

/** A protocol given as a number or a name ("TCP", "udp", 6). */
export function protocolNumber(p: number | string): number | undefined {
  if (typeof p === 'number') return p;
  if (/^[0-9]+$/.test(p)) return Number(p);
  const list = protocolsOf(p);
  return p.toUpperCase() === 'ANY' ? 0 : list.length === 1 ? list[0] : undefined;
}

/** ICMP type names as Cilium accepts them (pkg/policy/api/icmp.go), by family. */
export const icmpTypesV4: Readonly<Record<string, number>> = {
  EchoReply: 0, DestinationUnreachable: 3, Redirect: 5, Echo: 8, EchoRequest: 8, RouterAdvertisement: 9,
  RouterSelection: 10, TimeExceeded: 11, ParameterProblem: 12, Timestamp: 13, TimestampReply: 14, Photuris: 40,
  ExtendedEchoRequest: 42, ExtendedEchoReply: 43,
};
export const icmpTypesV6: Readonly<Record<string, number>> = {
  DestinationUnreachable: 1, PacketTooBig: 2, TimeExceeded: 3, ParameterProblem: 4, EchoRequest: 128, EchoReply: 129,
  MulticastListenerQuery: 130, MulticastListenerReport: 131, MulticastListenerDone: 132, RouterSolicitation: 133,
  RouterAdvertisement: 134, NeighborSolicitation: 135, NeighborAdvertisement: 136, RedirectMessage: 137,
  RouterRenumbering: 138, ICMPNodeInformationQuery: 139, ICMPNodeInformationResponse: 140,
  InverseNeighborDiscoverySolicitation: 141, InverseNeighborDiscoveryAdvertisement: 142,
  HomeAgentAddressDiscoveryRequest: 144, HomeAgentAddressDiscoveryReply: 145, MobilePrefixSolicitation: 146,
  MobilePrefixAdvertisement: 147, DuplicateAddressRequestCodeSuffix: 157, DuplicateAddressConfirmationCodeSuffix: 158,
  ExtendedEchoRequest: 160, ExtendedEchoReply: 161,
};

/** The numeric ICMP type, or undefined when the name or number is not valid for the family. */
export function icmpType(type: number | string, family: 'IPv4' | 'IPv6' = 'IPv4'): number | undefined {
  const n = typeof type === 'number' ? type : /^[0-9]+$/.test(type) ? Number(type) : (family === 'IPv6' ? icmpTypesV6 : icmpTypesV4)[type];
  return n !== undefined && Number.isInteger(n) && n >= 0 && n <= 255 ? n : undefined;
}

/**
 * One port of a rule after parsing: a protocol and either a number (0 = every port), a range
 * [port, endPort] or a container port name to resolve later.
 */
export type PortSpec =
  /** exact: the port is an ICMP type, where 0 (EchoReply) is a real value, not "every port" */
  | { protocol: number; port: number; endPort?: number; exact?: boolean }
  | { protocol: number; name: string };

/** The L4 part of one rule entry. */
export type L4Spec =
  /** no toPorts / icmps / ports: every protocol, every port (protocol 0 in the map) */
  | { kind: 'any' }
  | { kind: 'ports'; ports: PortSpec[] };

/** A port field of a rule, as Cilium reads it. Returns undefined for a port that cannot be read. */
export function parsePortField(port: string | number | undefined | null): { port: number } | { name: string } | undefined {
  if (port === undefined || port === null || port === '') return { port: 0 };
  if (typeof port === 'number') return Number.isInteger(port) && port >= 0 && port <= 65535 ? { port } : undefined;
  const p = parsePort(port);
  if (p.kind === 'number') return { port: p.value };
  if (p.kind === 'name') return { name: p.name };
  return undefined;
}

/** Expands one (protocol, port spec) into PortSpecs, one per protocol (ANY gives three). */
export function portSpecs(protocol: string | undefined, port: string | number | undefined | null, endPort?: number | null): PortSpec[] {
  const parsed = parsePortField(port);
  if (!parsed) return [];
  return protocolsOf(protocol).map((proto): PortSpec => {
    if (portless.has(proto)) return { protocol: proto, port: 0 };
    if ('name' in parsed) return { protocol: proto, name: parsed.name };
    if (endPort !== undefined && endPort !== null && endPort > parsed.port) return { protocol: proto, port: parsed.port, endPort };
    return { protocol: proto, port: parsed.port };
  });
}

export interface PortKey {
  protocol: number;
  port: number;
  portPrefixLen: number;
}

/** The key parts of a numeric PortSpec: port 0 = every port; a range = aligned prefixes. */
export function portKeys(protocol: number, port: number, endPort?: number, exact = false): PortKey[] {
  if (protocol === 0) return [{ protocol: 0, port: 0, portPrefixLen: 0 }];
  if (exact) return [{ protocol, port, portPrefixLen: 16 }];
  if (port === 0) return [{ protocol, port: 0, portPrefixLen: 0 }];
  if (endPort !== undefined && endPort > port) {
    return portRangeToPrefixes(port, Math.min(endPort, 0xffff)).map((r) => ({ protocol, ...r }));
  }
  return [{ protocol, port, portPrefixLen: 16 }];
}

/** Whether protocol `want` (0 = any) is compatible with a named port's protocol. */
export function namedPortProtocolMatches(ruleProto: number, portProtocol: string | undefined): boolean {
  const p = protocolNumber(portProtocol ?? 'TCP');
  return p === undefined || p === 0 || p === ruleProto;
}
