// Starting bench-backend.js as a child process and talking to its /__bench/* controls.

import { fileURLToPath } from 'node:url';
import { httpProbe } from './http-probe.js';
import { pinnedSpawn } from './pinned-spawn.js';
import { stopChild } from './stop-child.js';
import { childPort } from './child-port.js';

export interface BenchBackend {
  port: number;
  url: string; // http://127.0.0.1:port, no trailing slash
  pid: number;
  stats(): Promise<{ requests: number; bytes: number }>;
  reset(): Promise<void>;
  close(): Promise<void>;
}

const SCRIPT = fileURLToPath(new URL('./bench-backend.js', import.meta.url));

export async function startBenchBackend(opts: { pages: number; renderMs: number; cpu?: number }): Promise<BenchBackend> {
  const args = [SCRIPT, '--pages', String(opts.pages), '--render-ms', String(opts.renderMs)];
  // stdin stays a pipe: when this process dies the pipe closes and the backend exits with it.
  const child = pinnedSpawn(opts.cpu, process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await childPort(child, 'bench backend');
  const url = `http://127.0.0.1:${port}`;
  return {
    port,
    url,
    pid: child.pid ?? -1,
    stats: async () => JSON.parse((await httpProbe(`${url}/__bench/stats`)).body.toString()) as { requests: number; bytes: number },
    reset: async () => {
      const r = await httpProbe(`${url}/__bench/reset`, { method: 'POST' });
      if (r.status !== 200) throw new Error(`bench backend reset answered ${r.status}`);
    },
    close: () => stopChild(child, 2000),
  };
}
