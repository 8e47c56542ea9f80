// Where the running code lives: the repository (or the image's /app) root.
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot: string = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
