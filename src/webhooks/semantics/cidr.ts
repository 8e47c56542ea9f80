// CIDR peers: fromCIDR/toCIDR strings and fromCIDRSet/toCIDRSet rules, following Cilium's
// CIDR.Validate (a prefix or a bare address) and CIDRRule.Validate (a prefix; each except inside it,
// same family, at least as long).

import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { arr, obj, show, str } from './json.ts';
import {
  canonical,
  containsPrefix,
  familyName,
  isCanonical,
  parseAddr,
  parsePrefix,
  type Prefix,
} from '../../lib/ip.ts';
import { checkSelector } from './selector.ts';

function nonCanonical(p: Prefix, raw: string, path: string): ValidationIssue {
  return warning(
    path,
    `${raw} has host bits set, so it means ${canonical(p)}: write ${canonical(p)} (or /${p.addr.family === 4 ? 32 : 128} for the single address)`,
  );
}

function worldHint(p: Prefix, raw: string, path: string, entityField: string): ValidationIssue {
  return warning(
    path,
    `${raw} matches every ${familyName(p.addr.family)} address outside the cluster, which is what the world entity means: write ${entityField}: [world] (or world-${p.addr.family === 4 ? 'ipv4' : 'ipv6'}) to say so`,
  );
}

/** One entry of fromCIDR / toCIDR. */
export function checkCIDR(v: unknown, path: string, entityField: string): ValidationIssue[] {
  const s = str(v);
  if (s === undefined) return [];
  if (s === '') return [error(path, 'the CIDR is empty: give a prefix such as 192.0.2.0/24 or 2001:db8::/32')];
  const p = parsePrefix(s);
  if (!p) {
    if (!s.includes('/') && parseAddr(s)) return [];
    return [
      error(
        path,
        `${show(s)} is not an IP prefix: write an address and prefix length such as 192.0.2.0/24, 192.0.2.7/32 or 2001:db8::/32`,
      ),
    ];
  }
  if (p.bits === 0) return [worldHint(p, s, path, entityField)];
  return isCanonical(p) ? [] : [nonCanonical(p, s, path)];
}

/** One entry of fromCIDRSet / toCIDRSet. */
export function checkCIDRRule(v: unknown, path: string, entityField: string): ValidationIssue[] {
  const out: ValidationIssue[] = [];
  const r = obj(v);
  if (!r) return out;
  const cidr = str(r.cidr);
  const ref = str(r.cidrGroupRef);
  const groupSel = obj(r.cidrGroupSelector);
  const n = (cidr ? 1 : 0) + (ref ? 1 : 0) + (groupSel ? 1 : 0);
  if (n === 0) {
    out.push(
      error(
        path,
        'the entry names no addresses: set one of cidr (e.g. 192.0.2.0/24), cidrGroupRef or cidrGroupSelector',
      ),
    );
  } else if (n > 1) {
    out.push(
      error(
        path,
        'cidr, cidrGroupRef and cidrGroupSelector are alternatives: set exactly one per entry, and use several entries for several blocks',
      ),
    );
  }
  if (groupSel) out.push(...checkSelector(groupSel, at(path, 'cidrGroupSelector'), false));
  if (!cidr || n > 1) return out;
  const prefix = parsePrefix(cidr);
  if (!prefix) {
    const bare = parseAddr(cidr);
    out.push(
      error(
        at(path, 'cidr'),
        bare
          ? `cidr ${show(cidr)} has no prefix length: write ${cidr}/${bare.family === 4 ? 32 : 128} for the single address`
          : `cidr ${show(cidr)} is not an IP prefix: write e.g. 192.0.2.0/24 or 2001:db8::/32`,
      ),
    );
    return out;
  }
  const excepts = arr(r.except);
  if (prefix.bits === 0 && excepts.length === 0) out.push(worldHint(prefix, cidr, at(path, 'cidr'), entityField));
  else if (!isCanonical(prefix)) out.push(nonCanonical(prefix, cidr, at(path, 'cidr')));
  excepts.forEach((e, i) => {
    const s = str(e);
    if (s === undefined) return;
    const ep = at(path, 'except', i);
    const x = parsePrefix(s);
    if (!x) {
      out.push(
        error(
          ep,
          `except ${show(s)} is not an IP prefix: write a sub-range of ${cidr} such as ${canonical({ addr: prefix.addr, bits: Math.min(prefix.bits + 8, prefix.addr.family === 4 ? 32 : 128) })}`,
        ),
      );
      return;
    }
    if (x.addr.family !== prefix.addr.family) {
      out.push(
        error(
          ep,
          `except ${s} is ${familyName(x.addr.family)} but cidr ${cidr} is ${familyName(prefix.addr.family)}: an except must be a sub-range of its cidr, of the same family; move it to an entry with an ${familyName(x.addr.family)} cidr`,
        ),
      );
      return;
    }
    if (!containsPrefix(prefix, x)) {
      out.push(
        error(
          ep,
          `except ${s} is not inside cidr ${canonical(prefix)}: list only sub-ranges of the cidr, or widen the cidr to cover it`,
        ),
      );
      return;
    }
    if (x.bits === prefix.bits) {
      out.push(
        warning(
          ep,
          `except ${s} removes the whole of cidr ${cidr}, so this entry allows nothing: drop the entry, or except a smaller range`,
        ),
      );
    } else if (!isCanonical(x)) {
      out.push(nonCanonical(x, s, ep));
    }
  });
  return out;
}
