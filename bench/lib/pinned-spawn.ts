// Spawning a process on one CPU (taskset -c) when we can, so a benchmark's load generator and
// the server under test do not fight for the same core.

import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { findOnPath } from './find-binary.js';

let taskset: string | undefined | null = null;

export function tasksetPath(): string | undefined {
  if (taskset === null) taskset = findOnPath('taskset');
  return taskset;
}

/** True when pinning to `cpus` distinct cores can work here. */
export function canPin(cpus = 2): boolean {
  return tasksetPath() !== undefined && availableParallelism() >= cpus;
}

/** cpu undefined, or no taskset: an ordinary spawn. taskset execs the command, so the pid is the command's. */
export function pinnedSpawn(cpu: number | undefined, cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  const ts = tasksetPath();
  if (cpu === undefined || ts === undefined) return spawn(cmd, args, opts);
  return spawn(ts, ['-c', String(cpu), cmd, ...args], opts);
}
