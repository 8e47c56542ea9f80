// Where a lab keeps its state. Its own module so that commands which only need to find a lab
// (`cilium-ts status`, `observe`, `lab pod`) do not load the lab itself.
import { join } from 'node:path';
import { repoRoot } from '../lib/paths.ts';

export interface LabPaths {
  dir: string;
  kubeconfig: string;
  pidFile: string;
  readyFile: string;
  logFile: string;
}

export function labPaths(dir = process.env.CILIUM_TS_LAB_DIR ?? join(repoRoot, '.lab')): LabPaths {
  return {
    dir,
    kubeconfig: join(dir, 'kubeconfig'),
    pidFile: join(dir, 'lab.pid'),
    readyFile: join(dir, 'ready'),
    logFile: join(dir, 'lab.log'),
  };
}
