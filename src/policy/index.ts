// The policy engine: pure functions and one incremental class over plain data, speaking the
// vocabulary of ./api. Kernel encoding is src/datapath/policy-encoding.ts. See README.md.
export * from './api/index.ts';
export * from './labels.ts';
export * from './selector.ts';
export * from './l4.ts';
export * from './rules.ts';
export * from './k8s.ts';
export * from './resolve.ts';
export * from './engine.ts';
