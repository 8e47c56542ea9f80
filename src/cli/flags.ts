// Flag values the command line parses by hand (node:util parseArgs knows only strings and booleans).

export class FlagError extends Error {
  override name = 'FlagError';
}

/** A non-negative integer (at most `max`) or a FlagError naming the flag: `--port 80x` is no port. */
export function integerFlag(name: string, value: string, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value) || Number(value) > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? 'a non-negative integer' : `an integer from 0 to ${max}`;
    throw new FlagError(`--${name} must be ${range}, not "${value}"`);
  }
  return Number(value);
}

export const portFlag = (name: string, value: string): number => integerFlag(name, value, 65535);
