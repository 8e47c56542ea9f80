// Conntrack garbage collection from the agent, as Cilium's CT GC does: the datapath only
// stamps last_seen and the TCP flags seen; expiry is decided here. bpf_ktime_get_ns and
// process.hrtime.bigint() both read CLOCK_MONOTONIC, so they compare directly.
import type { BpfMap } from './bpf-map.ts';
import type { CtEntry, CtKey } from './codecs.ts';
import { IpProto } from './constants.ts';

const SEC = 1_000_000_000n;

/** Cilium's default lifetimes. */
export const defaultCtTimeouts = {
  tcpEstablishedNs: 21_600n * SEC, // 6 h
  tcpSynNs: 60n * SEC, // no ACK seen yet
  tcpClosingNs: 10n * SEC, // FIN or RST seen
  otherNs: 60n * SEC, // UDP, ICMP, ...
};
export type CtTimeouts = typeof defaultCtTimeouts;

const FIN = 0x01,
  RST = 0x04,
  ACK = 0x10;

export function ctLifetime(key: CtKey, entry: CtEntry, t: CtTimeouts = defaultCtTimeouts): bigint {
  if (key.protocol !== IpProto.TCP) return t.otherNs;
  if (entry.tcpFlagsSeen & (FIN | RST)) return t.tcpClosingNs;
  if (!(entry.tcpFlagsSeen & ACK)) return t.tcpSynNs;
  return t.tcpEstablishedNs;
}

export function gcConntrack(
  map: BpfMap<CtKey, CtEntry>,
  opts: { now?: bigint; timeouts?: CtTimeouts } = {},
): { scanned: number; deleted: number } {
  const now = opts.now ?? process.hrtime.bigint();
  const expired: Buffer[] = [];
  const entries = map.rawEntries();
  for (const [kb, vb] of entries) {
    const key = map.keyCodec.decode(kb),
      entry = map.valueCodec.decode(vb);
    if (now - entry.lastSeen > ctLifetime(key, entry, opts.timeouts)) expired.push(kb);
  }
  map.deleteRaw(expired);
  return { scanned: entries.length, deleted: expired.length };
}
