// Wire compatibility with the real `hubble` CLI (Cilium v1.20.2, built from the Go module proxy by
// tools/hubble/build.sh and cached): it reads our flows, filters, status and nodes, and prints
// exactly what `cilium-ts observe` prints for the same flows (less our " by <rule>" suffix).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { join } from 'node:path';
import { FlowRing } from '../../src/hubble/flow-ring.ts';
import { startHubbleServer, type HubbleServer } from '../../src/hubble/server.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { flow, denied } from '../unit/hubble/fixtures.ts';
import { parseFlowsResponse } from '../unit/hubble/jsonpb.ts';

const run = promisify(execFile);
const env = { ...process.env, TZ: 'UTC', LOG_LEVEL: 'error', HUBBLE_CONFIG: '/dev/null' };

let hubble = '';
let ring: FlowRing;
let server: HubbleServer;

function buildHubble(): string {
  // cold: about 3 minutes on 2 cores (module download + compile); then a cache hit
  const out = execFileSync('bash', [join(repoRoot, 'tools', 'hubble', 'build.sh')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    timeout: 20 * 60_000,
  });
  return join(out.trim().split('\n').at(-1)!, 'hubble');
}

before(
  async () => {
    hubble = buildHubble();
    ring = new FlowRing(64);
    for (let i = 0; i < 12; i++)
      ring.push(i % 3 === 0 ? denied({ at: i * 100, sport: 1000 + i }) : flow({ at: i * 100, sport: 1000 + i }));
    ring.push(
      flow({ at: 1500, protocol: 17, sport: 5353, dport: 53, dstIdentity: 2, daddr: '1.1.1.1', direction: 'egress' }),
    );
    server = await startHubbleServer({ ring, nodeName: 'node-a', listen: '127.0.0.1:0' });
  },
  { timeout: 25 * 60_000 },
);
after(async () => {
  await server?.stop();
});

async function hubbleLines(...args: string[]): Promise<string[]> {
  const { stdout } = await run(hubble, args, { env });
  return stdout.trimEnd().split('\n').filter(Boolean);
}
async function oursLines(...args: string[]): Promise<string[]> {
  const { stdout } = await run(join(repoRoot, 'bin', 'cilium-ts'), ['observe', ...args], { env });
  return stdout.trimEnd().split('\n').filter(Boolean);
}

test('hubble observe -o json --last 5 reads our flows, byte for byte what cilium-ts observe prints', async () => {
  const lines = await hubbleLines('observe', '--server', server.address, '-o', 'json', '--last', '5');
  assert.equal(lines.length, 5);
  const flows = lines.map((l) => parseFlowsResponse(l).flow);
  assert.deepEqual(
    flows.map((f) => f.l4.TCP?.source_port ?? f.l4.UDP?.source_port),
    [1008, 1009, 1010, 1011, 5353],
  );
  const dropped = flows[1]!;
  assert.equal(dropped.verdict, 'DROPPED');
  assert.equal(dropped.drop_reason_desc, 'POLICY_DENIED');
  assert.equal(dropped.source.pod_name, 'a-7d9f');
  assert.deepEqual(dropped.destination.labels, ['k8s:app=b', 'k8s:tier=backend', 'k8s:io.kubernetes.pod.namespace=y']);
  assert.equal(dropped.ingress_denied_by?.[0]?.name, 'deny-a');
  assert.equal(dropped.time, '2025-11-28T12:00:00.900Z');
  assert.equal(flows[4]?.destination.labels?.[0], 'reserved:world');
  assert.deepEqual(await oursLines('--server', server.address, '-o', 'json', '--last', '5'), lines);
});

test('hubble observe filters and compact output agree with ours', async () => {
  for (const filter of [
    ['--verdict', 'DROPPED'],
    ['--pod', 'x/a'],
    ['--namespace', 'y', '--not', '--verdict', 'FORWARDED'],
    ['--label', 'k8s:app=b'],
    ['--to-port', '53'],
    ['--identity', 'world'],
    ['--protocol', 'udp'],
    ['--ip', '10.0.1.0/24', '--tcp-flags', 'SYN'],
    ['--type', 'trace:to-endpoint'],
    ['--traffic-direction', 'egress'],
  ]) {
    const theirs = await hubbleLines('observe', '--server', server.address, '--last', '100', ...filter);
    const ours = (await oursLines('--server', server.address, '--last', '100', ...filter)).map((l) =>
      l.replace(/ by \S+ \S+$/, ''),
    );
    assert.ok(theirs.length > 0, `${filter.join(' ')}: nothing matched`);
    assert.deepEqual(ours, theirs, filter.join(' '));
  }
  assert.deepEqual(await hubbleLines('observe', '--server', server.address, '--verdict', 'DROPPED', '--last', '1'), [
    'Nov 28 12:00:00.900: x/a-7d9f:1009 (ID:300) -> y/b-5c4e:80 (ID:301) Policy denied DROPPED (TCP Flags: SYN)',
  ]);
});

test('hubble status and hubble list nodes read ServerStatus and GetNodes', async () => {
  const status = (await hubbleLines('status', '--server', server.address)).join('\n');
  assert.match(status, /Healthcheck \(via .*\): Ok/);
  assert.match(status, /Current\/Max Flows: 13\/64/);
  assert.match(status, /Connected Nodes: 1\/1/);
  const nodes = await hubbleLines('list', 'nodes', '--server', server.address);
  assert.match(nodes[1] ?? '', /^node-a\s+Connected\s+/);
  assert.match(nodes[1] ?? '', /13\/64/);
});

test('hubble observe --follow gets flows pushed while it follows', async () => {
  const child = execFile(hubble, ['observe', '--server', server.address, '-f', '--from-port', '7000'], { env });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  try {
    const end = Date.now() + 10_000;
    while (ring.stats().followers === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    ring.push(flow({ at: 9000, sport: 7000 }));
    while (!out.includes('\n') && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
  } finally {
    child.kill('SIGINT');
    await exited;
  }
  assert.equal(
    out.trimEnd(),
    'Nov 28 12:00:09.000: x/a-7d9f:7000 (ID:300) -> y/b-5c4e:80 (ID:301) to-endpoint FORWARDED (TCP Flags: SYN)',
  );
});
