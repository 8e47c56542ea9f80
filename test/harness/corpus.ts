// Cilium's own CRDs and example policies, kept beside the repository in shared/corpus/cilium.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';

const repoRoot = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The corpus folder: $CILIUM_CORPUS, else ../shared/corpus/cilium next to the repository. */
export const corpusDir: string = (() => {
  const candidates = [process.env.CILIUM_CORPUS, join(repoRoot, '..', 'shared', 'corpus', 'cilium')].filter(
    (p): p is string => !!p,
  );
  const found = candidates.find((p) => existsSync(join(p, 'crds')));
  if (!found) throw new Error(`Cilium corpus not found (tried ${candidates.join(', ')}); set CILIUM_CORPUS`);
  return found;
})();
