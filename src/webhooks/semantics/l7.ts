// L7 rules: HTTP (regular expressions compiled with RE2 semantics, as Go's regexp in Cilium's
// PortRuleHTTP sanitizer and Envoy's safe_regex both do), DNS / FQDN selectors (Cilium's
// allowed-character sets) and the Kafka rules that older Cilium releases accepted.

import { RE2JS } from 're2js';
import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { arr, isObj, obj, show, str } from './json.ts';

/** The RE2 parse error for `re`, or undefined when it compiles. */
export function re2Problem(re: string): string | undefined {
  try {
    RE2JS.compile(re);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}

const re2Hint =
  'RE2 syntax (as Envoy and Go use) has no back-references (\\1), look-arounds ((?=, (?!, (?<=) or possessive quantifiers; rewrite the expression without them';

const headerToken = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function checkHeaderName(name: string, path: string, out: ValidationIssue[]): void {
  if (!headerToken.test(name)) {
    out.push(
      warning(
        path,
        `${show(name)} is not a valid HTTP header name (letters, digits and !#$%&'*+-.^_\`|~ only), so no request can match it: fix the name`,
      ),
    );
  }
}

export function checkHTTPRule(rule: unknown, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const r = obj(rule);
  if (!r) return out;
  for (const field of ['path', 'method'] as const) {
    const re = str(r[field]);
    if (re === undefined || re === '') continue;
    const p = re2Problem(re);
    if (p)
      out.push(error(at(path, field), `${field} ${show(re)} is not a valid regular expression (${p}): ${re2Hint}`));
  }
  arr(r.headers).forEach((h, i) => {
    if (typeof h !== 'string') return;
    const hp = at(path, 'headers', i);
    // Cilium splits "Name: value" at the first space; a ':' glued to the value makes it part of the name.
    const sp = h.indexOf(' ');
    const name = (sp < 0 ? h : h.slice(0, sp)).replace(/:$/, '');
    if (sp < 0 && h.includes(':') && !h.endsWith(':')) {
      const [n, ...rest] = h.split(':');
      out.push(
        warning(
          hp,
          `header ${show(h)} has no space after ':', so Cilium looks for a header literally named ${show(h)}: write "${n}: ${rest.join(':')}"`,
        ),
      );
      return;
    }
    if (name === '') {
      out.push(error(hp, `header ${show(h)} has no name: write "Name" (must be present) or "Name: value"`));
      return;
    }
    checkHeaderName(name, hp, out);
  });
  arr(r.headerMatches).forEach((m, i) => {
    const hm = obj(m);
    if (!hm) return;
    const mp = at(path, 'headerMatches', i);
    const name = str(hm.name);
    if (name) checkHeaderName(name, at(mp, 'name'), out);
    const mismatch = str(hm.mismatch);
    if ((mismatch === 'ADD' || mismatch === 'REPLACE') && str(hm.value) === undefined && !isObj(hm.secret)) {
      out.push(
        warning(
          at(mp, 'mismatch'),
          `mismatch ${mismatch} writes the expected value into the request, but neither value nor secret is set: add a value or a secret, or use LOG / DELETE`,
        ),
      );
    }
  });
  return out;
}

const matchNameChars = /^[-a-zA-Z0-9_.]+$/;
const matchPatternChars = /^[-a-zA-Z0-9_.*]+$/;

/** FQDN selector as used in toFQDNs and in rules.dns. */
export function checkFQDNSelector(sel: unknown, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const s = obj(sel);
  if (!s) return out;
  const name = str(s.matchName);
  const pattern = str(s.matchPattern);
  const hasName = name !== undefined && name !== '';
  const hasPattern = pattern !== undefined && pattern !== '';
  if (hasName && hasPattern) {
    out.push(
      error(
        path,
        'matchName and matchPattern are both set: keep exactly one (matchName for one exact name, matchPattern for a wildcard)',
      ),
    );
  } else if (!hasName && !hasPattern) {
    out.push(
      error(
        path,
        'the selector names no DNS name: set matchName (e.g. api.example.com) or matchPattern (e.g. *.example.com)',
      ),
    );
  }
  if (hasName && !matchNameChars.test(name)) {
    out.push(
      error(
        at(path, 'matchName'),
        `matchName ${show(name)} may only contain letters, digits, '.', '-' and '_'${name.includes('*') ? ': for a wildcard use matchPattern instead' : ': write just the DNS name, e.g. api.example.com'}`,
      ),
    );
  }
  if (hasPattern && !matchPatternChars.test(pattern)) {
    out.push(
      error(
        at(path, 'matchPattern'),
        `matchPattern ${show(pattern)} may only contain letters, digits, '.', '-', '_' and '*' (the wildcard): write just the DNS name or pattern, e.g. *.example.com`,
      ),
    );
  }
  if ((name?.length ?? 0) > 255 || (pattern?.length ?? 0) > 255) {
    out.push(error(path, 'a DNS name is at most 255 characters long: shorten it or use a matchPattern'));
  }
  return out;
}

/** Matches a DNS name against a Cilium matchPattern ('*' = any run of DNS characters; a lone '*' = all). */
export function fqdnPatternMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const n = name.toLowerCase().replace(/\.$/, '');
  if (p === '*') return true;
  const re = new RegExp(
    `^${p
      .split('*')
      .map((x) => x.replace(/[.+?^${}()|[\]\\-]/g, '\\$&'))
      .join('[-a-z0-9_.]*')}$`,
  );
  return re.test(n);
}

const kafkaAPIKeys = new Set([
  'produce',
  'fetch',
  'offsets',
  'metadata',
  'leaderandisr',
  'stopreplica',
  'updatemetadata',
  'controlledshutdown',
  'offsetcommit',
  'offsetfetch',
  'findcoordinator',
  'joingroup',
  'heartbeat',
  'leavegroup',
  'syncgroup',
  'describegroups',
  'listgroups',
  'saslhandshake',
  'apiversions',
  'createtopics',
  'deletetopics',
  'deleterecords',
  'initproducerid',
  'offsetforleaderepoch',
  'addpartitionstotxn',
  'addoffsetstotxn',
  'endtxn',
  'writetxnmarkers',
  'txnoffsetcommit',
  'describeacls',
  'createacls',
  'deleteacls',
  'describeconfigs',
  'alterconfigs',
]);
const kafkaTopic = /^[a-zA-Z0-9._-]+$/;

export function checkKafkaRule(rule: unknown, path: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const r = obj(rule);
  if (!r) return out;
  const apiKey = str(r.apiKey);
  const role = str(r.role);
  if (apiKey && role) {
    out.push(
      error(path, 'role and apiKey are both set: a role stands for a set of API keys, so keep only one of them'),
    );
  }
  if (apiKey && !kafkaAPIKeys.has(apiKey.toLowerCase())) {
    out.push(
      error(
        at(path, 'apiKey'),
        `apiKey ${show(apiKey)} is not a Kafka API key: use one such as produce, fetch, metadata, offsetcommit, joingroup`,
      ),
    );
  }
  const version = str(r.apiVersion);
  if (version !== undefined && version !== '' && !/^[0-9]+$/.test(version)) {
    out.push(
      error(
        at(path, 'apiVersion'),
        `apiVersion ${show(version)} must be a non-negative whole number such as "0" or "2"; omit it for any version`,
      ),
    );
  } else if (version && Number(version) > 32767) {
    out.push(error(at(path, 'apiVersion'), `apiVersion ${version} is out of range: Kafka API versions go up to 32767`));
  }
  const topic = str(r.topic);
  if (topic !== undefined && topic !== '' && !kafkaTopic.test(topic)) {
    out.push(
      error(
        at(path, 'topic'),
        `topic ${show(topic)} may only contain letters, digits, '.', '_' and '-': use the topic name exactly as Kafka knows it`,
      ),
    );
  }
  return out;
}
