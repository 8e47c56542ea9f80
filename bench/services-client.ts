// The Services bench's client: runs inside one client network namespace (ip netns exec … node this
// file) and takes one JSON command per stdin line, answering one JSON line on stdout. A long-lived
// process, so no measurement pays for Node's start-up. Every loop is bounded in count and time.
//   latency  sequential connects, one per target (a fresh socket, so a fresh source port and a new
//            flow that the first packet's service lookup must translate): µs from connect() to the
//            handshake's completion
//   rate     a closed loop of `inflight` connections for `seconds`: connect, read the server's byte
//   reach    a new connect attempt every `everyMs` (each a new flow) until one completes: ms from the
//            moment the command arrived; prints {"started":true} first so the caller can start its clock after
import { connect, type Socket } from 'node:net';
import { createInterface } from 'node:readline';

interface LatencyCmd {
  op: 'latency';
  targets: string[];
  port: number;
  timeoutMs: number;
}
interface RateCmd {
  op: 'rate';
  targets: string[];
  port: number;
  seconds: number;
  inflight: number;
}
interface ReachCmd {
  op: 'reach';
  ip: string;
  port: number;
  deadlineMs: number;
  everyMs: number;
}
type Command = LatencyCmd | RateCmd | ReachCmd;

const reply = (o: object): void => void process.stdout.write(JSON.stringify(o) + '\n');

function connectOnce(host: string, port: number, timeoutMs: number): Promise<bigint | string> {
  return new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    const s = connect({ host, port });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('timeout');
    }, timeoutMs);
    s.once('connect', () => {
      const dt = process.hrtime.bigint() - t0;
      clearTimeout(timer);
      s.destroy();
      resolve(dt);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? 'error');
    });
  });
}

async function latency(c: LatencyCmd): Promise<void> {
  const us: number[] = [];
  const errors: Record<string, number> = {};
  for (const ip of c.targets) {
    const r = await connectOnce(ip, c.port, c.timeoutMs);
    if (typeof r === 'bigint') us.push(Number(r) / 1000);
    else errors[r] = (errors[r] ?? 0) + 1;
  }
  reply({ us, errors });
}

function rate(c: RateCmd): Promise<void> {
  return new Promise((resolve) => {
    const end = Date.now() + c.seconds * 1000;
    const open = new Set<Socket>();
    let ok = 0,
      failed = 0,
      running = 0,
      next = 0,
      done = false;
    const finish = (stuck: number): void => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      reply({ count: ok, failed, stuck, seconds: c.seconds });
      resolve();
    };
    // A connection that neither completes nor closes (it should not happen: each has a 1 s idle timeout)
    // cannot hold the answer back: 3 s past the end the loop reports and drops what is still open.
    const hard = setTimeout(
      () => {
        const stuck = open.size;
        for (const s of open) s.destroy();
        finish(stuck);
      },
      c.seconds * 1000 + 3000,
    );
    const one = (): void => {
      if (done) return;
      if (Date.now() > end) {
        if (--running === 0) finish(0);
        return;
      }
      let s: Socket;
      try {
        s = connect({ host: c.targets[next++ % c.targets.length]!, port: c.port });
      } catch {
        failed++;
        setImmediate(one);
        return;
      }
      open.add(s);
      let counted = false;
      s.setTimeout(1000, () => s.destroy());
      s.once('data', () => {
        counted = true;
        ok++;
        s.destroy();
      });
      s.once('close', () => {
        open.delete(s);
        if (!counted) failed++;
        one();
      });
      s.on('error', () => {});
    };
    for (let i = 0; i < c.inflight; i++) {
      running++;
      one();
    }
  });
}

function reach(c: ReachCmd): Promise<void> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const open = new Set<Socket>();
    let done = false;
    const finish = (ok: boolean): void => {
      if (done) return;
      done = true;
      clearInterval(tick);
      for (const s of open) s.destroy();
      reply({ ok, ms: performance.now() - t0 });
      resolve();
    };
    const attempt = (): void => {
      if (performance.now() - t0 > c.deadlineMs) return finish(false);
      if (open.size >= 200) return; // attempts still waiting: at most 200 SYNs in flight
      const s = connect({ host: c.ip, port: c.port });
      open.add(s);
      // An attempt whose SYN went nowhere is given up: its retransmission would keep the old flow.
      const timer = setTimeout(() => s.destroy(), 300);
      s.once('connect', () => finish(true));
      s.once('close', () => {
        clearTimeout(timer);
        open.delete(s);
      });
      s.on('error', () => {});
    };
    const tick = setInterval(attempt, c.everyMs);
    reply({ started: true });
    attempt();
  });
}

// One command at a time, in order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line) as Command;
  queue = queue.then(() => (c.op === 'latency' ? latency(c) : c.op === 'rate' ? rate(c) : reach(c)));
});
process.stdin.on('end', () => void queue.then(() => process.exit(0)));
reply({ ready: true });
