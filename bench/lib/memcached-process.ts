// Starting a private memcached on a free 127.0.0.1 port for the demo and benches, and stopping it.

import { spawn } from 'node:child_process';
import { findOnPath } from './find-binary.js';
import { freePort } from './free-port.js';
import { stopChild } from './stop-child.js';
import { waitForPort } from './wait-for-port.js';

export interface MemcachedProcess {
  port: number;
  server: string; // "127.0.0.1:port", as cache.memcached.servers wants it
  pid: number;
  close(): Promise<void>;
}

export interface MemcachedOptions {
  bin?: string;         // default: memcached on PATH
  port?: number;        // default: a free one
  memoryMb?: number;    // -m, default 64
  itemSizeMb?: number;  // -I, default memcached's own (1 MB)
  threads?: number;     // -t, default 2
}

export function findMemcached(): string | undefined {
  return findOnPath('memcached');
}

export async function startMemcached(opts: MemcachedOptions = {}): Promise<MemcachedProcess> {
  const bin = opts.bin ?? findMemcached();
  if (!bin) throw new Error('memcached not found on PATH (Debian/Ubuntu: apt-get install memcached)');
  const port = opts.port ?? (await freePort());
  const args = ['-l', '127.0.0.1', '-p', String(port), '-U', '0', '-m', String(opts.memoryMb ?? 64), '-t', String(opts.threads ?? 2)];
  if (opts.itemSizeMb) args.push('-I', `${opts.itemSizeMb}m`);
  // memcached refuses to run as root unless told which user to be.
  if (process.getuid?.() === 0) args.push('-u', 'root');
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-2000);
  });
  // Never leave an orphan memcached behind, even when the parent exits abruptly.
  const killOnExit = () => child.kill('SIGKILL');
  process.once('exit', killOnExit);
  try {
    await waitForPort('127.0.0.1', port, { child, name: 'memcached', timeoutMs: 5000 });
  } catch (err) {
    child.kill('SIGKILL');
    process.off('exit', killOnExit);
    throw new Error(`memcached failed to start: ${(err as Error).message}${stderr ? `: ${stderr.trim()}` : ''}`, { cause: err });
  }
  return {
    port,
    server: `127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    close: async () => {
      process.off('exit', killOnExit);
      await stopChild(child, 2000);
    },
  };
}
