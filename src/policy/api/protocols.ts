// IP protocols and ICMP types as policies name them (Cilium's pkg/policy/api/l4.go, icmp.go).

/** IP protocol numbers: those policies may name, plus ANY (0). */
export const Proto = { ANY: 0, ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, ICMPV6: 58, VRRP: 112, SCTP: 132 } as const;

/** How each protocol number prints (Cilium's and Hubble's spelling). */
export const protocolNames: Readonly<Record<number, string>> = {
  [Proto.ANY]: 'ANY',
  [Proto.ICMP]: 'ICMP',
  [Proto.IGMP]: 'IGMP',
  [Proto.TCP]: 'TCP',
  [Proto.UDP]: 'UDP',
  [Proto.ICMPV6]: 'ICMPv6',
  [Proto.VRRP]: 'VRRP',
  [Proto.SCTP]: 'SCTP',
};

/** Protocols without ports (Cilium's extended IP protocols): a rule naming them matches the whole protocol. */
export const PORTLESS_PROTOCOLS: ReadonlySet<string> = new Set(['VRRP', 'IGMP']);
export const portlessProtocolNumbers: ReadonlySet<number> = new Set<number>([Proto.IGMP, Proto.VRRP]);

/** The protocols a Kubernetes NetworkPolicy port may name. */
export const NETWORK_POLICY_PROTOCOLS: ReadonlySet<string> = new Set(['TCP', 'UDP', 'SCTP']);

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
  EchoReply: 0,
  DestinationUnreachable: 3,
  Redirect: 5,
  Echo: 8,
  EchoRequest: 8,
  RouterAdvertisement: 9,
  RouterSelection: 10,
  TimeExceeded: 11,
  ParameterProblem: 12,
  Timestamp: 13,
  TimestampReply: 14,
  Photuris: 40,
  ExtendedEchoRequest: 42,
  ExtendedEchoReply: 43,
};
export const icmpTypesV6: Readonly<Record<string, number>> = {
  DestinationUnreachable: 1,
  PacketTooBig: 2,
  TimeExceeded: 3,
  ParameterProblem: 4,
  EchoRequest: 128,
  EchoReply: 129,
  MulticastListenerQuery: 130,
  MulticastListenerReport: 131,
  MulticastListenerDone: 132,
  RouterSolicitation: 133,
  RouterAdvertisement: 134,
  NeighborSolicitation: 135,
  NeighborAdvertisement: 136,
  RedirectMessage: 137,
  RouterRenumbering: 138,
  ICMPNodeInformationQuery: 139,
  ICMPNodeInformationResponse: 140,
  InverseNeighborDiscoverySolicitation: 141,
  InverseNeighborDiscoveryAdvertisement: 142,
  HomeAgentAddressDiscoveryRequest: 144,
  HomeAgentAddressDiscoveryReply: 145,
  MobilePrefixSolicitation: 146,
  MobilePrefixAdvertisement: 147,
  DuplicateAddressRequestCodeSuffix: 157,
  DuplicateAddressConfirmationCodeSuffix: 158,
  ExtendedEchoRequest: 160,
  ExtendedEchoReply: 161,
};

/** The largest ICMP type. */
export const MAX_ICMP_TYPE = 255;

/** The numeric ICMP type, or undefined when the name or number is not valid for the family. */
export function icmpType(type: number | string, family: 'IPv4' | 'IPv6' = 'IPv4'): number | undefined {
  const names = family === 'IPv6' ? icmpTypesV6 : icmpTypesV4;
  const n = typeof type === 'number' ? type : /^[0-9]+$/.test(type) ? Number(type) : names[type];
  return n !== undefined && Number.isInteger(n) && n >= 0 && n <= MAX_ICMP_TYPE ? n : undefined;
}
