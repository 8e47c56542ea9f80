// Ports as Cilium reads them (pkg/iana IsSvcName, then strconv.ParseUint(port, 0, 16)): a string
// that is a valid IANA service name is a named port, anything else must be a number 0-65535.

/** The largest port number. */
export const MAX_PORT = 65535;

export type ParsedPort =
  | { kind: 'number'; value: number; octal: boolean }
  | { kind: 'name'; name: string; upper: boolean }
  | { kind: 'invalid'; reason: string };

const svcNameShape = /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;

/** IANA service name (RFC 6335): 1-15 characters, alphanumerics and single inner '-', one letter at least. */
export function isSvcName(s: string, lowercaseOnly = false): boolean {
  if (s.length < 1 || s.length > 15 || !svcNameShape.test(s) || !/[A-Za-z]/.test(s)) return false;
  return !lowercaseOnly || s === s.toLowerCase();
}

export const svcNameRules =
  'a port name has 1-15 lowercase letters, digits and single \'-\' between them, with at least one letter (e.g. "http", "dns-tcp")';

export function parsePort(port: string): ParsedPort {
  if (isSvcName(port)) return { kind: 'name', name: port.toLowerCase(), upper: port !== port.toLowerCase() };
  // Go's base-0 ParseUint: digits with optional '_' separators; a leading 0 means octal.
  if (/^[0-9]+(_[0-9]+)*$/.test(port)) {
    const digits = port.replaceAll('_', '');
    const octal = digits.length > 1 && digits[0] === '0';
    if (octal && /[89]/.test(digits)) {
      return {
        kind: 'invalid',
        reason: `"${port}" starts with 0, so it is read as an octal number, and 8 and 9 are not octal digits; write it without the leading zeros`,
      };
    }
    if (port.includes('_') && octal)
      return { kind: 'invalid', reason: `"${port}" is not a plain number; write it as digits only` };
    const value = octal ? parseInt(digits, 8) : Number(digits);
    if (value > MAX_PORT)
      return { kind: 'invalid', reason: `port ${value} is out of range: use a number from 0 to ${MAX_PORT}` };
    return { kind: 'number', value, octal };
  }
  if (port === '')
    return { kind: 'invalid', reason: `the port is empty: give a number from 0 to ${MAX_PORT} or a port name` };
  if (/^-?[0-9]+$/.test(port))
    return { kind: 'invalid', reason: `port ${port} is out of range: use a number from 0 to ${MAX_PORT}` };
  return {
    kind: 'invalid',
    reason: `"${port}" is neither a number from 0 to ${MAX_PORT} nor a valid port name: ${svcNameRules}`,
  };
}
