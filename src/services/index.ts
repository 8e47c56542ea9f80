// The service table's public surface; see README.md.
export type * from './types.ts';
export * from './constants.ts';
export { buildServiceTable, serviceTable } from './table.ts';
export { serviceEntries, skipReason, sourceRanges, affinityTimeout, type SkipReason } from './service-entries.ts';
export { hostPortEntries } from './host-ports.ts';
export { endpointState, groupSlices, portBackends, type EndpointState, type ParsedBackend } from './endpoints.ts';
export { parseProtocol, resolveTargetPort, slicePortFor } from './ports.ts';
export { scopesFor, usesLocalBackends, type TrafficPolicies } from './traffic-policy.ts';
export { selectableBackends } from './selectable-backends.ts';
export { compareBackend, compareFrontend, sortByL4 } from './order.ts';
export * from './ids.ts';
