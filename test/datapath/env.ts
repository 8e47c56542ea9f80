// What a datapath test needs from the machine. `make test` builds the addon and the BPF objects
// first and runs as root, so a missing piece is a failure with the reason, never a skip.
import { existsSync } from 'node:fs';
import { addonPath } from '../../src/datapath/addon.ts';
import { defaultObjectPath } from '../../src/datapath/loader.ts';

export function requireDatapath(): void {
  if (process.getuid?.() !== 0) throw new Error('datapath tests need root (bpf(), tc, netns)');
  if (!existsSync(addonPath)) throw new Error(`addon not built (${addonPath}); run make deps`);
  if (!existsSync(defaultObjectPath)) throw new Error(`BPF object not built (${defaultObjectPath}); run make deps`);
}
