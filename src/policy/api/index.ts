// The policy language (Cilium's pkg/policy/api): the names and numbers shared by the validators
// (src/webhooks), the engine (src/policy), the datapath and Hubble. It imports nothing.
export * from './directions.ts';
export * from './entities.ts';
export * from './identities.ts';
export * from './kinds.ts';
export * from './label-keys.ts';
export * from './label-sources.ts';
export * from './ports.ts';
export * from './protocols.ts';
