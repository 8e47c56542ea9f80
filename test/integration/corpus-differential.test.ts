// Differential test on real input: every CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy
// document from Cilium's own repository is applied, with kubectl's server-side apply and strict
// field validation, to two real API servers — one with Cilium's CRDs, one with ours. The verdicts
// (accepted / rejected) must be the same, document by document. Then a second apply of each
// accepted document must change nothing on ours (what Argo CD and Flux do on every sync).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { startControlPlane, type ControlPlane } from '../../src/lab/control-plane.ts';
import { repoRoot } from '../../src/lib/paths.ts';
import { corpusDir } from '../harness/corpus.ts';
import { corpusPolicyDocuments, type CorpusDocument } from '../harness/corpus-documents.ts';
import { pMap } from '../harness/p-map.ts';

let cilium: ControlPlane;
let ours: ControlPlane;

before(async () => {
  [cilium, ours] = await Promise.all([
    startControlPlane({
      crds: ['ciliumnetworkpolicies.yaml', 'ciliumclusterwidenetworkpolicies.yaml'].map((f) =>
        join(corpusDir, 'crds', f),
      ),
    }),
    startControlPlane({ crds: [join(repoRoot, 'crds')] }),
  ]);
});

after(async () => {
  await Promise.all([cilium?.stop(), ours?.stop()]);
});

interface Verdict {
  accepted: boolean;
  message: string;
  resourceVersion?: string;
}

async function apply(cp: ControlPlane, doc: CorpusDocument): Promise<Verdict> {
  const r = await cp.kubectl(
    [
      'apply',
      '--server-side',
      '--validate=strict',
      '--field-manager=corpus-test',
      '-o',
      'jsonpath={.metadata.resourceVersion}',
      '-f',
      '-',
    ],
    doc.yaml,
  );
  return r.code === 0
    ? { accepted: true, message: '', resourceVersion: r.stdout.trim() }
    : { accepted: false, message: r.stderr.trim().split('\n').pop() ?? '' };
}

// Kafka L7 rules: the Cilium release these CRDs come from dropped `rules.kafka`; ours still
// accepts well-formed ones. That is the one intended difference.
function intendedDeviation(theirs: Verdict, mine: Verdict): string | null {
  // server-side apply words it ".spec.ingress[0].toPorts[0].rules.kafka: field not declared in schema"
  if (
    mine.accepted &&
    !theirs.accepted &&
    /\.(ingress|egress)\[\d+\]\.toPorts\[\d+\]\.rules\.kafka: field not declared in schema$/.test(theirs.message)
  ) {
    return 'kafka L7 rules (kept by cilium-ts)';
  }
  return null;
}

/** The gist of kubectl's error, for the table: what was wrong, not the request that carried it. */
function shortReason(message: string): string {
  return message
    .replace(/^Error from server(?: \(\w+\))?: /, '')
    .replace(/^failed to create typed patch object \([^)]*\): /, '')
    .replace(/^error when [^:]*: /, '')
    .slice(0, 110);
}

test("every corpus policy gets the same verdict from our CRDs as from Cilium's", async () => {
  const docs = corpusPolicyDocuments(corpusDir);
  assert.ok(docs.length >= 90, `expected the whole corpus (≥ 90 policy documents), found ${docs.length}`);
  const namespaces = [...new Set(docs.map((d) => d.namespace).filter((n): n is string => !!n && n !== 'default'))];
  for (const cp of [cilium, ours]) {
    for (const ns of namespaces) await cp.kubectl(['create', 'namespace', ns]);
  }

  const rows = await pMap(docs, 4, async (doc) => {
    const [theirs, mine] = await Promise.all([apply(cilium, doc), apply(ours, doc)]);
    let reapplied: 'unchanged' | 'CHANGED' | '' = '';
    if (mine.accepted) {
      const again = await apply(ours, doc);
      reapplied = again.accepted && again.resourceVersion === mine.resourceVersion ? 'unchanged' : 'CHANGED';
    }
    return { doc, theirs, mine, reapplied, deviation: intendedDeviation(theirs, mine) };
  });

  const v = (x: Verdict) => (x.accepted ? 'accepted' : 'rejected');
  const table = rows.map((r) =>
    [
      r.doc.ref.padEnd(72),
      r.doc.kind.padEnd(31),
      v(r.theirs).padEnd(9),
      v(r.mine).padEnd(9),
      r.reapplied.padEnd(9),
      r.deviation ?? (r.theirs.accepted === r.mine.accepted ? shortReason(r.mine.message) : 'MISMATCH'),
    ].join(' '),
  );
  const count = (f: (r: (typeof rows)[number]) => boolean) => rows.filter(f).length;
  console.log(
    [
      `${'document'.padEnd(72)} ${'kind'.padEnd(31)} ${'cilium'.padEnd(9)} ${'ours'.padEnd(9)} ${'re-apply'.padEnd(9)} note`,
      ...table,
      `documents ${rows.length}: cilium accepted ${count((r) => r.theirs.accepted)}, rejected ${count((r) => !r.theirs.accepted)}; ` +
        `ours accepted ${count((r) => r.mine.accepted)}, rejected ${count((r) => !r.mine.accepted)}; ` +
        `intended deviations ${count((r) => !!r.deviation)}`,
    ].join('\n'),
  );

  const mismatches = rows
    .filter((r) => r.theirs.accepted !== r.mine.accepted && !r.deviation)
    .map((r) => `${r.doc.ref}: cilium ${v(r.theirs)} (${r.theirs.message}), ours ${v(r.mine)} (${r.mine.message})`);
  assert.deepEqual(mismatches, [], 'verdicts differ');
  const drift = rows.filter((r) => r.reapplied === 'CHANGED').map((r) => r.doc.ref);
  assert.deepEqual(drift, [], 'a second server-side apply changed these documents');
  // The corpus holds documents both sides reject (e.g. the deliberately malformed policy) and the
  // Kafka examples; if either list were empty the comparison would prove less than it claims.
  assert.ok(count((r) => !r.theirs.accepted && !r.mine.accepted) > 0, 'no document was rejected by both');
  assert.ok(count((r) => !!r.deviation) > 0, 'the Kafka documents were not seen as the intended deviation');
});
