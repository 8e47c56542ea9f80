// CiliumLoadBalancerIPPool semantics, following how Cilium's LB-IPAM reads the blocks
// (ipRangeFromBlock: cidr, else start with optional stop): every block parses, ranges run upwards
// within one family, and no two blocks of the pool overlap.

import { at, error, warning, type ValidationIssue } from '../issues.ts';
import { arr, obj, show, str } from './json.ts';
import {
  canonical,
  familyName,
  formatAddr,
  isCanonical,
  parseAddr,
  parsePrefix,
  prefixRange,
  rangesOverlap,
  type IPRange,
} from '../../lib/ip.ts';
import { checkSelector } from './selector.ts';

interface Range extends IPRange {
  index: number;
  text: string;
}

export function lbPoolSemantics(doc: unknown): ValidationIssue[] {
  const spec = obj(obj(doc)?.spec);
  if (!spec) return [];
  const out: ValidationIssue[] = [];
  const ranges: Range[] = [];
  const blocks = arr(spec.blocks);
  if (Array.isArray(spec.blocks) && blocks.length === 0) {
    out.push(
      warning(
        at('spec', 'blocks'),
        'the pool has no blocks, so it has no addresses to hand out: add a block such as {cidr: 192.0.2.0/28} or {start: 192.0.2.10, stop: 192.0.2.20}',
      ),
    );
  }
  blocks.forEach((b, i) => {
    const block = obj(b);
    if (!block) return;
    const bp = at('spec', 'blocks', i);
    const cidr = str(block.cidr) || undefined;
    const start = str(block.start) || undefined;
    const stop = str(block.stop) || undefined;
    if (cidr && (start || stop)) {
      out.push(
        error(
          bp,
          'a block is either a cidr or a start/stop range, not both: keep cidr and remove start/stop, or the other way round, or make them two blocks',
        ),
      );
      return;
    }
    if (!cidr && !start) {
      out.push(
        error(
          bp,
          stop
            ? 'stop without start: set start to the first address of the range (start alone stands for a single address)'
            : 'the block is empty: set cidr (e.g. 192.0.2.0/28) or start and stop (e.g. 192.0.2.10 to 192.0.2.20)',
        ),
      );
      return;
    }
    if (cidr) {
      const p = parsePrefix(cidr);
      if (!p) {
        const a = parseAddr(cidr);
        out.push(
          error(
            at(bp, 'cidr'),
            a
              ? `cidr ${show(cidr)} has no prefix length: write ${cidr}/${a.family === 4 ? 32 : 128}, or use start for a single address`
              : `cidr ${show(cidr)} is not an IP prefix: write e.g. 192.0.2.0/28 or 2001:db8::/120`,
          ),
        );
        return;
      }
      if (!isCanonical(p))
        out.push(
          warning(at(bp, 'cidr'), `${cidr} has host bits set, so the block is ${canonical(p)}: write ${canonical(p)}`),
        );
      ranges.push({ index: i, ...prefixRange(p), text: canonical(p) });
      return;
    }
    const a = parseAddr(start ?? '');
    if (!a) {
      out.push(
        error(at(bp, 'start'), `start ${show(start)} is not an IP address: write e.g. 192.0.2.10 or 2001:db8::10`),
      );
      return;
    }
    if (!stop) {
      ranges.push({ index: i, family: a.family, first: a.value, last: a.value, text: start ?? '' });
      return;
    }
    const z = parseAddr(stop);
    if (!z) {
      out.push(
        error(
          at(bp, 'stop'),
          `stop ${show(stop)} is not an IP address: write the last address of the range, e.g. 192.0.2.20`,
        ),
      );
      return;
    }
    if (z.family !== a.family) {
      out.push(
        error(
          at(bp, 'stop'),
          `stop ${stop} is ${familyName(z.family)} but start ${start} is ${familyName(a.family)}: a range lies within one family; use two blocks for two families`,
        ),
      );
      return;
    }
    if (z.value < a.value) {
      out.push(
        error(at(bp, 'stop'), `stop ${stop} comes before start ${start}: swap them, or set stop to ${start} or later`),
      );
      return;
    }
    ranges.push({ index: i, family: a.family, first: a.value, last: z.value, text: `${start}-${stop}` });
  });
  for (let j = 1; j < ranges.length; j++) {
    const r = ranges[j];
    if (!r) continue;
    for (const q of ranges.slice(0, j)) {
      if (rangesOverlap(q, r)) {
        const lo = q.first > r.first ? q.first : r.first;
        const hi = q.last < r.last ? q.last : r.last;
        const shared = lo === hi ? formatAddr(r.family, lo) : `${formatAddr(r.family, lo)}-${formatAddr(r.family, hi)}`;
        out.push(
          error(
            at('spec', 'blocks', r.index),
            `${r.text} overlaps blocks[${q.index}] (${q.text}) in ${shared}: make the blocks disjoint, or merge them into one`,
          ),
        );
        break;
      }
    }
  }
  if (obj(spec.serviceSelector)) out.push(...checkSelector(spec.serviceSelector, at('spec', 'serviceSelector'), false));
  return out;
}
