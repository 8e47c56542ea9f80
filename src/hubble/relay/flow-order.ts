// How the relay orders what several agents answered to one GetFlows (pure): by the time of each
// response, and, without --follow, the request's count applied to the merged answer, so that
// `--last N` is the newest N flows of the whole cluster, not N per node.
import { timestampNs } from '../flow.ts';
import type { GetFlowsResponse } from '../printer.ts';

/** The moment a response stands for: its flow's time, else the envelope's. */
export function responseTimeNs(r: GetFlowsResponse): number {
  return timestampNs(r.flow?.time ?? r.time);
}

export interface CountRequest {
  number?: number;
  first?: boolean;
  since?: unknown;
}

/**
 * The nodes' answers to one request → what the relay sends: all of them in time order; with a
 * count, the first N flows (`first`, or a `since` window, which each agent counts from its start)
 * or the last N. Lost events inside the kept span stay; node status events are the caller's.
 */
export function mergeSnapshot(answers: readonly GetFlowsResponse[][], req: CountRequest): GetFlowsResponse[] {
  const merged = answers.flat().sort((a, b) => responseTimeNs(a) - responseTimeNs(b));
  const n = Number(req.number ?? 0);
  if (!n) return merged;
  const flowsAt = merged.flatMap((r, i) => (r.flow ? [i] : []));
  if (flowsAt.length <= n) return merged;
  if (req.first || req.since) return merged.slice(0, flowsAt[n - 1]! + 1);
  return merged.slice(flowsAt[flowsAt.length - n]);
}
