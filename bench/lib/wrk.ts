// Running wrk: finding (or on Debian, installing) it, and one measurement as a WrkResult.

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from './find-binary.js';
import { pinnedSpawn } from './pinned-spawn.js';
import { parseWrkOutput, WRK_DONE_SCRIPT, type WrkResult } from './wrk-output.js';
import { wrkPathsScript } from './wrk-paths.js';

export type { WrkResult } from './wrk-output.js';

export interface WrkRun {
  url: string;
  connections: number;
  threads: number;
  durationS: number;
  headers?: Record<string, string>;
  cpu?: number;       // pin wrk to this CPU (taskset), when available
  timeoutS?: number;  // wrk --timeout; default 5
  /** Rotate over these paths of url's origin instead of requesting url alone. */
  paths?: string[];
  /** A Lua prelude of one's own (e.g. a new URL per request: uniquePathsScript); instead of paths. */
  script?: string;
  /** Called with wrk's pid once it runs, e.g. to sample its CPU. */
  onSpawn?: (pid: number) => void;
}

function aptInstallWrk(): boolean {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = () => spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'wrk'], { stdio: 'inherit', env }).status === 0;
  if (install()) return true;
  // A fresh container often has no package lists yet.
  spawnSync('apt-get', ['update'], { stdio: 'inherit', env });
  return install();
}

/** The path of wrk; installs Debian's package when missing and we are root with apt-get. */
export async function ensureWrk(): Promise<string> {
  const found = findOnPath('wrk');
  if (found) return found;
  if (process.getuid?.() === 0 && findOnPath('apt-get')) {
    console.error('wrk not found; installing it with apt-get');
    if (aptInstallWrk()) {
      const installed = findOnPath('wrk');
      if (installed) return installed;
    }
    throw new Error('wrk is not installed and `apt-get install wrk` failed; install wrk and run again');
  }
  throw new Error('wrk is not installed: install it (Debian/Ubuntu: apt-get install wrk; macOS: brew install wrk) and run again');
}

export async function runWrk(run: WrkRun, wrkPath?: string): Promise<WrkResult> {
  const wrk = wrkPath ?? (await ensureWrk());
  const dir = await mkdtemp(join(tmpdir(), 'memfront-wrk-'));
  const script = join(dir, 'report.lua');
  await writeFile(script, (run.script ?? (run.paths ? wrkPathsScript(run.paths) : '')) + WRK_DONE_SCRIPT);
  const args = [
    '-t', String(Math.max(1, Math.min(run.threads, run.connections))),
    '-c', String(run.connections),
    '-d', `${run.durationS}s`,
    '--timeout', `${run.timeoutS ?? 5}s`,
    '-s', script,
  ];
  for (const [name, value] of Object.entries(run.headers ?? {})) args.push('-H', `${name}: ${value}`);
  args.push(run.url);
  try {
    const child = pinnedSpawn(run.cpu, wrk, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    if (child.pid !== undefined) run.onSpawn?.(child.pid);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (c) => resolve(c));
    });
    if (code !== 0) throw new Error(`wrk exited with status ${code}: ${stderr.trim() || stdout.trim()}`);
    return parseWrkOutput(stdout);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
