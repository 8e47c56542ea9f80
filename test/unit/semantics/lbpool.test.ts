// CiliumLoadBalancerIPPool semantics: block shape, parsing, order, family, overlap, serviceSelector.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lbPoolSemantics } from '../../../src/webhooks/semantics/index.ts';
import { assertIssue, type Case, type Doc } from './helpers.ts';

function pool(spec: Doc): Doc {
  return { apiVersion: 'cilium.io/v2', kind: 'CiliumLoadBalancerIPPool', metadata: { name: 'p' }, spec };
}
const P =
  (blocks: unknown[], extra: Doc = {}) =>
  () =>
    lbPoolSemantics(pool({ blocks, ...extra }));

const invalid: Case[] = [
  {
    name: 'cidr and start together',
    run: P([{ cidr: '10.0.0.0/24', start: '10.0.0.1' }]),
    path: 'spec.blocks[0]',
    fragment: 'either a cidr or a start/stop range, not both',
  },
  { name: 'empty block', run: P([{}]), path: 'spec.blocks[0]', fragment: 'the block is empty' },
  {
    name: 'stop without start',
    run: P([{ stop: '10.0.0.9' }]),
    path: 'spec.blocks[0]',
    fragment: 'stop without start',
  },
  {
    name: 'cidr does not parse',
    run: P([{ cidr: '10.0.0.0/40' }]),
    path: 'spec.blocks[0].cidr',
    fragment: 'is not an IP prefix',
  },
  {
    name: 'cidr without length',
    run: P([{ cidr: '10.0.0.5' }]),
    path: 'spec.blocks[0].cidr',
    fragment: 'write 10.0.0.5/32',
  },
  {
    name: 'start does not parse',
    run: P([{ start: '10.0.0.256', stop: '10.0.1.1' }]),
    path: 'spec.blocks[0].start',
    fragment: 'is not an IP address',
  },
  {
    name: 'stop does not parse',
    run: P([{ start: '10.0.0.1', stop: 'ten' }]),
    path: 'spec.blocks[0].stop',
    fragment: 'is not an IP address',
  },
  {
    name: 'stop before start',
    run: P([{ start: '10.0.0.9', stop: '10.0.0.1' }]),
    path: 'spec.blocks[0].stop',
    fragment: 'comes before start',
  },
  {
    name: 'families differ',
    run: P([{ start: '10.0.0.1', stop: '2001:db8::1' }]),
    path: 'spec.blocks[0].stop',
    fragment: 'is IPv6 but start 10.0.0.1 is IPv4',
  },
  {
    name: 'two cidrs overlap',
    run: P([{ cidr: '10.0.0.0/24' }, { cidr: '10.0.0.128/25' }]),
    path: 'spec.blocks[1]',
    fragment: 'overlaps blocks[0] (10.0.0.0/24) in 10.0.0.128-10.0.0.255',
  },
  {
    name: 'range overlaps a cidr',
    run: P([{ cidr: '2001:db8::/120' }, { start: '2001:db8::ff', stop: '2001:db8::1ff' }]),
    path: 'spec.blocks[1]',
    fragment: 'in 2001:db8::ff',
  },
  {
    name: 'single address inside a range',
    run: P([{ start: '10.0.0.1', stop: '10.0.0.9' }, { start: '10.0.0.5' }]),
    path: 'spec.blocks[1]',
    fragment: 'overlaps blocks[0]',
  },
  {
    name: 'serviceSelector Exists with values',
    run: P([{ cidr: '10.0.0.0/24' }], {
      serviceSelector: { matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] },
    }),
    path: 'spec.serviceSelector.matchExpressions[0].values',
    fragment: 'takes no values',
  },
];

describe('LB pool semantics', () => {
  for (const c of invalid) it(c.name, () => assertIssue(c.run(), c));

  it('a well-formed pool has no issues', () => {
    const issues = lbPoolSemantics(
      pool({
        blocks: [
          { cidr: '10.0.0.0/24' },
          { cidr: '10.0.1.0/24' },
          { start: '10.0.2.10', stop: '10.0.2.20' },
          { start: '10.0.2.21' },
          { cidr: '2001:db8::/120' },
          { start: '2001:db8::1000', stop: '2001:db8::1fff' },
        ],
        serviceSelector: { matchLabels: { 'io.kubernetes.service.namespace': 'default', color: 'blue' } },
      }),
    );
    assert.deepEqual(issues, []);
  });

  it('start alone is one address, as Cilium LB-IPAM reads it', () =>
    assert.deepEqual(lbPoolSemantics(pool({ blocks: [{ start: '192.0.2.7' }] })), []));

  it('IPv4 and IPv6 blocks with the same numbers do not overlap', () =>
    assert.deepEqual(lbPoolSemantics(pool({ blocks: [{ cidr: '0.0.0.0/24' }, { cidr: '::/120' }] })), []));

  it('warns about host bits and empty block lists', () => {
    assertIssue(lbPoolSemantics(pool({ blocks: [{ cidr: '10.0.0.7/24' }] })), {
      path: 'spec.blocks[0].cidr',
      fragment: 'write 10.0.0.0/24',
      severity: 'warning',
    });
    assertIssue(lbPoolSemantics(pool({ blocks: [] })), {
      path: 'spec.blocks',
      fragment: 'no addresses to hand out',
      severity: 'warning',
    });
  });
});
