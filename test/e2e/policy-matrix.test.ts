// Policies enforced on real pods: the upstream Kubernetes NetworkPolicy e2e model (namespaces
// x, y, z; pods a, b, c serving 80 and 81 over TCP and UDP), a real apiserver, our agent (watches,
// identities, policy engine, datapath) and real connections between network namespaces. Every
// case applies manifests with kubectl, waits until the agent has taken them in, and checks the
// full 9×9 probe matrix against the model's expectation.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { Agent } from '../../src/agent/agent.ts';
import { addPod, deletePod, listPods, type LabPod, type LabPodOptions } from '../../src/lab/pods.ts';
import { formatMatrix, probeMatrix, type ProbeProtocol } from '../../src/lab/probe.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { logger } from '../../src/lib/log.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import { requireDatapath } from '../datapath/env.ts';

requireDatapath();

const tmp = mkdtempSync(join(tmpdir(), 'cilium-ts-matrix-'));
const labDir = join(tmp, 'lab');
const pinRoot = `/sys/fs/bpf/cilium-ts-test-matrix-${process.pid}`;
const podCidr = `10.204.${process.pid % 250}.0/24`;
const NODE = 'matrix-node';
const opts: LabPodOptions = {
  kubeconfig: join(labDir, 'kubeconfig'),
  stateDir: join(labDir, 'pods'),
  cniSocket: join(labDir, 'cni.sock'),
  nodeName: NODE,
};
const NAMESPACES = ['x', 'y', 'z'] as const;
const PODS = ['a', 'b', 'c'] as const;

let cp: ControlPlane;
let agent: Agent;
let pods: LabPod[] = [];

interface P {
  ns: string;
  pod: string;
  ip: string;
}
type Expect = (from: P, to: P) => boolean;

const kubectl = async (args: string[], stdin?: string) => {
  const r = await cp.kubectl(args, stdin);
  assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
/** Applies one manifest and waits until the agent holds that very version of it. */
async function apply(yaml: string): Promise<void> {
  const out = await kubectl(
    ['apply', '-f', '-', '-o', 'jsonpath={.kind}/{.metadata.namespace}/{.metadata.name} {.metadata.resourceVersion}'],
    yaml,
  );
  const [key = '', rv = ''] = out.trim().split(' ');
  const deadline = Date.now() + 15_000;
  while (agent.policyRevisions.get(key) !== rv) {
    assert.ok(Date.now() < deadline, `the agent never saw ${key} at resourceVersion ${rv}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await agent.idle();
}
const remove = (yaml: string) => kubectl(['delete', '-f', '-'], yaml);

/** Waits until the agent's engine holds exactly these policies and every regeneration is done. */
async function settled(names: string[]): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const held = [
      ...new Set(agent.engine.rules().map((r) => `${r.policy.kind}/${r.policy.namespace ?? ''}/${r.policy.name}`)),
    ].sort();
    if (JSON.stringify(held) === JSON.stringify([...names].sort())) break;
    if (Date.now() > deadline) assert.fail(`agent holds ${JSON.stringify(held)}, expected ${JSON.stringify(names)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  await agent.idle();
}

async function check(expect: Expect, port = 80, protocol: ProbeProtocol = 'TCP'): Promise<void> {
  const m = await probeMatrix(pods, port, protocol, 800);
  // A pod reaches itself over loopback inside its namespace, whatever the policy (upstream's
  // AllowLoopback): the diagonal is always allowed.
  const want = pods.map((f) =>
    pods.map(
      (t) => f === t || expect({ ns: f.namespace, pod: f.name, ip: f.ip }, { ns: t.namespace, pod: t.name, ip: t.ip }),
    ),
  );
  if (JSON.stringify(m.allowed) !== JSON.stringify(want)) {
    assert.fail(
      `${protocol}/${port} probe matrix differs (got, then expected):\n${formatMatrix(m)}\n${formatMatrix({ ...m, allowed: want })}`,
    );
  }
}

const all: Expect = () => true;
const np = (ns: string, name: string, spec: string) =>
  `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: ${name}, namespace: "${ns}"}\nspec:\n${spec}`;
const cnp = (ns: string, name: string, spec: string) =>
  `apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {name: ${name}, namespace: "${ns}"}\nspec:\n${spec}`;

describe('the NetworkPolicy model x/y/z × a/b/c, enforced by the agent on real pods', () => {
  before(async () => {
    cp = await startControlPlane({ dir: labDir, keepDir: true, crds: [join(repoRoot, 'crds')] });
    for (const ns of NAMESPACES) {
      await kubectl(['create', 'namespace', ns]);
      await kubectl(['label', 'namespace', ns, `ns=${ns}`]);
    }
    agent = await Agent.start({
      kc: loadKubeConfig(cp.kubeconfig),
      nodeName: NODE,
      stateDir: join(tmp, 'agent'),
      socketPath: opts.cniSocket,
      pinRoot,
      podCidr,
      log: logger('agent'),
    });
    pods = [];
    for (const ns of NAMESPACES) {
      pods.push(...(await Promise.all(PODS.map((p) => addPod(opts, ns, p, { pod: p })))));
    }
  });

  after(async () => {
    for (const p of listPods(opts))
      await deletePod(opts, p.namespace, p.name, { bestEffort: true }).catch(() => undefined);
    await agent?.stop();
    for (const p of pods)
      try {
        execFileSync('ip', ['netns', 'del', p.netns], { stdio: 'ignore' });
      } catch {
        /* gone */
      }
    rmSync(pinRoot, { recursive: true, force: true });
    await cp?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('gives every pod an identity and a ready CiliumEndpoint, as kubectl shows them', async () => {
    const out = await kubectl(['get', 'ciliumendpoints', '-A', '-o', 'json']);
    const ceps = (
      JSON.parse(out) as {
        items: Array<{
          metadata: { namespace: string; name: string };
          status: {
            state: string;
            identity: { id: number; labels: string[] };
            networking: { addressing: Array<{ ipv4: string }> };
          };
        }>;
      }
    ).items;
    assert.equal(ceps.length, 9);
    for (const p of pods) {
      const c = ceps.find((e) => e.metadata.namespace === p.namespace && e.metadata.name === p.name);
      assert.ok(c, `no CiliumEndpoint ${p.namespace}/${p.name}`);
      assert.equal(c.status.state, 'ready');
      assert.equal(c.status.networking.addressing[0]!.ipv4, p.ip);
      assert.ok(c.status.identity.id >= 256, `identity ${c.status.identity.id}`);
      assert.ok(c.status.identity.labels.includes(`k8s:pod=${p.name}`));
      assert.ok(c.status.identity.labels.includes(`k8s:io.kubernetes.pod.namespace=${p.namespace}`));
    }
    // Pods with the same labels in one namespace would share; here every (ns, pod) differs.
    assert.equal(new Set(ceps.map((c) => c.status.identity.id)).size, 9);
    const table = await kubectl(['get', 'cep', '-n', 'x']);
    assert.match(table, /SECURITY IDENTITY\s+ENDPOINT STATE\s+IPV4/);
    assert.match(table, /\ba\s+\d+\s+ready\s+10\.204\./);
    const ids = JSON.parse(await kubectl(['get', 'ciliumidentities', '-o', 'json'])) as {
      items: Array<{ metadata: { labels: Record<string, string> } }>;
    };
    assert.equal(ids.items.length, 9);
    for (const i of ids.items) {
      assert.equal(i.metadata.labels['app.kubernetes.io/managed-by'], 'cilium-ts-agent');
      assert.equal(i.metadata.labels['pod'], undefined, 'pod labels are not copied into metadata (GitOps pruning)');
    }
  });

  it('allows everything while no policy selects a pod', async () => {
    await check(all);
    await check(all, 81, 'UDP');
  });

  const denyIngressX = np('x', 'deny-ingress', '  podSelector: {}\n  policyTypes: [Ingress]\n');
  it('default deny ingress in x', async () => {
    await apply(denyIngressX);
    await settled(['NetworkPolicy/x/deny-ingress']);
    await check((_f, t) => t.ns !== 'x');
  });

  const allowSameNs = np(
    'x',
    'allow-same-ns',
    '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {}}]}]\n',
  );
  it('podSelector: x/a accepts its own namespace, on top of the deny', async () => {
    await apply(allowSameNs);
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-same-ns']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && f.ns === 'x'));
    await remove(allowSameNs);
  });

  it('namespaceSelector: x/a accepts namespace y', async () => {
    await apply(
      np(
        'x',
        'allow-ns-y',
        '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-ns-y']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && f.ns === 'y'));
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-ns-y']);
  });

  it('namespaceSelector AND podSelector in one peer: only y/b', async () => {
    await apply(
      np(
        'x',
        'allow-yb',
        '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "y"}}, podSelector: {matchLabels: {pod: b}}}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-yb']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && f.ns === 'y' && f.pod === 'b'));
  });

  it('a policy update replaces the old rule (now z/c instead of y/b)', async () => {
    await apply(
      np(
        'x',
        'allow-yb',
        '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {ns: "z"}}, podSelector: {matchLabels: {pod: c}}}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-yb']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && f.ns === 'z' && f.pod === 'c'));
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-yb']);
  });

  it('ports: x/a accepts everyone on 81 only (TCP and the UDP twin stays closed)', async () => {
    await apply(
      np(
        'x',
        'allow-81',
        '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{ports: [{port: 81, protocol: TCP}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-81']);
    await check((_f, t) => t.ns !== 'x', 80);
    await check((_f, t) => t.ns !== 'x' || t.pod === 'a', 81);
    await check((_f, t) => t.ns !== 'x', 81, 'UDP');
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-81']);
  });

  it('named port: serve-81-udp allows UDP 81 to x/b', async () => {
    await apply(
      np(
        'x',
        'allow-named',
        '  podSelector: {matchLabels: {pod: b}}\n  ingress: [{ports: [{port: serve-81-udp, protocol: UDP}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-named']);
    await check((_f, t) => t.ns !== 'x' || t.pod === 'b', 81, 'UDP');
    await check((_f, t) => t.ns !== 'x', 81, 'TCP');
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-named']);
  });

  it('endPort: a range 80-81 opens both ports to x/c', async () => {
    await apply(
      np(
        'x',
        'allow-range',
        '  podSelector: {matchLabels: {pod: c}}\n  ingress: [{ports: [{port: 80, endPort: 81, protocol: TCP}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-range']);
    await check((_f, t) => t.ns !== 'x' || t.pod === 'c', 80);
    await check((_f, t) => t.ns !== 'x' || t.pod === 'c', 81);
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-range']);
  });

  it('ipBlock with except also matches pod IPs: all pods but y/b reach x/a', async () => {
    const yb = pods.find((p) => p.namespace === 'y' && p.name === 'b')!;
    await apply(
      np(
        'x',
        'allow-block',
        `  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{ipBlock: {cidr: ${podCidr}, except: [${yb.ip}/32]}}]}]\n`,
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-block']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && !(f.ns === 'y' && f.pod === 'b')));
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-block']);
  });

  it('a label change on a running pod moves it into a rule: z/c relabelled pod=b', async () => {
    await apply(
      np(
        'x',
        'allow-b',
        '  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {}, podSelector: {matchLabels: {pod: b}}}]}]\n',
      ),
    );
    await settled(['NetworkPolicy/x/deny-ingress', 'NetworkPolicy/x/allow-b']);
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && f.pod === 'b'));
    await kubectl(['label', 'pod', '-n', 'z', 'c', 'pod=b', '--overwrite']);
    const deadline = Date.now() + 10_000;
    const zc = () => agent.localEndpoints().find((e) => e.namespace === 'z' && e.pod === 'c');
    while (!zc()?.labels.includes('k8s:pod=b')) {
      assert.ok(Date.now() < deadline, 'z/c never got its new identity');
      await new Promise((r) => setTimeout(r, 20));
    }
    await agent.idle();
    await check((f, t) => t.ns !== 'x' || (t.pod === 'a' && (f.pod === 'b' || (f.ns === 'z' && f.pod === 'c'))));
    await kubectl(['label', 'pod', '-n', 'z', 'c', 'pod=c', '--overwrite']);
    await kubectl(['delete', 'networkpolicy', '-n', 'x', 'allow-b']);
  });

  it('deleting the policy restores connectivity', async () => {
    await remove(denyIngressX);
    await settled([]);
    await check(all);
  });

  it('default deny egress in y', async () => {
    await apply(np('y', 'deny-egress', '  podSelector: {}\n  policyTypes: [Egress]\n'));
    await settled(['NetworkPolicy/y/deny-egress']);
    await check((f) => f.ns !== 'y');
  });

  it('egress allowed to namespace z only, from y (no policyTypes: Ingress is implied too)', async () => {
    await apply(
      np('y', 'egress-z', '  podSelector: {}\n  egress: [{to: [{namespaceSelector: {matchLabels: {ns: "z"}}}]}]\n'),
    );
    await settled(['NetworkPolicy/y/deny-egress', 'NetworkPolicy/y/egress-z']);
    // Without policyTypes a NetworkPolicy always isolates ingress as well: nothing reaches y.
    await check((f, t) => t.ns !== 'y' && (f.ns !== 'y' || t.ns === 'z'));
    await kubectl(['delete', 'networkpolicy', '-n', 'y', 'egress-z', 'deny-egress']);
    await settled([]);
  });

  it('CiliumNetworkPolicy: ingressDeny beats an allow-all for y/b', async () => {
    await apply(
      cnp(
        'x',
        'deny-yb',
        `  endpointSelector: {matchLabels: {pod: a}}
  ingress: [{fromEntities: [cluster]}]
  ingressDeny: [{fromEndpoints: [{matchLabels: {k8s:io.kubernetes.pod.namespace: "y", pod: b}}]}]
`,
      ),
    );
    await settled(['CiliumNetworkPolicy/x/deny-yb']);
    await check((f, t) => !(t.ns === 'x' && t.pod === 'a') || !(f.ns === 'y' && f.pod === 'b'));
    await kubectl(['delete', 'cnp', '-n', 'x', 'deny-yb']);
  });

  it('CiliumNetworkPolicy: fromEntities world does not admit pods; cluster does', async () => {
    await apply(
      cnp('x', 'world-only', '  endpointSelector: {matchLabels: {pod: a}}\n  ingress: [{fromEntities: [world]}]\n'),
    );
    await settled(['CiliumNetworkPolicy/x/world-only']);
    await check((_f, t) => !(t.ns === 'x' && t.pod === 'a'));
    await apply(
      cnp('x', 'world-only', '  endpointSelector: {matchLabels: {pod: a}}\n  ingress: [{fromEntities: [cluster]}]\n'),
    );
    await check(all);
    await kubectl(['delete', 'cnp', '-n', 'x', 'world-only']);
  });

  it('CiliumNetworkPolicy: a CIDR rule never selects pods (Cilium), unlike ipBlock', async () => {
    await apply(
      cnp(
        'x',
        'cidr',
        `  endpointSelector: {matchLabels: {pod: a}}\n  ingress: [{fromCIDRSet: [{cidr: ${podCidr}}]}]\n`,
      ),
    );
    await settled(['CiliumNetworkPolicy/x/cidr']);
    await check((_f, t) => !(t.ns === 'x' && t.pod === 'a'));
    await kubectl(['delete', 'cnp', '-n', 'x', 'cidr']);
  });

  it('CiliumNetworkPolicy: fromEndpoints is namespace-scoped; egress toPorts limits y/a', async () => {
    await apply(
      cnp(
        'x',
        'same-ns-b',
        '  endpointSelector: {matchLabels: {pod: a}}\n  ingress: [{fromEndpoints: [{matchLabels: {pod: b}}]}]\n',
      ),
    );
    await apply(
      cnp(
        'y',
        'egress-81',
        '  endpointSelector: {matchLabels: {pod: a}}\n  egress: [{toPorts: [{ports: [{port: "81", protocol: TCP}]}]}]\n',
      ),
    );
    await settled(['CiliumNetworkPolicy/x/same-ns-b', 'CiliumNetworkPolicy/y/egress-81']);
    const ingressOk = (f: P, t: P) => !(t.ns === 'x' && t.pod === 'a') || (f.ns === 'x' && f.pod === 'b');
    await check((f, t) => ingressOk(f, t) && !(f.ns === 'y' && f.pod === 'a'), 80);
    await check((f, t) => ingressOk(f, t), 81);
    await kubectl(['delete', 'cnp', '-n', 'x', 'same-ns-b']);
    await kubectl(['delete', 'cnp', '-n', 'y', 'egress-81']);
    await settled([]);
    await check(all);
  });

  it('shows enforcement in the CiliumEndpoints while a policy applies', async () => {
    await apply(denyIngressX);
    await settled(['NetworkPolicy/x/deny-ingress']);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const cep = JSON.parse(await kubectl(['get', 'cep', '-n', 'x', 'a', '-o', 'json'])) as {
        status: { policy: { ingress: { enforcing: boolean }; egress: { enforcing: boolean } } };
      };
      if (cep.status.policy.ingress.enforcing) {
        assert.equal(cep.status.policy.egress.enforcing, false);
        break;
      }
      assert.ok(Date.now() < deadline, 'CiliumEndpoint x/a never showed ingress enforcement');
      await new Promise((r) => setTimeout(r, 50));
    }
    const wide = await kubectl(['get', 'cep', '-n', 'x', 'a', '-o', 'wide']);
    assert.match(wide, /enforcing\s+non-enforcing/);
    await remove(denyIngressX);
    await settled([]);
  });

  it('a restarted agent reallocates nothing and keeps enforcing', async () => {
    await apply(denyIngressX);
    await settled(['NetworkPolicy/x/deny-ingress']);
    const before = agent
      .localEndpoints()
      .map((e) => [e.namespace, e.pod, e.id, e.identity, e.ip].join(' '))
      .sort();
    await agent.stop();
    await check((_f, t) => t.ns !== 'x'); // the kernel enforces with no agent running
    agent = await Agent.start({
      kc: loadKubeConfig(cp.kubeconfig),
      nodeName: NODE,
      stateDir: join(tmp, 'agent'),
      socketPath: opts.cniSocket,
      pinRoot,
      podCidr,
      log: logger('agent'),
    });
    await settled(['NetworkPolicy/x/deny-ingress']);
    assert.deepEqual(
      agent
        .localEndpoints()
        .map((e) => [e.namespace, e.pod, e.id, e.identity, e.ip].join(' '))
        .sort(),
      before,
    );
    await check((_f, t) => t.ns !== 'x');
    await remove(denyIngressX);
    await settled([]);
    assert.ok(existsSync(join(tmp, 'agent', 'endpoints.json')));
  });
});
