// The CNI contract, shared by the plugin executable and the agent's CNI server: the spec's
// error codes, the network configuration, the request the plugin forwards over the agent's unix
// socket, and the result in the shape of each cniVersion. Pure: no I/O here, so the plugin
// starts fast and all of it is unit-tested.
//
// Spec: https://github.com/containernetworking/cni/blob/main/SPEC.md (1.0.0, 1.1.0).

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];
export const LATEST_VERSION: CniVersion = '1.1.0';

export const DEFAULT_SOCKET_PATH = '/var/run/cilium-ts/cni.sock';
export const PLUGIN_TYPE = 'cilium-ts-cni';

/** The spec's well-known error codes (0-99); 100+ are ours. */
export const CniErrorCode = {
  INCOMPATIBLE_VERSION: 1,
  UNSUPPORTED_FIELD: 2,
  UNKNOWN_CONTAINER: 3,
  INVALID_ENV: 4,
  IO_FAILURE: 5,
  DECODE_FAILURE: 6,
  INVALID_CONFIG: 7,
  TRY_AGAIN_LATER: 11,
  NOT_AVAILABLE: 50,
  LIMITED_CONNECTIVITY: 51,
  /** ours: the agent failed to set the endpoint up (details say which step) */
  ENDPOINT_SETUP: 100,
  /** ours: CHECK found the endpoint not as ADD left it */
  CHECK_FAILED: 101,
  /** ours: the pod CIDR has no free address */
  IPAM_EXHAUSTED: 102,
} as const;

export interface CniErrorBody {
  code: number;
  msg: string;
  details?: string;
}

/** An error as a value that both sides pass around and the plugin prints. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string | undefined;
  constructor(code: number, msg: string, details?: string) {
    super(msg);
    this.code = code;
    this.details = details;
  }
  toBody(): CniErrorBody {
    return this.details === undefined
      ? { code: this.code, msg: this.message }
      : { code: this.code, msg: this.message, details: this.details };
  }
}

export type CniCommand = 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
const COMMANDS: readonly string[] = ['ADD', 'DEL', 'CHECK', 'VERSION', 'STATUS', 'GC'];

/** What the runtime gives us on stdin (one plugin of a conflist, name/cniVersion injected). */
export interface NetConf {
  cniVersion: string;
  name: string;
  type: string;
  /** the agent's CNI socket */
  socketPath?: string;
  /** seconds to wait for the agent's answer (ADD waits for the endpoint to be ready) */
  timeoutSeconds?: number;
  prevResult?: CniResult;
  runtimeConfig?: Record<string, unknown>;
  /** GC (1.1.0): the attachments the runtime still knows */
  'cni.dev/valid-attachments'?: Array<{ containerID: string; ifname: string }>;
  [k: string]: unknown;
}

/** The spec's 1.x result: interfaces, ips (interface = index into interfaces), routes, dns. */
export interface CniResult {
  cniVersion?: string;
  interfaces?: Array<{ name: string; mac?: string; mtu?: number; sandbox?: string }>;
  ips?: Array<{ address: string; gateway?: string; interface?: number; version?: string }>;
  routes?: Array<{ dst: string; gw?: string }>;
  dns?: { nameservers?: string[]; domain?: string; search?: string[]; options?: string[] };
}

/** One request, plugin → agent, as JSON over the unix socket. */
export interface CniRequest {
  command: Exclude<CniCommand, 'VERSION'>;
  containerId: string;
  netns: string;
  ifname: string;
  /** CNI_ARGS as key/value pairs (K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_UID …) */
  args: Record<string, string>;
  path: string;
  config: NetConf;
}

/** One answer, agent → plugin. */
export type CniResponse = { ok: true; result?: CniResult } | { ok: false; error: CniErrorBody };

// --- parsing what the runtime hands us ---

export function parseCniArgs(s: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!s) return out;
  for (const pair of s.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new CniError(CniErrorCode.INVALID_ENV, `CNI_ARGS: '${pair}' is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

// The spec's rules for the container id and the interface name.
const CONTAINER_ID = /^[a-z0-9][a-z0-9_.-]*$/i;
export function validateIfname(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (Buffer.byteLength(name) > 15) return 'is longer than 15 bytes';
  if (name === '.' || name === '..') return 'is . or ..';
  if (/[/:\s]/.test(name)) return 'contains /, : or whitespace';
  return undefined;
}

export interface Invocation {
  command: CniCommand;
  containerId: string;
  netns: string;
  ifname: string;
  args: Record<string, string>;
  path: string;
}

/** CNI_* variables → an invocation, with the spec's per-command requirements (code 4). */
export function parseEnv(env: Record<string, string | undefined>): Invocation {
  const command = env.CNI_COMMAND ?? '';
  if (!COMMANDS.includes(command))
    throw new CniError(CniErrorCode.INVALID_ENV, `CNI_COMMAND '${command}' is not one of ${COMMANDS.join(', ')}`);
  const cmd = command as CniCommand;
  const attachment = cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK';
  const need = (name: string): string => {
    const v = env[name];
    if (attachment && (v === undefined || v === ''))
      throw new CniError(CniErrorCode.INVALID_ENV, `${name} is required for ${cmd}`);
    return v ?? '';
  };
  const containerId = need('CNI_CONTAINERID');
  if (attachment && !CONTAINER_ID.test(containerId)) {
    throw new CniError(
      CniErrorCode.INVALID_ENV,
      `CNI_CONTAINERID '${containerId}' must be letters, digits, _ . - and start with a letter or digit`,
    );
  }
  // DEL must work when the namespace is already gone, so the runtime may omit it there.
  const netns = cmd === 'DEL' ? (env.CNI_NETNS ?? '') : need('CNI_NETNS');
  const ifname = need('CNI_IFNAME');
  if (attachment) {
    const bad = validateIfname(ifname);
    if (bad) throw new CniError(CniErrorCode.INVALID_ENV, `CNI_IFNAME '${ifname}' ${bad}`);
  }
  return { command: cmd, containerId, netns, ifname, args: parseCniArgs(env.CNI_ARGS), path: env.CNI_PATH ?? '' };
}

export function isSupportedVersion(v: string): v is CniVersion {
  return (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** stdin → network configuration (codes 6 decode, 7 invalid, 1 version, 2 unsupported field). */
export function parseNetConf(stdin: string, command: CniCommand): NetConf {
  let raw: unknown;
  try {
    raw = JSON.parse(stdin);
  } catch (e) {
    throw new CniError(
      CniErrorCode.DECODE_FAILURE,
      'the network configuration on stdin is not JSON',
      (e as Error).message,
    );
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new CniError(CniErrorCode.INVALID_CONFIG, 'the network configuration must be a JSON object');
  const c = raw as Record<string, unknown>;
  if (typeof c.cniVersion !== 'string' || c.cniVersion === '')
    throw new CniError(CniErrorCode.INVALID_CONFIG, 'cniVersion is missing');
  if (!isSupportedVersion(c.cniVersion)) {
    throw new CniError(
      CniErrorCode.INCOMPATIBLE_VERSION,
      `cniVersion ${c.cniVersion} is not supported`,
      `supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  // VERSION may be called with nothing but cniVersion.
  if (command === 'VERSION') return c as unknown as NetConf;
  if (typeof c.name !== 'string' || c.name === '') throw new CniError(CniErrorCode.INVALID_CONFIG, 'name is missing');
  if (typeof c.type !== 'string' || c.type === '') throw new CniError(CniErrorCode.INVALID_CONFIG, 'type is missing');
  if (c.socketPath !== undefined && (typeof c.socketPath !== 'string' || !c.socketPath.startsWith('/'))) {
    throw new CniError(CniErrorCode.INVALID_CONFIG, 'socketPath must be an absolute path');
  }
  if (c.timeoutSeconds !== undefined && (typeof c.timeoutSeconds !== 'number' || !(c.timeoutSeconds > 0))) {
    throw new CniError(CniErrorCode.INVALID_CONFIG, 'timeoutSeconds must be a positive number');
  }
  if ((command === 'STATUS' || command === 'GC') && compareVersions(c.cniVersion, '1.1.0') < 0) {
    throw new CniError(
      CniErrorCode.INCOMPATIBLE_VERSION,
      `${command} needs cniVersion 1.1.0 or later, the configuration says ${c.cniVersion}`,
    );
  }
  if (c.ipam !== undefined) {
    throw new CniError(
      CniErrorCode.UNSUPPORTED_FIELD,
      "ipam is not supported: addresses come from the node's pod CIDR, allocated by the agent",
    );
  }
  return c as unknown as NetConf;
}

export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number),
    pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

// --- output ---

/** The result in the configuration's cniVersion (0.3.x/0.4.0 carry ips[].version, 1.x does not). */
export function formatResult(result: CniResult, cniVersion: string): CniResult {
  const legacy = compareVersions(cniVersion, '1.0.0') < 0;
  const out: CniResult = { cniVersion };
  if (result.interfaces) out.interfaces = result.interfaces.map((i) => ({ ...i }));
  if (result.ips) {
    out.ips = result.ips.map(({ version: _drop, ...ip }) =>
      legacy ? { version: ip.address.includes(':') ? '6' : '4', ...ip } : ip,
    );
  }
  if (result.routes) out.routes = result.routes.map((r) => ({ ...r }));
  out.dns = result.dns ?? {};
  return out;
}

export function formatError(err: CniErrorBody, cniVersion: string): CniErrorBody & { cniVersion: string } {
  return { cniVersion, ...err };
}

export function versionInfo(cniVersion: string): { cniVersion: string; supportedVersions: string[] } {
  return { cniVersion, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** Anything thrown → the spec's error body (unknown errors are I/O failures with the message). */
export function toErrorBody(e: unknown): CniErrorBody {
  if (e instanceof CniError) return e.toBody();
  return { code: CniErrorCode.IO_FAILURE, msg: e instanceof Error ? e.message : String(e) };
}
