// Running one measurement in a driver process (pinned to a CPU when we can) and collecting
// its result; progress arrives through a callback while it runs.

import { fileURLToPath } from 'node:url';
import { pinnedSpawn } from '../lib/pinned-spawn.js';
import { stopChild } from '../lib/stop-child.js';
import type { DriverPlan, DriverProgress, RunResult } from './driver-plan.js';

export type DriverMessage =
  | { type: 'progress'; progress: DriverProgress }
  | { type: 'result'; result: RunResult }
  | { type: 'error'; message: string };

const SCRIPT = fileURLToPath(new URL('./driver-process.js', import.meta.url));

export async function runDriver(
  plan: DriverPlan,
  opts: { cpu?: number; onProgress?: (p: DriverProgress) => void } = {},
): Promise<RunResult> {
  // taskset execs node in place, so the IPC channel's descriptor reaches the driver as it is.
  const child = pinnedSpawn(opts.cpu, process.execPath, [SCRIPT], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    return await new Promise<RunResult>((resolve, reject) => {
      let done = false;
      child.on('message', (msg: DriverMessage) => {
        if (msg.type === 'progress') opts.onProgress?.(msg.progress);
        else if (msg.type === 'result') {
          done = true;
          resolve(msg.result);
        } else if (msg.type === 'error') {
          done = true;
          reject(new Error(`load driver: ${msg.message}`));
        }
      });
      child.once('error', reject);
      child.once('exit', (code, signal) => {
        if (!done) reject(new Error(`load driver exited (${code ?? signal}) without a result`));
      });
      child.send({ type: 'run', plan });
    });
  } finally {
    await stopChild(child, 2000);
  }
}
