// The lab's "container" for ordinary pods and for the outside host: small servers that answer
// every request with who they are (`namespace/name`, or `outside`), so a probe through a Service
// shows which backend answered. TCP: one line `<who>\n` back for what the client sends; a request
// whose first bytes are an HTTP/1.x request line gets `HTTP/1.1 200 OK` with `<who>\n` as body
// (keep-alive as asked). UDP: the datagram `<who>\n` back.
import { spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** In the servers' command line, so a pid can be checked to still be ours before it is killed. */
export const ECHO_MARKER = 'cilium-ts-lab-echo';

export interface EchoPort {
  port: number;
  protocol: 'TCP' | 'UDP';
}

const script = `
const net = require('node:net'), dgram = require('node:dgram');
const { ports, who } = JSON.parse(process.argv[1]);
const line = who + '\\n';
let up = 0;
const ready = () => { if (++up === ports.length) process.stdout.write('ready\\n'); };
const REQUEST_LINE = /^[A-Z]{3,10} \\S+ HTTP\\/1\\.([01])\\r?\\n/;
const MAYBE_REQUEST = /^[A-Z]{1,10}( [^\\s]*( [A-Z0-9/.]*)?)?$/;
function http(s, state) {
  for (;;) {
    const text = state.buf.toString('latin1');
    const m = /\\r?\\n\\r?\\n/.exec(text);
    if (!m) return;
    const head = text.slice(0, m.index).split(/\\r?\\n/);
    const [method, , version] = head[0].split(' ');
    const header = (n) => head.slice(1).map((h) => h.split(':')).find(([k]) => k.trim().toLowerCase() === n)?.slice(1).join(':').trim().toLowerCase();
    const length = Number(header('content-length') ?? 0) || 0;
    if (state.buf.length < m.index + m[0].length + length) return;
    state.buf = state.buf.subarray(m.index + m[0].length + length);
    const keep = version === 'HTTP/1.0' ? header('connection') === 'keep-alive' : header('connection') !== 'close';
    s.write('HTTP/1.1 200 OK\\r\\nContent-Type: text/plain; charset=utf-8\\r\\nContent-Length: ' + Buffer.byteLength(line) +
      '\\r\\nConnection: ' + (keep ? 'keep-alive' : 'close') + '\\r\\n\\r\\n' + (method === 'HEAD' ? '' : line));
    if (!keep) { state.mode = 'closed'; s.end(); return; }
  }
}
for (const p of ports) {
  if (p.protocol === 'TCP') {
    net.createServer((s) => {
      s.on('error', () => {});
      const state = { mode: undefined, buf: Buffer.alloc(0) };
      s.on('data', (d) => {
        if (state.mode === 'line') return void s.write(line);
        if (state.mode === 'closed') return;
        state.buf = Buffer.concat([state.buf, d]);
        if (state.mode === undefined) {
          const text = state.buf.toString('latin1');
          if (REQUEST_LINE.test(text)) state.mode = 'http';
          else if (!text.includes('\\n') && MAYBE_REQUEST.test(text) && state.buf.length < 8192) return;
          else { state.mode = 'line'; state.buf = Buffer.alloc(0); return void s.write(line); }
        }
        http(s, state);
      });
    }).listen(p.port, '0.0.0.0', ready);
  } else {
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(line, r.port, r.address));
    u.on('error', (e) => { console.error(e.message); process.exit(1); });
    u.bind(p.port, '0.0.0.0', ready);
  }
}
if (ports.length === 0) ready();
`;

/** The command that runs the servers (to be wrapped in `ip netns exec`, a cgroup …). */
export function echoCommand(who: string, ports: EchoPort[]): string[] {
  const spec = { who, ports: ports.map((p) => ({ port: p.port, protocol: p.protocol })) };
  return [process.execPath, '-e', script, JSON.stringify(spec), ECHO_MARKER];
}

/**
 * Starts a long-running detached process and waits until it is ready: a `ready` line on its
 * stdout (`readyLine`), or `ready()` resolving. Its stderr (and stdout when not awaited) goes to
 * `logFile`. Returns its pid; on failure the process is killed.
 */
export async function startDetached(
  argv: string[],
  logFile: string,
  opts: { readyLine?: boolean; ready?: () => Promise<void>; what: string; timeoutMs?: number },
): Promise<number> {
  const logFd = openSync(logFile, 'a');
  const timeoutMs = opts.timeoutMs ?? 10_000;
  try {
    const child = spawn(argv[0]!, argv.slice(1), {
      detached: true,
      stdio: ['ignore', opts.readyLine ? 'pipe' : logFd, logFd],
    });
    const exited = new Promise<false>((resolve) => child.once('exit', () => resolve(false)));
    const readied = opts.readyLine
      ? new Promise<boolean>((resolve) =>
          child.stdout!.once('data', (d: Buffer) => resolve(d.toString().includes('ready'))),
        )
      : opts.ready!().then(
          () => true,
          () => false,
        );
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const ok = await Promise.race([readied, exited, timedOut]).catch(() => false);
    clearTimeout(timer);
    child.stdout?.destroy();
    child.unref();
    if (!ok || child.pid === undefined) {
      if (child.pid !== undefined) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      throw new Error(`${opts.what} did not start (see ${logFile})`);
    }
    return child.pid;
  } finally {
    closeSync(logFd);
  }
}
