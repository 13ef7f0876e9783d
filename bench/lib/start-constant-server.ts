// Starting constant-server.js as a child process (optionally pinned to a CPU) and reading its port.

import { fileURLToPath } from 'node:url';
import { pinnedSpawn } from './pinned-spawn.js';
import { stopChild } from './stop-child.js';
import { childPort } from './child-port.js';

export interface ConstantServer {
  port: number;
  url: string;
  pid: number;
  close(): Promise<void>;
}

export interface ConstantServerOptions {
  cpu?: number;
  headers?: Record<string, string>;
  /** Distinct bodies, one per path (constant-server.ts --distinct). */
  distinct?: number;
}

const SCRIPT = fileURLToPath(new URL('./constant-server.js', import.meta.url));

export async function startConstantServer(size: number, opts: ConstantServerOptions = {}): Promise<ConstantServer> {
  const args = [SCRIPT, '--size', String(size)];
  if (opts.distinct !== undefined) args.push('--distinct', String(opts.distinct));
  for (const [name, value] of Object.entries(opts.headers ?? {})) args.push('--header', `${name}: ${value}`);
  // stdin stays a pipe: when this process dies the pipe closes and the server exits with it.
  const child = pinnedSpawn(opts.cpu, process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await childPort(child, 'constant server');
  return {
    port,
    url: `http://127.0.0.1:${port}/`,
    pid: child.pid ?? -1,
    close: () => stopChild(child, 2000),
  };
}
