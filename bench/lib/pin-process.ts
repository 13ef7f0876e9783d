// Pinning an already running process, every thread of it, to one CPU (taskset -a -p), for
// servers started by helpers that do not pin: memcached shares its cache server's core, as a
// deployment on one core would, instead of competing with the load driver for the other.

import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { tasksetPath } from './pinned-spawn.js';

/** True when pinned; false when there is no taskset or it refused (the bench runs on unpinned). */
export function pinProcess(pid: number, cpu: number | undefined): boolean {
  const ts = tasksetPath();
  if (cpu === undefined || ts === undefined || pid <= 0) return false;
  return spawnSync(ts, ['-a', '-p', '-c', String(cpu), String(pid)], { stdio: 'ignore' }).status === 0;
}

/** Lets every thread of `pid` run on every CPU again (after pinProcess); false when it could not. */
export function unpinProcess(pid: number): boolean {
  const ts = tasksetPath();
  if (ts === undefined || pid <= 0) return false;
  return spawnSync(ts, ['-a', '-p', '-c', `0-${cpus().length - 1}`, String(pid)], { stdio: 'ignore' }).status === 0;
}
