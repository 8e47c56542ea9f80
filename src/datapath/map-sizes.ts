// Map sizes chosen at load time (Cilium's --bpf-lb-map-max) without rebuilding the objects: a map
// to be created at another size than the object declares is created here and handed to libbpf as a
// reused map (bpf_map__reuse_fd takes its size), and libbpf pins it as usual. An object loaded later
// that shares a pinned map (bpf_sock, bpf_host) adopts the pinned map's size the same way.
//
// A map already pinned at another size than the one asked for is refused, not recreated: the
// programs attached on pod veths and cgroups keep using the pinned map, so replacing it under them
// would split the datapath between two maps. The error says how to resolve it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Addon, MapDesc } from './addon.ts';
import { MapName } from './constants.ts';

/** Cilium's default --bpf-lb-map-max. */
export const DEFAULT_LB_MAP_MAX = 65536;

/** The maps --bpf-lb-map-max sizes: services, backends, reverse NAT and affinity (both families). */
export const LB_SIZED_MAPS: readonly string[] = [
  MapName.lb4Services,
  MapName.lb6Services,
  MapName.lb4Backends,
  MapName.lb6Backends,
  MapName.lb4ReverseNat,
  MapName.lb6ReverseNat,
  MapName.lb4Affinity,
  MapName.lb6Affinity,
];

export function lbMapSizes(max: number): Record<string, number> {
  if (!Number.isInteger(max) || max < 1 || max > 0x7fffffff) {
    throw new RangeError(`--bpf-lb-map-max ${max} is not a positive integer`);
  }
  return Object.fromEntries(LB_SIZED_MAPS.map((n) => [n, max]));
}

/** Maps handed to libbpf for one object load; close() after load (libbpf holds its own fds). */
export interface SizedMaps {
  reuseMaps: Record<string, number>;
  close(): void;
}

/**
 * The reuseMaps for loading `objectPath` under `pinRoot`: maps of `sizes` created at that size (or
 * taken from their pin when it has that size), and any other pinned map of the object whose size
 * differs from the object's declaration taken from its pin (LB maps only: another map's size
 * mismatch stays libbpf's error).
 */
export function sizedMaps(
  addon: Addon,
  objectPath: string,
  pinRoot: string,
  sizes: Readonly<Record<string, number>> = {},
  flag = '--bpf-lb-map-max',
): SizedMaps {
  const probe = new addon.BpfObject(objectPath);
  let declared: MapDesc[];
  try {
    declared = probe.maps();
  } finally {
    probe.close();
  }
  const fds: Record<string, number> = {};
  const close = () => {
    for (const [name, fd] of Object.entries(fds)) {
      addon.closeFd(fd);
      delete fds[name]; // close() may run twice (after load, and on an error path)
    }
  };
  try {
    for (const m of declared) {
      const want = sizes[m.name];
      const pin = join(pinRoot, m.name);
      if (existsSync(pin)) {
        const fd = addon.objGet(pin);
        const have = addon.mapInfo(fd).maxEntries;
        if (want !== undefined && have !== want) {
          addon.closeFd(fd);
          throw new Error(
            `map ${m.name} is pinned at ${pin} with ${have} entries but ${flag} asks for ${want}: ` +
              `start with ${flag} ${have}, or remove the pinned maps (the agent's service state restarts empty)`,
          );
        }
        if (have !== m.maxEntries && LB_SIZED_MAPS.includes(m.name)) fds[m.name] = fd;
        else addon.closeFd(fd);
      } else if (want !== undefined && want !== m.maxEntries) {
        fds[m.name] = addon.mapCreate({
          type: m.type,
          keySize: m.keySize,
          valueSize: m.valueSize,
          maxEntries: want,
          flags: m.flags,
          name: m.name.slice(0, 15),
        });
      }
    }
  } catch (e) {
    close();
    throw e;
  }
  return { reuseMaps: fds, close };
}
