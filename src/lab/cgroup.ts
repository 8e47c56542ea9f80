// The lab's cgroups (cgroup2): its node's host processes in LAB_CGROUP, pods' processes in
// LAB_PODS_CGROUP below it, so that socket-LB can attach to the lab alone. A process is moved by
// a shell that writes its own pid to cgroup.procs and then execs the command: the command and
// everything it starts are in the cgroup from their first instruction.
import { existsSync, mkdirSync, rmdirSync } from 'node:fs';
import { CGROUP2_ROOT, LAB_CGROUP, LAB_PODS_CGROUP } from './paths.ts';

/** Creates the lab's cgroups; false where this machine has no cgroup2 mount (then nothing is moved). */
export function ensureLabCgroups(): boolean {
  if (!existsSync(`${CGROUP2_ROOT}/cgroup.procs`)) return false;
  mkdirSync(LAB_PODS_CGROUP, { recursive: true });
  return true;
}

/** Removes the lab's cgroups when no process is left in them (rmdir of a busy cgroup fails: kept). */
export function removeLabCgroups(): void {
  for (const dir of [LAB_PODS_CGROUP, LAB_CGROUP]) {
    try {
      rmdirSync(dir);
    } catch {
      /* gone already, or still in use */
    }
  }
}

/** argv that runs `argv` inside `cgroup` (created if needed); `argv` unchanged without cgroup2. */
export function inCgroup(cgroup: string, argv: string[]): string[] {
  if (!ensureLabCgroups()) return argv;
  mkdirSync(cgroup, { recursive: true });
  return ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', cgroup, ...argv];
}
