// The service load-balancing maps of bpf/lib/lb.h and lb-ct.h, typed: one handle per pinned map,
// opened from the loaded object by name (the loader calls openLbMaps).
import type { Addon } from './addon.ts';
import { BpfMap, type ValueCodec } from './bpf-map.ts';
import {
  lb4AffinityKeyCodec,
  lb4BackendCodec,
  lb4KeyCodec,
  lb4ReverseNatCodec,
  lb4ServiceCodec,
  lb4SrcRangeKeyCodec,
  lb6AffinityKeyCodec,
  lb6BackendCodec,
  lb6KeyCodec,
  lb6ReverseNatCodec,
  lb6ServiceCodec,
  lb6SrcRangeKeyCodec,
  lbAffinityMatchCodec,
  lbAffinityValCodec,
  lbCtEntryCodec,
  lbCtKeyCodec,
  u16Codec,
  u32Codec,
  u8Codec,
  type LbAffinityKey,
  type LbAffinityMatch,
  type LbAffinityVal,
  type LbBackendValue,
  type LbCtEntry,
  type LbCtKey,
  type LbKey,
  type LbReverseNat,
  type LbServiceValue,
  type LbSourceRange,
} from './codecs.ts';
import { MapName } from './constants.ts';
import type { Family } from './ip.ts';

/** The maps of one address family. */
export interface LbFamilyMaps {
  family: Family;
  services: BpfMap<LbKey, LbServiceValue>;
  backends: BpfMap<number, LbBackendValue>;
  reverseNat: BpfMap<number, LbReverseNat>;
  affinity: BpfMap<LbAffinityKey, LbAffinityVal>;
  /** rev-NAT id -> inner map (written as an fd, read back as the inner map's id) */
  maglev: BpfMap<number, number>;
  sourceRange: BpfMap<LbSourceRange, number>;
}

export interface LbMapSet {
  v4: LbFamilyMaps;
  v6: LbFamilyMaps;
  affinityMatch: BpfMap<LbAffinityMatch, number>;
  conntrack: BpfMap<LbCtKey, LbCtEntry>;
}

const innerMapFd: ValueCodec<number> = {
  encode: (fd) => u32Codec.encode(fd),
  decode: (b) => b.readUInt32LE(0), // lookups on a map of maps return the inner map id
};

export function openLbMaps(addon: Addon, fd: (name: string) => number): LbMapSet {
  const map = <K, V>(name: string, k: BpfMap<K, V>['keyCodec'], v: ValueCodec<V>) =>
    new BpfMap<K, V>(addon, fd(name), name, k, v);
  return {
    v4: {
      family: 4,
      services: map(MapName.lb4Services, lb4KeyCodec, lb4ServiceCodec),
      backends: map(MapName.lb4Backends, u32Codec, lb4BackendCodec),
      reverseNat: map(MapName.lb4ReverseNat, u16Codec, lb4ReverseNatCodec),
      affinity: map(MapName.lb4Affinity, lb4AffinityKeyCodec, lbAffinityValCodec),
      maglev: map(MapName.lb4Maglev, u16Codec, innerMapFd),
      sourceRange: map(MapName.lb4SourceRange, lb4SrcRangeKeyCodec, u8Codec),
    },
    v6: {
      family: 6,
      services: map(MapName.lb6Services, lb6KeyCodec, lb6ServiceCodec),
      backends: map(MapName.lb6Backends, u32Codec, lb6BackendCodec),
      reverseNat: map(MapName.lb6ReverseNat, u16Codec, lb6ReverseNatCodec),
      affinity: map(MapName.lb6Affinity, lb6AffinityKeyCodec, lbAffinityValCodec),
      maglev: map(MapName.lb6Maglev, u16Codec, innerMapFd),
      sourceRange: map(MapName.lb6SourceRange, lb6SrcRangeKeyCodec, u8Codec),
    },
    affinityMatch: map(MapName.lbAffinityMatch, lbAffinityMatchCodec, u8Codec),
    conntrack: map(MapName.lbConntrack, lbCtKeyCodec, lbCtEntryCodec),
  };
}

/** Every LB map, for map statistics. */
export function allLbMaps(set: LbMapSet): Array<BpfMap<unknown, unknown>> {
  const fam = (f: LbFamilyMaps) => [f.services, f.backends, f.reverseNat, f.affinity, f.maglev, f.sourceRange];
  return [...fam(set.v4), ...fam(set.v6), set.affinityMatch, set.conntrack] as Array<BpfMap<unknown, unknown>>;
}
