// L4 parts of rules: a rule's (protocol, port, endPort) expanded into one PortSpec per protocol.
// The names and numbers (protocols, ICMP types, port parsing) are vocabulary (./api); how port
// ranges become policy map keys is the datapath's (src/datapath/policy-encoding.ts).

import { MAX_PORT, parsePort, portlessProtocolNumbers, protocolNumber, protocolsOf } from './api/index.ts';

// The protocol vocabulary, for modules that import it with the L4 functions.
export { icmpType, icmpTypesV4, icmpTypesV6, Proto, protocolNames, protocolNumber, protocolsOf } from './api/index.ts';

/**
 * One port of a rule after parsing: a protocol and either a number (0 = every port), a range
 * [port, endPort] or a container port name to resolve later.
 */
export type PortSpec =
  /** exact: the port is an ICMP type, where 0 (EchoReply) is a real value, not "every port" */
  { protocol: number; port: number; endPort?: number; exact?: boolean } | { protocol: number; name: string };

/** The L4 part of one rule entry. */
export type L4Spec =
  /** no toPorts / icmps / ports: every protocol, every port (protocol 0 in the map) */
  { kind: 'any' } | { kind: 'ports'; ports: PortSpec[] };

/** A port field of a rule, as Cilium reads it. Returns undefined for a port that cannot be read. */
export function parsePortField(
  port: string | number | undefined | null,
): { port: number } | { name: string } | undefined {
  if (port === undefined || port === null || port === '') return { port: 0 };
  if (typeof port === 'number') return Number.isInteger(port) && port >= 0 && port <= MAX_PORT ? { port } : undefined;
  const p = parsePort(port);
  if (p.kind === 'number') return { port: p.value };
  if (p.kind === 'name') return { name: p.name };
  return undefined;
}

/** Expands one (protocol, port spec) into PortSpecs, one per protocol (ANY gives three). */
export function portSpecs(
  protocol: string | undefined,
  port: string | number | undefined | null,
  endPort?: number | null,
): PortSpec[] {
  const parsed = parsePortField(port);
  if (!parsed) return [];
  return protocolsOf(protocol).map((proto): PortSpec => {
    if (portlessProtocolNumbers.has(proto)) return { protocol: proto, port: 0 };
    if ('name' in parsed) return { protocol: proto, name: parsed.name };
    if (endPort !== undefined && endPort !== null && endPort > parsed.port)
      return { protocol: proto, port: parsed.port, endPort };
    return { protocol: proto, port: parsed.port };
  });
}

/** A protocol and an inclusive port range; protocol 0 is every protocol (and then every port). */
export interface PortRange {
  protocol: number;
  port: number;
  endPort: number;
}

/** The port range of a numeric PortSpec: port 0 = every port (not for an exact ICMP type). */
export function portRange(protocol: number, port: number, endPort?: number, exact = false): PortRange {
  if (protocol === 0) return { protocol: 0, port: 0, endPort: MAX_PORT };
  if (exact) return { protocol, port, endPort: port };
  if (port === 0) return { protocol, port: 0, endPort: MAX_PORT };
  if (endPort !== undefined && endPort > port) return { protocol, port, endPort: Math.min(endPort, MAX_PORT) };
  return { protocol, port, endPort: port };
}

/** Whether range `outer` (protocol 0 = any) covers range `inner`. */
export function rangeCovers(outer: PortRange, inner: PortRange): boolean {
  if (outer.protocol === 0) return true;
  return outer.protocol === inner.protocol && outer.port <= inner.port && inner.endPort <= outer.endPort;
}

/** Whether protocol `want` (0 = any) is compatible with a named port's protocol. */
export function namedPortProtocolMatches(ruleProto: number, portProtocol: string | undefined): boolean {
  const p = protocolNumber(portProtocol ?? 'TCP');
  return p === undefined || p === 0 || p === ruleProto;
}
