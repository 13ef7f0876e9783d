// Start-up wiring: builds the store, the upstream adapters and the engine from a config,
// and opens the main and admin listeners. No decisions live here.
import http from 'node:http';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/types.js';
import { Metrics } from './admin/metrics.js';
import { startAdminServer } from './admin/admin-server.js';
import type { CacheStore } from './store/cache-store.js';
import { MemcachedStore } from './store/memcached-store.js';
import { MemoryStore } from './store/memory-store.js';
import { BackendProxy } from './upstream/backend-proxy.js';
import { CacheAccess } from './engine/cache-access.js';
import { compileRules } from './engine/rules.js';
import { Fetcher } from './engine/fetch.js';
import { Dispatcher } from './engine/dispatch.js';
import { Engine } from './engine/handler.js';

export interface Memfront {
  port: number;
  adminPort: number;
  metrics: Metrics;
  /** Resolves once the cache writes started so far have finished. */
  settled(): Promise<void>;
  close(graceMs?: number): Promise<void>;
}

export const VERSION: string = (() => {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version;
  } catch {
    return '0.0.0';
  }
})();

export function createStore(cfg: Config, logger: Logger): CacheStore {
  if (cfg.cache.store === 'memory') return new MemoryStore({ maxBytes: cfg.cache.memory.maxBytes });
  const m = cfg.cache.memcached;
  return new MemcachedStore({ servers: m.servers, timeoutMs: m.timeoutMs, maxItemSize: m.maxItemSize, logger });
}

export async function startMemfront(cfg: Config, opts: { logger: Logger; store?: CacheStore }): Promise<Memfront> {
  const logger = opts.logger;
  const metrics = new Metrics();
  const rules = compileRules(cfg);
  const store = cfg.cache.enabled ? (opts.store ?? createStore(cfg, logger)) : null;
  const cache = store ? new CacheAccess(store, metrics, logger) : null;
  const backend = new BackendProxy(cfg.backend.url, cfg.backend.timeoutMs);
  const dispatcher = new Dispatcher(backend);
  const fetcher = new Fetcher(rules, dispatcher, cache, metrics, logger);
  const engine = new Engine({ rules, cache, fetcher, metrics, logger });

  const server = http.createServer(
    {
      // Node's strict parser stays on: conflicting Content-Length/Transfer-Encoding is a 400.
      insecureHTTPParser: false,
      keepAliveTimeout: 5000,
      requestTimeout: 60_000,
    },
    (req, res) => engine.handle(req, res),
  );
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(cfg.listen.port, cfg.listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const startedAt = Date.now();
  const admin = await startAdminServer(cfg.admin.host, cfg.admin.port, {
    version: VERSION,
    startedAt,
    store,
    metricsText: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
  });
  const port = (server.address() as AddressInfo).port;
  const adminPort = (admin.address() as AddressInfo).port;
  logger.info({ port, adminPort, store: store ? cfg.cache.store : 'off', backend: cfg.backend.url }, 'memfront listening');

  let closing: Promise<void> | undefined;
  const close = (graceMs = cfg.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      admin.close();
      const drained = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const timer = setTimeout(() => server.closeAllConnections(), graceMs);
      await drained;
      clearTimeout(timer);
      await fetcher.settled();
      dispatcher.close();
      await store?.close();
    })();
    return closing;
  };
  return { port, adminPort, metrics, settled: () => fetcher.settled(), close };
}
