// `cilium-ts-cni`: the CNI plugin executable a container runtime calls. It does no networking
// itself: it checks the invocation, forwards it to the agent over the agent's unix socket and
// prints the agent's answer in the configuration's cniVersion. Kept to node: built-ins and
// protocol.ts so that each call starts fast.
import { connect } from 'node:net';
import {
  CniError,
  CniErrorCode,
  DEFAULT_SOCKET_PATH,
  LATEST_VERSION,
  formatError,
  formatResult,
  parseEnv,
  parseNetConf,
  toErrorBody,
  versionInfo,
  type CniRequest,
  type CniResponse,
  type NetConf,
} from './protocol.ts';

export interface PluginIo {
  env: Record<string, string | undefined>;
  stdin: string;
}

export interface PluginOutcome {
  /** what goes to stdout (a JSON document, or nothing) */
  stdout: string;
  exitCode: number;
}

/** Sends one request to the agent and waits for its one answer (the socket is half-closed after the request). */
export function callAgent(socketPath: string, req: CniRequest, timeoutMs: number): Promise<CniResponse> {
  return new Promise((resolve, reject) => {
    const sock = connect(socketPath);
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(
        new CniError(
          CniErrorCode.TRY_AGAIN_LATER,
          `the agent did not answer ${req.command} within ${timeoutMs} ms`,
          socketPath,
        ),
      );
    }, timeoutMs);
    sock.setEncoding('utf8');
    sock.on('connect', () => sock.end(JSON.stringify(req)));
    sock.on('data', (d: string) => {
      buf += d;
    });
    sock.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const unreachable = e.code === 'ENOENT' || e.code === 'ECONNREFUSED';
      reject(
        new CniError(
          req.command === 'STATUS' ? CniErrorCode.NOT_AVAILABLE : CniErrorCode.TRY_AGAIN_LATER,
          unreachable
            ? `the cilium-ts agent is not reachable on ${socketPath}; is it running?`
            : `talking to the agent on ${socketPath} failed`,
          e.message,
        ),
      );
    });
    sock.on('end', () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as CniResponse);
      } catch {
        reject(new CniError(CniErrorCode.IO_FAILURE, "the agent's answer is not JSON", buf.slice(0, 200)));
      }
    });
  });
}

export type AgentCaller = (socketPath: string, req: CniRequest, timeoutMs: number) => Promise<CniResponse>;

/** One whole invocation, I/O injected: env + stdin in, stdout + exit code out. */
export async function runPlugin(io: PluginIo, call: AgentCaller = callAgent): Promise<PluginOutcome> {
  // Errors are printed in the configuration's version when we got that far, else the latest.
  let version: string = LATEST_VERSION;
  try {
    const inv = parseEnv(io.env);
    if (inv.command === 'VERSION') {
      // The runtime may send only {"cniVersion": …}, or nothing usable: answer regardless.
      let v = LATEST_VERSION as string;
      try {
        v = parseNetConf(io.stdin, 'VERSION').cniVersion;
      } catch {
        /* VERSION answers even without a configuration */
      }
      return { stdout: JSON.stringify(versionInfo(v)), exitCode: 0 };
    }
    const config: NetConf = parseNetConf(io.stdin, inv.command);
    version = config.cniVersion;
    const req: CniRequest = {
      command: inv.command,
      containerId: inv.containerId,
      netns: inv.netns,
      ifname: inv.ifname,
      args: inv.args,
      path: inv.path,
      config,
    };
    const answer = await call(config.socketPath ?? DEFAULT_SOCKET_PATH, req, (config.timeoutSeconds ?? 120) * 1000);
    if (!answer.ok) return { stdout: JSON.stringify(formatError(answer.error, version)), exitCode: 1 };
    // ADD prints the result; CHECK, DEL, STATUS and GC print nothing on success.
    if (inv.command === 'ADD')
      return { stdout: JSON.stringify(formatResult(answer.result ?? {}, version)), exitCode: 0 };
    return { stdout: '', exitCode: 0 };
  } catch (e) {
    return { stdout: JSON.stringify(formatError(toErrorBody(e), version)), exitCode: 1 };
  }
}

async function readStdin(): Promise<string> {
  if (process.stdin.isTTY) return '';
  const chunks: Buffer[] = [];
  for await (const c of process.stdin) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

if (import.meta.main) {
  const out = await runPlugin({ env: process.env, stdin: await readStdin() });
  if (out.stdout) process.stdout.write(out.stdout + '\n');
  process.exitCode = out.exitCode;
}
