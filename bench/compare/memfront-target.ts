// memfront as a bench target: its own memcached, then memfront as an operator runs it
// (the built CLI, own process, pinned when it has one worker) in front of the backend.

import { readFile } from 'node:fs/promises';
import { startMemcached } from '../lib/memcached-process.js';
import { pinProcess } from '../lib/pin-process.js';
import { startMemfrontProcess } from '../lib/memfront-process.js';
import { mergeConfig, type CacheServer, type StartOptions } from './cache-server.js';

/** The contract's defaults, written out because the theoretical hit rate depends on them. */
export const BENCH_MEMFRONT_CONFIG = {
  workers: 1,
  shutdownGraceMs: 1000,
  // One line per request at info would measure the logger; operators tune that separately.
  log: { level: 'warn' },
  cache: { defaultTtl: 300, staleWhileRevalidate: 30 },
};

/** The bench's config, the operator's --config file over it, then --workers over both. */
export async function memfrontConfig(configFile: string | undefined, workers: number | undefined): Promise<Record<string, unknown>> {
  let config: Record<string, unknown> = { ...BENCH_MEMFRONT_CONFIG };
  if (configFile) {
    const text = await readFile(configFile, 'utf8');
    let user: unknown;
    try {
      user = JSON.parse(text);
    } catch (err) {
      throw new Error(`--config ${configFile}: not JSON (${(err as Error).message})`, { cause: err });
    }
    if (typeof user !== 'object' || user === null || Array.isArray(user)) throw new Error(`--config ${configFile}: not a JSON object`);
    config = mergeConfig(config, user as Record<string, unknown>);
  }
  return workers === undefined ? config : mergeConfig(config, { workers });
}

function numberAt(config: Record<string, unknown>, path: string[], fallback: number): number {
  let v: unknown = config;
  for (const k of path) v = (v as Record<string, unknown> | undefined)?.[k];
  return typeof v === 'number' ? v : fallback;
}

export async function startMemfrontTarget(config: Record<string, unknown>, opts: StartOptions): Promise<CacheServer> {
  const memcached = await startMemcached({ memoryMb: 512 });
  pinProcess(memcached.pid, opts.cpu);
  try {
    const full = mergeConfig(config, {
      backend: { url: opts.backendUrl },
      cache: { store: 'memcached', memcached: { servers: [memcached.server] } },
    });
    const workers = numberAt(full, ['workers'], 1);
    const memfront = await startMemfrontProcess(full, { cpu: workers === 1 ? opts.cpu : undefined });
    return {
      id: 'memfront',
      label: workers === 1 ? 'memfront' : `memfront (${workers === 0 ? 'one worker per core' : `${workers} workers`})`,
      url: memfront.url,
      pid: memfront.pid,
      sampleChildren: workers !== 1,
      companionPids: [memcached.pid],
      staleWhileRevalidateS: numberAt(full, ['cache', 'staleWhileRevalidate'], 30),
      defaultTtlS: numberAt(full, ['cache', 'defaultTtl'], 300),
      adminUrl: memfront.adminUrl,
      output: () => memfront.output(),
      close: async () => {
        await memfront.close();
        await memcached.close();
      },
    };
  } catch (err) {
    await memcached.close();
    throw err;
  }
}
