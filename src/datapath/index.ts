export * from './addon.ts';
export * from './bpf-map.ts';
export * from './codecs.ts';
export * from './conntrack-gc.ts';
export * from './constants.ts';
export * from './ip.ts';
export * from './loader.ts';
export * from './map-sync.ts';
