// Running memfront as its own process, the way an operator does (`memfront --config FILE`),
// on free ports and optionally pinned to a CPU, for benches that must not share its event loop.

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binNodeFlags } from './bin-node-flags.js';
import { freePort } from './free-port.js';
import { pinnedSpawn } from './pinned-spawn.js';
import { stopChild } from './stop-child.js';
import { waitForPort } from './wait-for-port.js';

export interface MemfrontProcess {
  port: number;
  adminPort: number;
  url: string;       // http://127.0.0.1:port
  adminUrl: string;
  pid: number;
  /** The last few KB memfront wrote, for error messages. */
  output(): string;
  close(): Promise<void>;
}

/** dist/bench/lib/ → dist/src/cli.js: the built bin. */
export const MEMFRONT_CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));

/** The node flags of the bin's shebang, which an installed memfront starts with. */
export const MEMFRONT_NODE_FLAGS = binNodeFlags(MEMFRONT_CLI);

/** What a bench report names memfront's row after: the command it runs. */
export const MEMFRONT_COMMAND = `node ${[...MEMFRONT_NODE_FLAGS, 'dist/src/cli.js'].join(' ')}`;

/** `config` is merged over listen/admin on free 127.0.0.1 ports; keys as in the contract. */
export async function startMemfrontProcess(config: Record<string, unknown>, opts: { cpu?: number } = {}): Promise<MemfrontProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  const full = { ...config, listen: { host: '127.0.0.1', port }, admin: { ...(config.admin as object | undefined), host: '127.0.0.1', port: adminPort } };
  const dir = await mkdtemp(join(tmpdir(), 'memfront-bench-'));
  const configFile = join(dir, 'memfront.json');
  await writeFile(configFile, JSON.stringify(full, null, 2));
  // MEMFRONT_* in the caller's environment would silently change what is measured.
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMFRONT_')));
  const child = pinnedSpawn(opts.cpu, process.execPath, [...MEMFRONT_NODE_FLAGS, MEMFRONT_CLI, '--config', configFile], { stdio: ['ignore', 'pipe', 'pipe'], env });
  let tail = '';
  const keep = (d: Buffer) => {
    tail = (tail + d.toString()).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const cleanup = async () => {
    await stopChild(child, 5000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await waitForPort('127.0.0.1', port, { child, name: 'memfront', timeoutMs: 15_000 });
  } catch (err) {
    await cleanup();
    throw new Error(`${(err as Error).message}\n--- memfront output ---\n${tail}`, { cause: err });
  }
  return {
    port,
    adminPort,
    url: `http://127.0.0.1:${port}`,
    adminUrl: `http://127.0.0.1:${adminPort}`,
    pid: child.pid ?? -1,
    output: () => tail,
    close: cleanup,
  };
}
