// The agent's CNI server: answers the plugin's requests on a unix socket and owns the node's
// pod attachments — address and endpoint id (persisted), veth pair, routes, the datapath
// programs on the host veth and the endpoint's entries in cilium_lxc / cilium_lxc_ip. What an
// endpoint *is* beyond that (identity, policy, CiliumEndpoint) belongs to the agent, which plugs
// in through EndpointHooks; ADD answers only once onEndpointAdded has resolved, so an agent that
// waits there for the first regeneration makes ADD "wait for the endpoint to be ready".
//
// Requests for one attachment are handled one at a time, different attachments concurrently.
import { createServer, type Server, type Socket } from 'node:net';
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { ifindexOf, type LxcDatapath } from '../../datapath/loader.ts';
import { EnforcementMode } from '../../datapath/constants.ts';
import { logger, type Logger } from '../../lib/log.ts';
import {
  attachmentKey,
  EndpointStateFile,
  freeAddressCount,
  nextFreeEndpointId,
  nextFreeIp,
  podCidrInfo,
  requestedIpProblem,
  type EndpointRecord,
  type EndpointState,
  type PodCidrInfo,
} from '../endpoint-state.ts';
import {
  checkVeth,
  ensureVeth,
  hostIfnameFor,
  linkExists,
  macsFor,
  removeVeth,
  type VethSpec,
} from '../endpoint-net.ts';
import { ReservedIdentity } from '../../policy/api/index.ts';
import {
  CniError,
  CniErrorCode,
  DEFAULT_SOCKET_PATH,
  toErrorBody,
  type CniRequest,
  type CniResponse,
  type CniResult,
} from './protocol.ts';

/** Cilium's reserved identity "init": an endpoint whose labels are not resolved yet. */
export const IDENTITY_INIT = ReservedIdentity.INIT;

/** What the agent learns about a new or removed pod attachment. */
export interface EndpointEvent {
  containerId: string;
  namespace: string;
  podName: string;
  podUid?: string;
  ifname: string;
  netns: string;
  ip: string;
  hostIfindex: number;
  hostIfname: string;
  podMac: string;
  hostMac: string;
  epId: number;
}

/** How the endpoint's cilium_lxc entry should read (identity, enforcement). */
export interface EndpointDatapathSettings {
  identity: number;
  /** EndpointFlags bits */
  flags: number;
  /** EnforcementMode */
  mode: number;
}

export interface EndpointHooks {
  /** After the attachment is plumbed and the programs attached. Throwing fails the ADD (and
   * undoes it). Returning settings writes them into cilium_lxc; else the entry keeps what it
   * had (identity init, no enforcement, for a new endpoint). Called again on a repeated ADD. */
  onEndpointAdded?(ep: EndpointEvent): Promise<EndpointDatapathSettings | void> | EndpointDatapathSettings | void;
  /** Before the attachment is removed (DEL, GC, or found gone at restart). Errors are logged;
   * DEL goes on regardless. */
  onEndpointDeleted?(ep: EndpointEvent): Promise<void> | void;
}

export interface CniServerOptions {
  datapath: LxcDatapath;
  /** the node's pod CIDR (from its CiliumNode); unset = not ready: ADD says try again later */
  podCidr?: string;
  /** the persisted allocations, e.g. /var/run/cilium-ts/state/endpoints.json */
  stateFile: string;
  socketPath?: string;
  hooks?: EndpointHooks;
  mtu?: number;
  log?: Logger;
}

function eventOf(r: EndpointRecord): EndpointEvent {
  return {
    containerId: r.containerId,
    namespace: r.namespace,
    podName: r.podName,
    ...(r.podUid ? { podUid: r.podUid } : {}),
    ifname: r.ifname,
    netns: r.netns,
    ip: r.ip,
    hostIfindex: r.hostIfindex,
    hostIfname: r.hostIfname,
    podMac: r.podMac,
    hostMac: r.hostMac,
    epId: r.epId,
  };
}

export class CniServer {
  readonly socketPath: string;
  private readonly dp: LxcDatapath;
  private readonly store: EndpointStateFile;
  private readonly hooks: EndpointHooks;
  private readonly mtu: number | undefined;
  private readonly log: Logger;
  private state: EndpointState;
  private cidr: PodCidrInfo | undefined;
  private server: Server | undefined;
  private readonly locks = new Map<string, Promise<unknown>>();
  private readonly inFlight = new Set<Promise<unknown>>();

  private constructor(opts: CniServerOptions) {
    this.dp = opts.datapath;
    this.store = new EndpointStateFile(opts.stateFile);
    this.hooks = opts.hooks ?? {};
    this.mtu = opts.mtu;
    this.log = opts.log ?? logger('cni');
    this.socketPath = opts.socketPath ?? DEFAULT_SOCKET_PATH;
    this.cidr = opts.podCidr ? podCidrInfo(opts.podCidr) : undefined;
    this.state = this.store.load(opts.podCidr ?? '');
  }

  /** Restores the persisted endpoints (re-attaching programs, dropping attachments whose veth
   * is gone), then listens. */
  static async start(opts: CniServerOptions): Promise<CniServer> {
    const s = new CniServer(opts);
    await s.restore();
    await s.listen();
    return s;
  }

  /** The endpoints this node has, as ADD left them (for the agent to rebuild its view on restart). */
  endpoints(): EndpointRecord[] {
    return Object.values(this.state.endpoints).map((e) => ({ ...e }));
  }

  /** The node's pod CIDR arrived or changed; addresses already handed out stay. */
  setPodCidr(cidr: string): void {
    this.cidr = podCidrInfo(cidr);
    this.state.podCidr = cidr;
  }

  /** One request, as the socket delivers it; usable in-process too. */
  handle(req: CniRequest): Promise<CniResponse> {
    const run = async (): Promise<CniResponse> => {
      const started = Date.now();
      const ctx = { containerId: req.containerId, namespace: req.args.K8S_POD_NAMESPACE, name: req.args.K8S_POD_NAME };
      try {
        const result = await this.dispatch(req);
        this.log.info(`${req.command} done`, { ...ctx, ms: Date.now() - started });
        return result === undefined ? { ok: true } : { ok: true, result };
      } catch (e) {
        const error = toErrorBody(e);
        this.log.warn(`${req.command} failed`, { ...ctx, ...error });
        return { ok: false, error };
      }
    };
    const perAttachment = req.command === 'ADD' || req.command === 'DEL' || req.command === 'CHECK';
    const p = perAttachment ? this.withLock(attachmentKey(req.containerId, req.ifname), run) : run();
    this.inFlight.add(p);
    void p.finally(() => this.inFlight.delete(p));
    return p;
  }

  async stop(): Promise<void> {
    const srv = this.server;
    this.server = undefined;
    if (srv) await new Promise<void>((resolve) => srv.close(() => resolve()));
    await Promise.allSettled([...this.inFlight]);
    rmSync(this.socketPath, { force: true });
  }

  /**
   * Requests for one attachment run one after the other; different attachments run side by
   * side (a slow onEndpointAdded for one pod does not hold up the others). Allocation and the
   * state file need no lock of their own: each is synchronous, between two awaits.
   */
  private withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.locks.get(key) ?? Promise.resolve()).then(fn, fn);
    const tail = next.catch(() => undefined);
    this.locks.set(key, tail);
    void tail.then(() => {
      if (this.locks.get(key) === tail) this.locks.delete(key);
    });
    return next;
  }

  private async listen(): Promise<void> {
    mkdirSync(dirname(this.socketPath), { recursive: true });
    rmSync(this.socketPath, { force: true }); // a dead agent's socket
    const srv = createServer({ allowHalfOpen: true }, (sock) => this.serve(sock));
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(this.socketPath, () => resolve());
    });
    chmodSync(this.socketPath, 0o600);
    this.server = srv;
  }

  private serve(sock: Socket): void {
    let buf = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      buf += d;
    });
    sock.on('error', (e) => this.log.warn('CNI connection error', { error: e.message }));
    sock.on('end', () => {
      let req: CniRequest;
      try {
        req = JSON.parse(buf) as CniRequest;
        if (typeof req?.command !== 'string' || typeof req.config !== 'object') throw new Error('not a CNI request');
        req.args ??= {};
      } catch (e) {
        sock.end(
          JSON.stringify({
            ok: false,
            error: {
              code: CniErrorCode.DECODE_FAILURE,
              msg: 'the request is not a CNI request',
              details: (e as Error).message,
            },
          }),
        );
        return;
      }
      void this.handle(req).then((res) => sock.end(JSON.stringify(res)));
    });
  }

  private dispatch(req: CniRequest): Promise<CniResult | undefined> {
    switch (req.command) {
      case 'ADD':
        return this.add(req);
      case 'DEL':
        return this.del(req.containerId, req.ifname).then(() => undefined);
      case 'CHECK':
        return this.check(req).then(() => undefined);
      case 'STATUS':
        return Promise.resolve(this.status()).then(() => undefined);
      case 'GC':
        return this.gc(req).then(() => undefined);
      default:
        throw new CniError(
          CniErrorCode.INVALID_ENV,
          `unknown command ${String((req as { command: unknown }).command)}`,
        );
    }
  }

  private save(): void {
    this.store.save(this.state);
  }

  private vethSpec(r: EndpointRecord, cidr: PodCidrInfo): VethSpec {
    return {
      hostIfname: r.hostIfname,
      netns: r.netns,
      ifname: r.ifname,
      ip: r.ip,
      routerIp: cidr.routerIp,
      podMac: r.podMac,
      hostMac: r.hostMac,
      ...(this.mtu ? { mtu: this.mtu } : {}),
    };
  }

  private requireCidr(): PodCidrInfo {
    if (!this.cidr)
      throw new CniError(
        CniErrorCode.TRY_AGAIN_LATER,
        'the agent has no pod CIDR for this node yet (waiting for its CiliumNode)',
      );
    return this.cidr;
  }

  private async add(req: CniRequest): Promise<CniResult> {
    const cidr = this.requireCidr();
    const key = attachmentKey(req.containerId, req.ifname);
    const existing = this.state.endpoints[key];
    let rec: EndpointRecord;
    if (existing) {
      rec = existing;
      rec.netns = req.netns;
    } else {
      const wanted = req.args.IP?.split('/')[0];
      const problem = wanted ? requestedIpProblem(this.state, cidr, wanted) : undefined;
      if (problem) throw new CniError(CniErrorCode.INVALID_CONFIG, problem);
      const ip = wanted ?? nextFreeIp(this.state, cidr);
      if (!ip) throw new CniError(CniErrorCode.IPAM_EXHAUSTED, `the pod CIDR ${cidr.cidr} has no free address`);
      const epId = nextFreeEndpointId(this.state);
      if (epId === undefined) throw new CniError(CniErrorCode.IPAM_EXHAUSTED, 'no free endpoint id on this node');
      rec = {
        containerId: req.containerId,
        ifname: req.ifname,
        netns: req.netns,
        namespace: req.args.K8S_POD_NAMESPACE ?? '',
        podName: req.args.K8S_POD_NAME ?? '',
        ...(req.args.K8S_POD_UID ? { podUid: req.args.K8S_POD_UID } : {}),
        ip,
        epId,
        hostIfname: hostIfnameFor(req.containerId, req.ifname),
        hostIfindex: 0,
        ...macsFor(req.containerId, req.ifname),
        createdAt: new Date().toISOString(),
      };
      // Recorded before the kernel is touched: a crash mid-ADD leaves a record that DEL cleans.
      this.state.endpoints[key] = rec;
      this.state.lastIp = ip;
      this.save();
    }
    try {
      const { hostIfindex } = await ensureVeth(this.vethSpec(rec, cidr));
      if (rec.hostIfindex !== hostIfindex) {
        if (rec.hostIfindex) this.dp.maps.endpoints.delete(rec.hostIfindex);
        rec.hostIfindex = hostIfindex;
        this.save();
      }
      this.writeDatapath(rec);
      let settings: EndpointDatapathSettings | void;
      try {
        settings = await this.hooks.onEndpointAdded?.(eventOf(rec));
      } catch (e) {
        if (e instanceof CniError) throw e;
        throw new CniError(
          CniErrorCode.ENDPOINT_SETUP,
          `the agent could not set up endpoint ${rec.epId} for ${rec.namespace}/${rec.podName}`,
          e instanceof Error ? e.message : String(e),
        );
      }
      if (settings) this.writeDatapath(rec, settings);
    } catch (e) {
      if (!existing) await this.undo(rec, false);
      throw e;
    }
    return {
      interfaces: [
        { name: rec.hostIfname, mac: rec.hostMac },
        { name: rec.ifname, mac: rec.podMac, sandbox: rec.netns },
      ],
      ips: [{ address: `${rec.ip}/32`, gateway: cidr.routerIp, interface: 1 }],
      routes: [{ dst: '0.0.0.0/0', gw: cidr.routerIp }],
    };
  }

  /** Attaches the programs and writes cilium_lxc / cilium_lxc_ip; settings absent → keep the
   * entry's identity and enforcement (init / none for a new endpoint). */
  private writeDatapath(rec: EndpointRecord, settings?: EndpointDatapathSettings): void {
    this.dp.attach(rec.hostIfindex);
    const cur = this.dp.maps.endpoints.lookup(rec.hostIfindex);
    const keep = cur && cur.epId === rec.epId ? cur : undefined;
    this.dp.maps.endpoints.update(rec.hostIfindex, {
      epId: rec.epId,
      identity: settings?.identity ?? keep?.identity ?? IDENTITY_INIT,
      flags: settings?.flags ?? keep?.flags ?? 0,
      mode: settings?.mode ?? keep?.mode ?? EnforcementMode.DEFAULT,
      mac: rec.podMac,
      nodeMac: rec.hostMac,
    });
    this.dp.maps.endpointsByIp.update(rec.ip, rec.hostIfindex);
  }

  /** Removes everything an attachment has; the hook is told first when `notify`. */
  private async undo(rec: EndpointRecord, notify: boolean): Promise<void> {
    if (notify) {
      try {
        await this.hooks.onEndpointDeleted?.(eventOf(rec));
      } catch (e) {
        this.log.error('onEndpointDeleted failed; removing the endpoint anyway', {
          containerId: rec.containerId,
          error: (e as Error).message,
        });
      }
    }
    if (this.dp.maps.endpointsByIp.lookup(rec.ip) === rec.hostIfindex) this.dp.maps.endpointsByIp.delete(rec.ip);
    if (rec.hostIfindex && this.dp.maps.endpoints.lookup(rec.hostIfindex)?.epId === rec.epId)
      this.dp.maps.endpoints.delete(rec.hostIfindex);
    this.dp.deleteEndpointPolicy(rec.epId);
    await removeVeth(rec.hostIfname);
    delete this.state.endpoints[attachmentKey(rec.containerId, rec.ifname)];
    this.save();
  }

  private async del(containerId: string, ifname: string): Promise<void> {
    const rec = this.state.endpoints[attachmentKey(containerId, ifname)];
    if (rec) return this.undo(rec, true);
    // Unknown to us (never added, or already deleted): only a leftover veth may remain.
    await removeVeth(hostIfnameFor(containerId, ifname));
  }

  private async check(req: CniRequest): Promise<void> {
    const cidr = this.requireCidr();
    const rec = this.state.endpoints[attachmentKey(req.containerId, req.ifname)];
    if (!rec)
      throw new CniError(
        CniErrorCode.UNKNOWN_CONTAINER,
        `no endpoint for container ${req.containerId} interface ${req.ifname}`,
      );
    const problems: string[] = [];
    if (rec.netns !== req.netns) problems.push(`the endpoint was added in ${rec.netns}, not ${req.netns}`);
    const prevIps = req.config.prevResult?.ips?.map((i) => i.address) ?? [];
    if (req.config.prevResult && !prevIps.includes(`${rec.ip}/32`))
      problems.push(`prevResult has ${prevIps.join(', ') || 'no address'}, the endpoint has ${rec.ip}/32`);
    problems.push(...(await checkVeth(this.vethSpec(rec, cidr))));
    if (problems.length === 0) {
      if (
        this.dp.addon.tcQuery(rec.hostIfindex, 'ingress', 1, 1) === null ||
        this.dp.addon.tcQuery(rec.hostIfindex, 'egress', 1, 1) === null
      ) {
        problems.push(`the datapath programs are not attached to ${rec.hostIfname}`);
      }
      if (this.dp.maps.endpoints.lookup(rec.hostIfindex)?.epId !== rec.epId)
        problems.push(`cilium_lxc has no entry for endpoint ${rec.epId}`);
      if (this.dp.maps.endpointsByIp.lookup(rec.ip) !== rec.hostIfindex)
        problems.push(`cilium_lxc_ip has no entry for ${rec.ip}`);
    }
    if (problems.length)
      throw new CniError(
        CniErrorCode.CHECK_FAILED,
        `endpoint ${rec.epId} (${rec.namespace}/${rec.podName}) is not as ADD left it`,
        problems.join('; '),
      );
  }

  private status(): void {
    if (!this.cidr) throw new CniError(CniErrorCode.NOT_AVAILABLE, 'the agent has no pod CIDR for this node yet');
    if (freeAddressCount(this.state, this.cidr) === 0)
      throw new CniError(CniErrorCode.NOT_AVAILABLE, `the pod CIDR ${this.cidr.cidr} is full`);
  }

  private async gc(req: CniRequest): Promise<void> {
    const valid = new Set(
      (req.config['cni.dev/valid-attachments'] ?? []).map((a) => attachmentKey(a.containerID, a.ifname)),
    );
    for (const [key, rec] of Object.entries(this.state.endpoints)) {
      if (valid.has(key)) continue;
      this.log.info('GC removes an attachment the runtime no longer has', {
        containerId: rec.containerId,
        namespace: rec.namespace,
        name: rec.podName,
      });
      await this.withLock(key, () => this.del(rec.containerId, rec.ifname));
    }
  }

  /** After a restart: endpoints whose veth survived get their programs and entries back;
   * those whose veth is gone (pod namespace deleted while we were down) are released. */
  private async restore(): Promise<void> {
    for (const rec of Object.values(this.state.endpoints)) {
      const alive = rec.hostIfindex > 0 && linkExists(rec.hostIfname);
      if (alive) {
        const ifindex = ifindexOf(rec.hostIfname);
        if (ifindex !== rec.hostIfindex) rec.hostIfindex = ifindex;
        this.writeDatapath(rec);
        continue;
      }
      this.log.info('releasing an endpoint whose veth is gone', {
        containerId: rec.containerId,
        namespace: rec.namespace,
        name: rec.podName,
        ip: rec.ip,
      });
      await this.undo(rec, true);
    }
    this.save();
    this.log.info('CNI state restored', {
      endpoints: Object.keys(this.state.endpoints).length,
      podCidr: this.state.podCidr,
    });
  }
}
