// The relay's pure parts: merging several nodes' answers (the newest N of the cluster), the follow
// sort buffer, and the peers read from CiliumNodes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSnapshot } from '../../../src/hubble/relay/flow-order.ts';
import { SortBuffer } from '../../../src/hubble/relay/sort-buffer.ts';
import {
  HUBBLE_ADDRESS_ANNOTATION,
  peersFromCiliumNodes,
  publishedHubbleAddress,
} from '../../../src/hubble/peer-source.ts';
import { PeerNotifier, type PeerChange } from '../../../src/hubble/peer-service.ts';
import { timestampFromMs } from '../../../src/hubble/flow.ts';
import type { GetFlowsResponse } from '../../../src/hubble/printer.ts';
import type { CiliumNode } from '../../../src/api/types.generated.ts';

const res = (ms: number, node: string): GetFlowsResponse => ({
  flow: { time: timestampFromMs(ms), node_name: node },
  node_name: node,
  time: timestampFromMs(ms),
});
const lost = (ms: number): GetFlowsResponse => ({ lost_events: { num_events_lost: 1 }, time: timestampFromMs(ms) });
const times = (rs: GetFlowsResponse[]) => rs.map((r) => Number(r.time!.seconds) * 1000 + r.time!.nanos! / 1e6);

test('mergeSnapshot: time order across nodes; last N and first N of the merge, not per node', () => {
  const a = [res(1000, 'a'), res(4000, 'a'), res(7000, 'a')];
  const b = [res(2000, 'b'), res(5000, 'b'), lost(5500), res(8000, 'b')];
  const c = [res(3000, 'c'), res(6000, 'c')];
  assert.deepEqual(times(mergeSnapshot([a, b, c], {})), [1000, 2000, 3000, 4000, 5000, 5500, 6000, 7000, 8000]);
  assert.deepEqual(times(mergeSnapshot([a, b, c], { number: 3 })), [6000, 7000, 8000]);
  assert.deepEqual(times(mergeSnapshot([a, b, c], { number: 4 })), [5000, 5500, 6000, 7000, 8000], 'lost events kept');
  assert.deepEqual(times(mergeSnapshot([a, b, c], { number: 2, first: true })), [1000, 2000]);
  assert.deepEqual(times(mergeSnapshot([a, b, c], { number: 2, since: {} })), [1000, 2000]);
  assert.equal(mergeSnapshot([a, b, c], { number: 100 }).length, 9);
});

test('SortBuffer: releases in time order after the drain time, or the oldest when full', () => {
  let now = 0;
  const out: number[] = [];
  const buf = new SortBuffer<number>({
    timeOf: (x) => x,
    emit: (x) => out.push(x),
    drainMs: 100,
    maxLen: 3,
    now: () => now,
  });
  buf.push(30);
  buf.push(10);
  buf.push(20);
  assert.deepEqual(out, []);
  buf.push(5);
  assert.deepEqual(out, [5], 'over maxLen: the oldest by time leaves');
  now = 100;
  buf.push(40);
  assert.deepEqual(out, [5, 10, 20, 30], 'held for drainMs: out in time order');
  buf.flush();
  assert.deepEqual(out, [5, 10, 20, 30, 40]);
  buf.close();
});

const cn = (name: string, ip?: string, annotation?: string): CiliumNode => ({
  apiVersion: 'cilium.io/v2',
  kind: 'CiliumNode',
  metadata: { name, ...(annotation ? { annotations: { [HUBBLE_ADDRESS_ANNOTATION]: annotation } } : {}) },
  spec: {
    addresses: [
      ...(ip
        ? [
            { type: 'InternalIP', ip: 'fd00::1' },
            { type: 'InternalIP', ip },
          ]
        : []),
      { type: 'CiliumInternalIP', ip: '10.0.0.1' },
    ],
  },
});

test('peers from CiliumNodes: the published address, else InternalIP (IPv4 first) and the Hubble port', () => {
  assert.deepEqual(
    peersFromCiliumNodes([cn('n2', '192.168.0.2'), cn('n1', '192.168.0.1', '127.0.0.1:43121'), cn('n3')]),
    [
      { name: 'n1', address: '127.0.0.1:43121' },
      { name: 'n2', address: '192.168.0.2:4245' },
      { name: 'n3', address: '' },
    ],
  );
  assert.equal(publishedHubbleAddress('127.0.0.1:0', 43121, '192.168.0.1'), '127.0.0.1:43121');
  assert.equal(publishedHubbleAddress('0.0.0.0:4245', 4245, '192.168.0.1'), '192.168.0.1:4245');
  assert.equal(publishedHubbleAddress('[::]:4245', 4245, 'fd00::1'), '[fd00::1]:4245');
  assert.equal(publishedHubbleAddress('unix:/var/run/cilium-ts/hubble.sock', 0, '192.168.0.1'), undefined);
});

test('PeerNotifier: a new subscriber gets every peer as added, then the differences of each new list', () => {
  const n = new PeerNotifier();
  n.set([{ name: 'a', address: '1:1' }]);
  const seen: PeerChange[] = [];
  n.subscribe((c) => seen.push(c));
  n.set([
    { name: 'a', address: '1:2' },
    { name: 'b', address: '2:1' },
  ]);
  n.set([{ name: 'b', address: '2:1' }]);
  assert.deepEqual(
    seen.map((c) => `${c.type} ${c.peer.name} ${c.peer.address}`),
    ['PEER_ADDED a 1:1', 'PEER_UPDATED a 1:2', 'PEER_ADDED b 2:1', 'PEER_DELETED a 1:2'],
  );
});
