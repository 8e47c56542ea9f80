// `cilium-ts status` as a person reads it: Cilium's aligned `Key:   State   detail` lines, Hubble as
// `cilium status` prints it; and flag values that are not numbers refused with the flag's name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hubbleLine, renderStatus } from '../../src/cli/status.ts';
import { FlagError, integerFlag, portFlag } from '../../src/cli/flags.ts';
import type { FlowStats, StatusResponse } from '../../src/cli/agent-wire.ts';

const flows: FlowStats = {
  capacity: 4095,
  size: 22,
  seen: 1234,
  overwritten: 0,
  lostKernel: 0,
  lostFollowers: 0,
  followers: 1,
  address: '0.0.0.0:4245',
  rate: 1.3,
};

const status: StatusResponse = {
  node: 'node-1',
  agent: 'ok',
  kubernetes: [
    { watch: 'pods', synced: true, error: null },
    { watch: 'cep', synced: true, error: null },
  ],
  datapath: { mode: 'tc (bpf_lxc on each pod veth)', pinRoot: '/sys/fs/bpf/cilium-ts', podCidr: '10.0.1.0/24' },
  enforcementMode: 'default',
  endpoints: { total: 3, ready: 2, enforcingIngress: 1, enforcingEgress: 0 },
  identities: 9,
  policies: 1,
  maps: [{ name: 'cilium_ipcache', entries: 5, maxEntries: 512000, pressure: 5 / 512000 }],
  flows,
};

test('Hubble reads as in cilium status: current/max flows with a percentage, flows per second', () => {
  assert.equal(hubbleLine(flows), 'Ok   Current/Max Flows: 22/4,095 (0.54%), Flows/s: 1.30   Server: 0.0.0.0:4245');
  assert.equal(hubbleLine(undefined), 'Disabled');
  const older: FlowStats = { ...flows, lostKernel: 2000 };
  delete older.rate;
  assert.match(hubbleLine(older), /^Ok {3}Current\/Max Flows: 22\/4,095 \(0\.54%\), Lost: 2,000 /);
});

test('every line is Key: padded to one column, no JSON', () => {
  const text = renderStatus(status, false);
  for (const line of text.trimEnd().split('\n')) assert.match(line, /^[A-Z][\w ]*: +\S/);
  const valueColumns = new Set(
    text
      .trimEnd()
      .split('\n')
      .map((l) => l.search(/(?<=: +)\S/)),
  );
  assert.deepEqual([...valueColumns], [25]);
  assert.match(text, /^Agent: +ok$/m);
  assert.match(text, /^Kubernetes: +Ok {3}2\/2 watches synced$/m);
  assert.match(text, /^Endpoints: +2\/3 ready, 1 enforcing ingress, 0 enforcing egress$/m);
  assert.match(text, /^Hubble: +Ok {3}Current\/Max Flows: 22\/4,095 \(0\.54%\), Flows\/s: 1\.30/m);
  assert.doesNotMatch(text, /[{}]/);
});

test('--verbose adds the flow counters and the BPF maps', () => {
  const text = renderStatus(status, true);
  assert.match(text, /^ {2}Seen flows: +1,234$/m);
  assert.match(text, /^cilium_ipcache +5 +512000 +0\.0%$/m);
});

test('a failing watch is a Failure naming it', () => {
  const text = renderStatus({ ...status, kubernetes: [{ watch: 'pods', synced: false, error: 'forbidden' }] }, false);
  assert.match(text, /^Kubernetes: +Failure {3}pods: forbidden$/m);
});

test('numeric flags refuse what is not a number, naming the flag', () => {
  assert.equal(portFlag('port', '5432'), 5432);
  assert.equal(integerFlag('flow-capacity', '4095'), 4095);
  assert.throws(
    () => portFlag('port', '80x'),
    (e: Error) => e instanceof FlagError && /--port .*"80x"/.test(e.message),
  );
  assert.throws(() => portFlag('port', '70000'), /--port must be an integer from 0 to 65535/);
  assert.throws(() => integerFlag('last', '-1'), /--last must be a non-negative integer/);
});
