// winston, one JSON event per line in production (stable keys: component, kind, namespace, name …),
// a readable line on a terminal. LOG_FORMAT=json|text and LOG_LEVEL override. A process that shows
// a person something else on the terminal (the lab) sends every component's events to its own file.
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import winston from 'winston';

const format =
  (process.env.LOG_FORMAT ?? (process.stderr.isTTY ? 'text' : 'json')) === 'json'
    ? winston.format.combine(winston.format.timestamp(), winston.format.json())
    : winston.format.combine(
        winston.format.timestamp({ format: 'HH:mm:ss' }),
        winston.format.printf(({ timestamp, level, message, component, ...rest }) => {
          const extra = Object.keys(rest).length ? ' ' + JSON.stringify(rest) : '';
          const tag = typeof component === 'string' ? `[${component}] ` : '';
          return `${String(timestamp)} ${level.padEnd(5)} ${tag}${String(message)}${extra}`;
        }),
      );

// Logs go to stderr so that commands keep stdout for their output.
const toConsole = new winston.transports.Console({
  stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'],
});

const root = winston.createLogger({ level: process.env.LOG_LEVEL ?? 'info', format, transports: [toConsole] });

/**
 * Which file an event belongs to: the component its logger() was made for. A symbol, so it is
 * never printed, and it survives child loggers that rename `component` (watch-nodes, cni …).
 */
const SINK = Symbol.for('cilium-ts.log.sink');
const MESSAGE = Symbol.for('message');

export type Logger = winston.Logger;

export function logger(component: string): Logger {
  return root.child({ component, [SINK]: component });
}

/** One append-only file per component, opened on its first event. */
class ComponentFiles extends Writable {
  readonly #dir: string;
  readonly #files = new Map<string, WriteStream>();

  constructor(dir: string) {
    super({ objectMode: true });
    this.#dir = dir;
  }

  override _write(info: Record<string | symbol, unknown>, _enc: string, done: () => void): void {
    const sink = typeof info[SINK] === 'string' ? info[SINK] : 'other';
    let file = this.#files.get(sink);
    if (!file) {
      mkdirSync(this.#dir, { recursive: true });
      file = createWriteStream(join(this.#dir, `${sink}.log`), { flags: 'a' });
      // The folder may be removed under us (a lab removes its state last): losing the tail is fine.
      file.on('error', () => undefined);
      this.#files.set(sink, file);
    }
    file.write(`${String(info[MESSAGE])}\n`);
    done();
  }
}

/**
 * From now on every event goes to `<dir>/<component>.log` (JSON, as in production) and none to
 * the terminal.
 */
export function logToFiles(dir: string): void {
  if (!root.transports.includes(toConsole)) return;
  root.remove(toConsole);
  root.add(
    new winston.transports.Stream({
      stream: new ComponentFiles(dir),
      format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    }),
  );
}
