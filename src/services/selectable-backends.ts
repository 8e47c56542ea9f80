// Which backends a NEW flow may pick — the one rule the datapath writer, `service list` and
// `policy explain` share (kube-proxy's graceful termination, as Cilium's maps carry it):
// - the active backends, if the frontend has any;
// - otherwise its terminating (serving) backends, so a Service whose pods all roll keeps answering;
// - otherwise none: the flow is dropped / refused, never sent elsewhere.
// Terminating backends stay listed in the entry either way, so established flows (conntrack, socket-LB
// cookies, affinity) keep reaching them until the endpoint disappears from its slice.
import type { Backend } from './types.ts';

export function selectableBackends(backends: readonly Backend[]): Backend[] {
  const active = backends.filter((b) => b.state === 'active');
  if (active.length > 0) return active;
  return backends.filter((b) => b.state === 'terminating');
}
