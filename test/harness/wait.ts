// The tests' one way to wait for something that happens elsewhere (a controller, a server, another
// process): poll a check until it holds, then carry on with the value it found. A failure names
// what was awaited, so a timeout reads as a sentence rather than as "timed out".
import { setTimeout as sleep } from 'node:timers/promises';
import { inspect } from 'node:util';

export interface WaitOptions {
  /** give up after this long (default 10 s) */
  timeoutMs?: number;
  /** pause between checks (default 50 ms) */
  intervalMs?: number;
  /**
   * Asked after each failed check: a reason (e.g. "the client exited") when waiting longer cannot
   * succeed, so the wait fails at once instead of at the timeout.
   */
  giveUpIf?: () => string | false | undefined;
}

/** What a check returns: the awaited value, or undefined / false for "not yet". */
export type Check<T> = () => T | undefined | false | Promise<T | undefined | false>;

/**
 * Polls `check` until it returns something other than undefined or false, and returns that.
 * A check that throws counts as "not yet"; its last error is quoted if the wait times out.
 *
 *   await waitFor('the ring to have a follower', () => ring.stats().followers > 0);
 *   const cep = await waitFor('endpoint x/a', async () => (await get('x', 'a')) ?? undefined, 20_000);
 */
export async function waitFor<T>(what: string, check: Check<T>, options: WaitOptions | number = {}): Promise<T> {
  const opts = typeof options === 'number' ? { timeoutMs: options } : options;
  const { timeoutMs = 10_000, intervalMs = 50, giveUpIf } = opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    const reason = giveUpIf?.();
    if (reason) throw new Error(`gave up waiting for ${what}: ${reason}`);
    if (Date.now() > deadline) {
      const message = lastError instanceof Error ? lastError.message : inspect(lastError);
      const cause = lastError === undefined ? '' : `: ${message}`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${cause}`);
    }
    await sleep(intervalMs);
  }
}
