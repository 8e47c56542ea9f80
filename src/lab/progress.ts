// What a person sees while the lab boots: one line per step and how long it took,
//   ✓ control plane (etcd, kube-apiserver, kube-controller-manager)      4.8 s
// On a terminal the running step shows first and is replaced when it is done.
import type { Writable } from 'node:stream';

const LABEL_WIDTH = 64;

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

export class Progress {
  readonly #out: Writable & { isTTY?: boolean };

  constructor(out: Writable & { isTTY?: boolean } = process.stdout) {
    this.#out = out;
  }

  /** Runs one step; `label` may be refined from its result (e.g. the address it got). */
  async step<T>(label: string, run: () => Promise<T>, done?: (result: T) => string): Promise<T> {
    const tty = this.#out.isTTY === true;
    if (tty) this.#out.write(`  ${label} …`);
    const started = Date.now();
    const line = (mark: string, text: string) =>
      `${tty ? '\r\x1b[2K' : ''}${mark} ${text.padEnd(LABEL_WIDTH)} ${seconds(Date.now() - started).padStart(6)}\n`;
    try {
      const result = await run();
      this.#out.write(line('✓', done ? done(result) : label));
      return result;
    } catch (err) {
      this.#out.write(line('✗', label));
      throw err;
    }
  }

  /** Free text between steps (the demo's tables, the addresses). */
  say(text: string): void {
    this.#out.write(text.endsWith('\n') ? text : `${text}\n`);
  }
}
