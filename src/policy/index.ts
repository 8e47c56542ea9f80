// The policy engine: pure functions and one incremental class over plain data. See README.md.
export * from './labels.ts';
export * from './selector.ts';
export * from './l4.ts';
export * from './rules.ts';
export * from './k8s.ts';
export * from './resolve.ts';
export * from './engine.ts';
