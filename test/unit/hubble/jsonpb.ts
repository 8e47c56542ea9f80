// What `-o json` prints for a GetFlowsResponse (proto3's JSON mapping with the .proto field names,
// as `hubble observe` and `cilium-ts observe` write it), as far as the tests read it. Not the
// decoded message: times are RFC 3339 strings, enums their names, default values left out.

export interface JsonPort {
  source_port: number;
  destination_port?: number;
  flags?: Record<string, boolean>;
}

export interface JsonEndpoint {
  identity?: number;
  namespace?: string;
  pod_name?: string;
  labels?: string[];
}

export interface JsonPolicy {
  kind: string;
  name: string;
  namespace?: string;
  labels?: string[];
}

export interface JsonFlow {
  time: string;
  verdict: string;
  drop_reason_desc?: string;
  is_reply?: boolean;
  l4: { TCP?: JsonPort; UDP?: JsonPort };
  source: JsonEndpoint;
  destination: JsonEndpoint;
  ingress_denied_by?: JsonPolicy[];
}

export interface JsonFlowsResponse {
  time: string;
  node_name: string;
  flow: JsonFlow;
}

/** One line of `observe -o json` output. */
export function parseFlowsResponse(line: string): JsonFlowsResponse {
  return JSON.parse(line) as JsonFlowsResponse;
}
