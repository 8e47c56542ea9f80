// The agent's CiliumNode and metrics against a real apiserver and the real datapath: the node's
// addresses appear in `kubectl get ciliumnodes` (INTERNALIP from the Node, CILIUMINTERNALIP once
// the operator's pod CIDR arrives), the operator's field is never touched, and /metrics serves
// Cilium's counters with prom-client's runtime metrics.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { Agent } from '../../src/agent/agent.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { logger } from '../../src/lib/log.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import { requireDatapath } from '../datapath/env.ts';
import { waitFor } from '../harness/wait.ts';

requireDatapath();

const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-agent-node-'));
const pinRoot = `/sys/fs/bpf/cilium-ts-test-agent-node-${process.pid}`;
const NODE = 'agent-node-1';
const POD_CIDR = `10.203.${process.pid % 250}.0/24`;
const ROUTER_IP = POD_CIDR.replace(/0\/24$/, '1');

let cp: ControlPlane;
let agent: Agent | undefined;

const kubectl = async (args: string[], stdin?: string) => {
  const r = await cp.kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const ciliumNode = async () =>
  JSON.parse(await kubectl(['get', 'ciliumnode', NODE, '-o', 'json'])) as {
    spec: { addresses?: Array<{ type: string; ip: string }>; ipam?: { podCIDRs?: string[] } };
  };

describe("the agent's CiliumNode and metrics", () => {
  before(async () => {
    cp = await startControlPlane({ dir: join(tmp, 'cp'), keepDir: true, crds: [join(repoRoot, 'crds')] });
    // No kubelet: the Node has no addresses yet when the agent starts.
    await kubectl(['apply', '-f', '-'], `apiVersion: v1\nkind: Node\nmetadata: {name: ${NODE}}\n`);
    agent = await Agent.start({
      kc: loadKubeConfig(cp.kubeconfig),
      nodeName: NODE,
      stateDir: join(tmp, 'agent'),
      socketPath: join(tmp, 'cni.sock'),
      pinRoot,
      healthPort: 0,
      log: logger('agent'),
    });
  });

  after(async () => {
    await agent?.stop();
    rmSync(pinRoot, { recursive: true, force: true });
    await cp?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('registers the CiliumNode, then adds CILIUMINTERNALIP when the operator gives a pod CIDR', async () => {
    assert.deepEqual((await ciliumNode()).spec.addresses ?? [], []);
    await assert.rejects(agent!.ready(100), /no pod CIDR yet/);
    // What the operator's pod-CIDR allocator writes, under its own field manager.
    await kubectl([
      'patch',
      'ciliumnode',
      NODE,
      '--type',
      'merge',
      '-p',
      JSON.stringify({ spec: { ipam: { podCIDRs: [POD_CIDR] } } }),
    ]);
    await agent!.ready(10_000);
    const cn = await waitFor('the CiliumInternalIP', async () => {
      const n = await ciliumNode();
      return n.spec.addresses?.some((a) => a.type === 'CiliumInternalIP') && n;
    });
    assert.deepEqual(cn.spec.addresses, [{ type: 'CiliumInternalIP', ip: ROUTER_IP }]);
    assert.deepEqual(cn.spec.ipam?.podCIDRs, [POD_CIDR], "the operator's field stays");
  });

  it("adds the Node's InternalIP when it appears; kubectl shows both columns", async () => {
    const status = {
      status: {
        addresses: [
          { type: 'InternalIP', address: '192.168.77.10' },
          { type: 'Hostname', address: NODE },
        ],
      },
    };
    await kubectl(['patch', 'node', NODE, '--subresource=status', '--type', 'merge', '-p', JSON.stringify(status)]);
    await waitFor('the InternalIP in the CiliumNode', async () =>
      (await ciliumNode()).spec.addresses?.some((a) => a.type === 'InternalIP' && a.ip === '192.168.77.10'),
    );
    const table = await kubectl(['get', 'ciliumnodes', NODE]);
    assert.match(table, /CILIUMINTERNALIP\s+INTERNALIP/);
    assert.match(table, new RegExp(`${NODE}\\s+${ROUTER_IP.replaceAll('.', '\\.')}\\s+192\\.168\\.77\\.10`));
    assert.deepEqual((await ciliumNode()).spec.ipam?.podCIDRs, [POD_CIDR]);
  });

  it("serves Cilium's metrics with their types, and the process metrics", async () => {
    const text = await (await fetch(`http://127.0.0.1:${agent!.health!.port}/metrics`)).text();
    for (const name of [
      'cilium_drop_count_total',
      'cilium_drop_bytes_total',
      'cilium_forward_count_total',
      'cilium_forward_bytes_total',
      'cilium_endpoint_regenerations_total',
      'hubble_flows_processed_total',
      'hubble_lost_events_total',
    ]) {
      assert.match(text, new RegExp(`^# TYPE ${name} counter$`, 'm'));
    }
    assert.match(text, /^# TYPE cilium_endpoint gauge$/m);
    assert.match(text, /^cilium_identity\{type="reserved"\} \d+$/m);
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^nodejs_eventloop_lag_seconds /m);
  });
});
