// From kernel events to Hubble flows: the agent drains the datapath's ring buffer on the event
// loop, names both ends (pod, namespace, identity labels), asks the policy engine which rules
// decided (the same evaluation the datapath made, so the answer matches the verdict), and pushes
// the flow into the node's ring behind the Hubble-compatible observer API. Events the kernel ring
// had no room for are reported as lost. A packet translated to a Service's backend carries the
// Service's rev-NAT id: the flow shows the backend's address and names the Service
// (destination_service), as Hubble does with Cilium's kube-proxy replacement.
import type { NativeRingBuffer } from '../datapath/addon.ts';
import { flowEventCodec, type FlowEvent } from '../datapath/codecs.ts';
import { DropReason, IpProto } from '../datapath/constants.ts';
import { evaluate, formatLabelSet, type PolicyRef, type RuleRef } from '../policy/index.ts';
import { FlowRing } from '../hubble/flow-ring.ts';
import { flowFromEvent, type EndpointInfo, type Flow } from '../hubble/flow.ts';
import { dropReasonName } from '../hubble/proto.ts';
import type { PeerNotifier } from '../hubble/peer-service.ts';
import { flowsRate, startHubbleServer, type HubbleServer } from '../hubble/server.ts';
import type { LxcDatapath } from '../datapath/loader.ts';
import type { EndpointSource, FlowStats, PolicyView, ServiceSource } from './types.ts';

/** "CiliumNetworkPolicy/ns/name spec.ingress[0]": the form Hubble flows carry (src/hubble/flow.ts). */
export function ruleText(r: RuleRef): string {
  if (r.kind === 'Implicit') return `Implicit/${r.name}`;
  return `${r.kind}/${r.namespace ? `${r.namespace}/` : ''}${r.name} ${r.rule}.${r.section}[${r.index}]`;
}

function policyText(p: PolicyRef, direction: string): string {
  return `${p.kind}/${p.namespace ? `${p.namespace}/` : ''}${p.name} ${direction}-default-deny`;
}

export interface FlowPipelineOptions {
  capacity?: number;
  /** where the observer API listens ("127.0.0.1:4245", a unix socket path); undefined = no server */
  listen?: string;
  /** how often the kernel's lost-event counter is read */
  lostPollMs?: number;
  /** also serve Hubble's peer service (Relay's discovery of the agents) beside the observer API */
  peers?: PeerNotifier;
}

/** What the pipeline reads: the kernel's ring, the endpoints that name both ends, the engine. */
export interface FlowSources {
  nodeName: string;
  datapath: Pick<LxcDatapath, 'addon' | 'maps' | 'eventsLost'>;
  endpoints: () => EndpointSource | undefined;
  engine: Pick<PolicyView, 'policyOf' | 'identities'>;
  /** names the Service of a translated flow; undefined without kube-proxy replacement */
  services?: () => Pick<ServiceSource, 'serviceByRevNat' | 'serviceByFrontend'> | undefined;
}

type NamedService = { namespace: string; name: string };
const L4_NAMES: Record<number, string> = { [IpProto.TCP]: 'TCP', [IpProto.UDP]: 'UDP', 132: 'SCTP' };

export class FlowPipeline {
  readonly ring: FlowRing;
  server?: HubbleServer;
  readonly #src: FlowSources;
  #rb: NativeRingBuffer | undefined;
  #lostSeen = 0;
  #timer: NodeJS.Timeout | undefined;
  /** flows by verdict, for metrics */
  readonly processed = new Map<string, number>();

  constructor(sources: FlowSources, opts: FlowPipelineOptions = {}) {
    this.#src = sources;
    this.ring = new FlowRing(opts.capacity ?? 4095);
  }

  async start(opts: FlowPipelineOptions = {}): Promise<void> {
    const dp = this.#src.datapath;
    this.#lostSeen = dp.eventsLost();
    this.#rb = new dp.addon.RingBuffer(dp.maps.eventsFd, (rec) => this.#onRecord(rec));
    this.#rb.unref();
    this.#timer = setInterval(() => this.#pollLost(), opts.lostPollMs ?? 1000);
    this.#timer.unref();
    if (opts.listen)
      this.server = await startHubbleServer({
        ring: this.ring,
        nodeName: this.#src.nodeName,
        listen: opts.listen,
        ...(opts.peers ? { peers: opts.peers } : {}),
      });
  }

  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#rb?.close();
    this.#rb = undefined;
    await this.server?.stop();
  }

  /** Reads what the kernel has queued now (tests; the event loop does it on its own). */
  drain(): void {
    this.#rb?.consume();
    this.#pollLost();
  }

  stats(): FlowStats {
    return { ...this.ring.stats(), address: this.server?.address ?? null, rate: flowsRate(this.ring) };
  }

  #pollLost(): void {
    const now = this.#src.datapath.eventsLost();
    if (now > this.#lostSeen) this.ring.recordLost(now - this.#lostSeen);
    this.#lostSeen = now;
  }

  #onRecord(rec: Buffer): void {
    let ev: FlowEvent;
    try {
      ev = flowEventCodec.decode(rec);
    } catch {
      return; // a record of another layout (an older object still attached): not ours to read
    }
    const flow = this.toFlow(ev);
    this.ring.push(flow);
    const v = flow.verdict ?? 'VERDICT_UNKNOWN';
    this.processed.set(v, (this.processed.get(v) ?? 0) + 1);
  }

  toFlow(ev: FlowEvent): Flow {
    const flow = flowFromEvent(ev, {
      nodeName: this.#src.nodeName,
      endpoint: (identity, ip) => this.#endpointInfo(identity, ip),
      rules: this.#decidingRules(ev),
      dropReasonName,
    });
    const { destination, source } = this.#servicesOf(ev);
    if (destination) flow.destination_service = destination;
    if (source) flow.source_service = source;
    return flow;
  }

  /**
   * The Service a flow went to: by the rev-NAT id of a translated packet, else by the destination
   * when it is still a frontend (a packet dropped for want of a backend). The Service it came from:
   * a source that is a frontend (a reply already translated back).
   */
  #servicesOf(ev: FlowEvent): { destination?: NamedService; source?: NamedService } {
    const services = this.#src.services?.();
    const proto = L4_NAMES[ev.protocol];
    if (!services || !proto) return {};
    const named = (s: NamedService | undefined): NamedService | undefined =>
      s?.name ? { namespace: s.namespace, name: s.name } : undefined;
    const destination = named(
      ev.revNatId ? services.serviceByRevNat(ev.revNatId) : services.serviceByFrontend(ev.daddr, ev.dport, proto),
    );
    const source = named(services.serviceByFrontend(ev.saddr, ev.sport, proto));
    return { ...(destination ? { destination } : {}), ...(source ? { source } : {}) };
  }

  #endpointInfo(identity: number, ip: string): EndpointInfo | undefined {
    const eps = this.#src.endpoints();
    const local = eps?.localEndpoints().find((e) => e.ip === ip);
    if (local) return { id: local.id, namespace: local.namespace, podName: local.pod, labels: local.labels };
    const remote = eps?.remoteEndpointByIp(ip);
    const labels = this.#src.engine.identities().get(identity);
    if (remote)
      return {
        namespace: remote.namespace,
        podName: remote.name,
        ...(labels ? { labels: formatLabelSet(labels) } : {}),
      };
    return labels ? { labels: formatLabelSet(labels) } : undefined;
  }

  /** The rules behind the verdict, as the endpoint's policy says (what the datapath looked up). */
  #decidingRules(ev: FlowEvent): string[] {
    const policy = this.#src.engine.policyOf(ev.epId);
    if (!policy) return [];
    const peer = ev.direction === 'ingress' ? ev.srcIdentity : ev.dstIdentity;
    const icmp = ev.protocol === IpProto.ICMP || ev.protocol === IpProto.ICMPV6;
    const d = evaluate(policy, ev.direction, peer, ev.protocol, icmp ? ev.icmpType : ev.dport);
    if (ev.verdict === 2) {
      if (ev.dropReason === DropReason.POLICY_DENY) return d.verdict === 'denied' ? d.rules.map(ruleText) : [];
      if (ev.dropReason === DropReason.POLICY)
        return d.verdict === 'default-denied' ? d.policies.map((p) => policyText(p, ev.direction)) : [];
      return [];
    }
    return d.verdict === 'allowed' ? d.rules.map(ruleText) : [];
  }
}
