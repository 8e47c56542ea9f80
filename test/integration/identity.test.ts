// CiliumIdentity allocation on the real apiserver: reuse, two agents racing on the same labels
// (they must end with one identity), and a candidate id already held by other labels.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { loadKubeConfig } from '../../src/lib/kube.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import {
  IdentityAllocator,
  IdentityCache,
  candidateId,
  identityObject,
  IDENTITY_GROUP,
  IDENTITY_PLURAL,
  IDENTITY_VERSION,
} from '../../src/agent/identity.ts';
import { podIdentityLabels, type LabelSet } from '../../src/policy/labels.ts';
import type { CiliumIdentity } from '../../src/api/types.generated.ts';

let cp: ControlPlane;
let api: CustomObjectsApi;

const labels = (ns: string, app: string): LabelSet =>
  podIdentityLabels({ namespace: ns, podLabels: { app }, namespaceLabels: {}, serviceAccount: 'default' });

async function identities(): Promise<CiliumIdentity[]> {
  const list = (await api.listClusterCustomObject({
    group: IDENTITY_GROUP,
    version: IDENTITY_VERSION,
    plural: IDENTITY_PLURAL,
  })) as { items: CiliumIdentity[] };
  return list.items;
}

describe('CiliumIdentity allocation against the real apiserver', () => {
  before(async () => {
    cp = await startControlPlane({ crds: [join(repoRoot, 'crds')] });
    api = loadKubeConfig(cp.kubeconfig).makeApiClient(CustomObjectsApi);
  });
  after(async () => {
    await cp?.stop();
  });

  it('creates one object for a new label set and reuses it afterwards', async () => {
    const cache = new IdentityCache();
    const alloc = new IdentityAllocator(api, cache);
    const l = labels('shop', 'web');
    const first = await alloc.allocate(l);
    assert.equal(first.created, true);
    assert.equal(first.id, candidateId(l));
    const objs = await identities();
    assert.equal(objs.length, 1);
    assert.deepEqual(objs[0]!['security-labels'], l);
    assert.equal(objs[0]!.metadata.labels?.['app.kubernetes.io/managed-by'], 'cilium-ts-agent');
    // A fresh agent (empty cache) asking for the same labels gets the same object, not a new one.
    const second = await new IdentityAllocator(api, new IdentityCache()).allocate(l);
    assert.deepEqual(second, { id: first.id, created: false });
    // With the object in its cache, no request is needed at all.
    cache.apply(objs[0]!);
    assert.deepEqual(await alloc.allocate(l), { id: first.id, created: false });
  });

  it('two agents racing on 40 label sets end with one identity per set, the same on both', async () => {
    const sets = Array.from({ length: 40 }, (_, i) => labels('race', `app-${i}`));
    const a = new IdentityAllocator(api, new IdentityCache());
    const b = new IdentityAllocator(api, new IdentityCache());
    const [ra, rb] = await Promise.all([
      Promise.all(sets.map((l) => a.allocate(l))),
      Promise.all(sets.map((l) => b.allocate(l))),
    ]);
    assert.deepEqual(
      ra.map((r) => r.id),
      rb.map((r) => r.id),
    );
    for (let i = 0; i < sets.length; i++)
      assert.ok(ra[i]!.created !== rb[i]!.created, `set ${i}: exactly one agent created it`);
    const objs = (await identities()).filter((o) => o['security-labels']['k8s:io.kubernetes.pod.namespace'] === 'race');
    assert.equal(objs.length, 40);
    assert.equal(new Set(objs.map((o) => o.metadata.name)).size, 40);
  });

  it('skips a candidate id held by other labels, on every agent alike', async () => {
    const l = labels('shop', 'db');
    const taken = candidateId(l);
    await api.createClusterCustomObject({
      group: IDENTITY_GROUP,
      version: IDENTITY_VERSION,
      plural: IDENTITY_PLURAL,
      body: identityObject(taken, labels('elsewhere', 'squatter')),
    });
    const [x, y] = await Promise.all([
      new IdentityAllocator(api, new IdentityCache()).allocate(l),
      new IdentityAllocator(api, new IdentityCache()).allocate(l),
    ]);
    assert.equal(x.id, y.id);
    assert.notEqual(x.id, taken);
    assert.equal(x.id, taken === 65535 ? 256 : taken + 1);
    const holders = (await identities()).filter((o) => o['security-labels']['k8s:app'] === 'db');
    assert.equal(holders.length, 1);
  });
});
