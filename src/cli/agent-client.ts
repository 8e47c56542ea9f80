// The agent's local API from the command line: which socket, and one GET. Every inspection command
// loads this module, so what it imports is what `cilium-ts status` pays for at start-up: keep it to
// Node built-ins and the two tiny modules that say where sockets live.
import { DEFAULT_AGENT_SOCKET } from '../agent/api-socket.ts';
import { labPaths } from '../lab/paths.ts';

// Built-ins not imported: the ES module facade of node:http reads every export, the lazy ones too,
// which loads undici and node:http2 (~18 ms of a ~60 ms command); the CommonJS objects do not.
const { request } = process.getBuiltinModule('node:http');
const { existsSync } = process.getBuiltinModule('node:fs');
const path = process.getBuiltinModule('node:path');

/** $CILIUM_TS_AGENT_SOCKET, else the lab's agent when a lab runs, else the node agent's socket. */
export function defaultAgentSocket(): string {
  if (process.env.CILIUM_TS_AGENT_SOCKET) return process.env.CILIUM_TS_AGENT_SOCKET;
  const lab = path.join(labPaths().dir, 'agent.sock');
  return existsSync(lab) ? lab : DEFAULT_AGENT_SOCKET;
}

export function agentGet<T>(path: string, socketPath = defaultAgentSocket()): Promise<T> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, path, method: 'GET' }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => {
        let parsed: unknown;
        try {
          parsed = JSON.parse(body);
        } catch {
          return reject(new Error(`the agent answered ${res.statusCode} with no JSON`));
        }
        if (res.statusCode !== 200) {
          return reject(new Error((parsed as { error?: string }).error ?? `HTTP ${res.statusCode}`));
        }
        resolve(parsed as T);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) =>
      reject(
        new Error(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? `no agent answers on ${socketPath} (is the lab up? set CILIUM_TS_AGENT_SOCKET to point elsewhere)`
            : e.message,
        ),
      ),
    );
    req.end();
  });
}
