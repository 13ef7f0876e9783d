// Start-up wiring: builds the store, the upstream adapters and the engine from a config,
// and opens the main and admin listeners. No decisions live here. A reload builds a new
// engine from the new config and swaps it in; requests in flight finish on the old one.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Config } from './config/types.js';
import { Metrics } from './admin/metrics.js';
import { closeAdminServer, startAdminServer } from './admin/admin-server.js';
import { HealthProbes, type HealthReport, type ServerHealth } from './admin/health.js';
import { VERSION } from './admin/version.js';
import { watchBackendProbe } from './admin/probe-gauges.js';
import { inspectEntry, type InspectQuery, type InspectReport } from './admin/inspect.js';
import { planReload, type ReloadPlan } from './reload.js';
import type { CacheStore } from './store/cache-store.js';
import { MemcachedStore } from './store/memcached-store.js';
import { MemoryStore } from './store/memory-store.js';
import { BackendProxy } from './upstream/backend-proxy.js';
import { loadUndici } from './upstream/undici-lazy.js';
import { BackendClient } from './upstream/backend-client.js';
import { MogileTrackers, type TrackerStatus } from './upstream/mogile-tracker.js';
import { StaticServers, type StaticServerStatus } from './upstream/static-probe.js';
import { Leases } from './engine/lease.js';
import { MAX_HEADER_BYTES } from './policy/request-limits.js';
import { CacheAccess } from './engine/cache-access.js';
import { L1Cache } from './engine/l1-cache.js';
import { compileRules } from './engine/rules.js';
import { storeExptime } from './engine/cache-writes.js';
import { carryIdentity } from './engine/deliver.js';
import { Fetcher } from './engine/fetch.js';
import { Dispatcher } from './engine/dispatch.js';
import { fileRouteAdapters } from './engine/file-routes.js';
import { MogileRoute } from './engine/mogile-route.js';
import { StaticRoute } from './engine/static-route.js';
import { Engine } from './engine/handler.js';
import { limitSendStall, stillSending } from './send-timeout.js';

export { VERSION } from './admin/version.js';

export interface Memfront {
  /** The main listener's port (it changes when a reload moves listen.port). */
  readonly port: number;
  /** The admin listener's port; 0 when started without one (cluster workers). */
  readonly adminPort: number;
  metrics: Metrics;
  /** Resolves once the cache writes started so far have finished. */
  settled(): Promise<void>;
  /** What is stored for a URL (GET /inspect on the admin port). */
  inspect(q: InspectQuery): Promise<InspectReport>;
  /**
   * Applies a new config in place and says what changed. Throws, keeping the running config,
   * when a changed listen or admin address cannot be bound.
   */
  reload(cfg: Config): Promise<ReloadPlan>;
  close(graceMs?: number): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  store?: CacheStore;
  /** false in cluster workers: the primary serves /healthz and /metrics. Default true. */
  admin?: boolean;
  /** One per process: kept across reloads so counters carry on. */
  metrics?: Metrics;
}

export function createStore(cfg: Config, logger: Logger): CacheStore {
  if (cfg.cache.store === 'memory') return new MemoryStore({ maxBytes: cfg.cache.memory.maxBytes });
  const m = cfg.cache.memcached;
  // L1 renewals ask at 60-90% of ttlMs, so a copy has at least 10% of it left: a check held
  // back 5% of it to share a write with others still ends in time.
  const versionBatchMs = Math.min(50, Math.floor(cfg.cache.l1.ttlMs / 20));
  return new MemcachedStore({ servers: m.servers, protocol: m.protocol, timeoutMs: m.timeoutMs, maxItemSize: m.maxItemSize, logger, versionBatchMs });
}

/** Everything built from one config that answers requests; replaced whole on reload. */
interface Pipeline {
  cfg: Config;
  engine: Engine;
  store: CacheStore | null;
  settled(): Promise<void>;
  /** Releases its upstream connections. */
  closeUpstreams(): void;
  /** What the tracker client and the static prober think of their servers (up = not skipped). */
  trackers(): TrackerStatus[];
  staticServers(): StaticServerStatus[];
  /** The in-process hot tier, for its gauges. */
  l1: L1Cache;
  inspect(q: InspectQuery): Promise<InspectReport>;
  purgeAllowed(ip: string): boolean;
  inFlight: number;
  /** Called when inFlight drops to 0 (set while the pipeline is being retired). */
  idle?: () => void;
}

function buildPipeline(cfg: Config, logger: Logger, metrics: Metrics, store: CacheStore | null): Pipeline {
  const rules = compileRules(cfg);
  const l1 = new L1Cache(cfg.cache.l1.maxBytes, cfg.cache.l1.ttlMs);
  const cache = store
    ? new CacheAccess(store, metrics, logger, l1.enabled ? l1 : undefined, {
        maxItemSize: cfg.cache.memcached.maxItemSize,
        // Purge counters are reused in-process no longer than L1 entries are: the same bound.
        generationCacheMs: l1.enabled ? cfg.cache.l1.ttlMs : 0,
        hotGzip: cfg.cache.hotGzip.level > 0 ? {
          level: cfg.cache.hotGzip.level,
          hits: cfg.cache.hotGzip.hits,
          // What is left of the lifetime it was stored with.
          exptime: (entry, now) => storeExptime(entry, Math.ceil((entry.staleAt - now) / 1000), rules.windows, rules.keep),
          carryIdentity,
        } : undefined,
      })
    : null;
  const backend = new BackendProxy(cfg.backend.url, cfg.backend.timeoutMs);
  // MogileFS and static servers (issue 4): built when configured, used by their routes.
  const trackers = cfg.mogile.trackers.length > 0 ? new MogileTrackers({ trackers: cfg.mogile.trackers, timeoutMs: cfg.mogile.timeoutMs, memoTtlMs: cfg.mogile.memoTtlMs }) : undefined;
  const statics = cfg.static.servers.length > 0 ? new StaticServers({ servers: cfg.static.servers, memoTtlMs: cfg.static.memoTtlMs }) : undefined;
  const adapters = fileRouteAdapters({
    mogile: trackers && new MogileRoute(trackers, cfg.mogile.domain, logger),
    static: statics && new StaticRoute(statics, logger),
    logger,
  });
  // The dispatcher compiles cfg.routes and reads cfg.reproxy (issue 3).
  const dispatcher = new Dispatcher(backend, { cfg, logger, adapters });
  // Background refreshes have no client request to go through the dispatcher with (issue 5).
  const backgroundClient = new BackendClient(cfg.backend.url, cfg.backend.timeoutMs, cfg.offload.base);
  const fetcher = new Fetcher(rules, dispatcher, cache, metrics, logger, Date.now, backgroundClient);
  const leases = cache ? new Leases(cache) : undefined;
  const engine = new Engine({ rules, cache, fetcher, metrics, logger, leases });
  const closeUpstreams = () => {
    dispatcher.close();
    void backgroundClient.close();
    trackers?.close();
    void statics?.close();
  };
  return {
    cfg,
    engine,
    store,
    settled: () => fetcher.settled(),
    closeUpstreams,
    trackers: () => trackers?.status() ?? [],
    staticServers: () => statics?.status() ?? [],
    l1,
    inspect: (q) => inspectEntry(rules, cache, q),
    purgeAllowed: rules.purgeAllowed,
    inFlight: 0,
  };
}

function createListener(onRequest: http.RequestListener): http.Server {
  const server = http.createServer(
    {
      // Node's strict parser stays on: conflicting Content-Length/Transfer-Encoding is a 400.
      insecureHTTPParser: false,
      // Request line plus headers; past it Node answers 431 itself (URL length: recv, 414).
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAliveTimeout: 5000,
      requestTimeout: 60_000,
    },
    onRequest,
  );
  return server;
}

function bind(server: http.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** Stops accepting, lets requests in flight finish for up to graceMs, then cuts the rest. */
async function drain(server: http.Server, graceMs: number): Promise<void> {
  const drained = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  await drained;
  clearTimeout(timer);
}

const portOf = (server: http.Server): number => (server.address() as AddressInfo).port;

/**
 * /healthz's trackers and static servers: the probe's answer (a TCP connect) with whether the
 * running clients ask the server or skip it after it failed (`inRotation`).
 */
function fileServerHealth(report: HealthReport, p: Pipeline): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // The static prober names a server without its trailing slash.
  const name = (server: string) => server.replace(/\/+$/, '');
  const rotation = (up: Map<string, boolean>, servers: ServerHealth[] | undefined) =>
    servers?.map((s) => ({ ...s, inRotation: up.get(name(s.server)) ?? true }));
  const trackers = rotation(new Map(p.trackers().map((t) => [t.tracker, t.up])), report.trackers);
  const statics = rotation(new Map(p.staticServers().map((s) => [name(s.server), s.up])), report.staticServers);
  if (trackers) out.trackers = trackers;
  if (statics) out.staticServers = statics;
  return out;
}

export async function startMemfront(cfg: Config, opts: StartOptions): Promise<Memfront> {
  const logger = opts.logger;
  const metrics = opts.metrics ?? new Metrics();
  const withAdmin = opts.admin ?? true;
  const storeFor = (c: Config): CacheStore | null => (c.cache.enabled ? (opts.store ?? createStore(c, logger)) : null);
  let current = buildPipeline(cfg, logger, metrics, storeFor(cfg));
  metrics.watchStore(() => current.store?.status() ?? []);
  metrics.watchFileServers(() => current.trackers(), () => current.staticServers());
  metrics.watchL1(() => current.l1.status());
  const retiring = new Set<Promise<void>>();

  // Each request stays on the pipeline it started on, so a reload never changes the rules
  // under a request, and the old pipeline knows when it has nothing left to do.
  const onRequest: http.RequestListener = (req, res) => {
    const p = current;
    // Answered in full already (an L1 hit): nothing stays in flight, though its bytes may
    // still wait on the client.
    if (p.engine.hitNow(req, res)) {
      if (stillSending(res)) limitSendStall(res, p.cfg.sendTimeoutMs);
      return;
    }
    limitSendStall(res, p.cfg.sendTimeoutMs);
    p.inFlight++;
    metrics.requestsInFlight++;
    res.once('close', () => {
      metrics.requestsInFlight--;
      if (--p.inFlight === 0) p.idle?.();
    });
    p.engine.handle(req, res);
  };

  // The backend route forwards through undici (backend-proxy.ts): loaded before the first
  // request, so no miss waits on the import (seconds on a busy machine).
  await loadUndici();
  let server = createListener(onRequest);
  await bind(server, cfg.listen.port, cfg.listen.host);
  const startedAt = Date.now();
  const health = new HealthProbes(cfg);
  const openAdmin = (c: Config) =>
    startAdminServer(c.admin.host, c.admin.port, {
      version: VERSION,
      startedAt,
      health: () => health.report(),
      metricsText: () => metrics.text(),
      extra: async () => fileServerHealth(await health.report(), current),
      inspect: (q) => current.inspect(q),
      inspectAllowed: (ip) => current.purgeAllowed(ip),
    });
  let admin: http.Server | undefined;
  if (withAdmin) {
    // This process read the config and probes the servers; with workers the primary does both.
    metrics.reloads.loaded();
    watchBackendProbe(metrics.registry, () => health.report());
    try {
      admin = await openAdmin(cfg);
    } catch (err) {
      server.close();
      throw err;
    }
  }
  let port = portOf(server);
  let adminPort = admin ? portOf(admin) : 0;
  if (admin) {
    logger.info({ port, adminPort, store: cfg.cache.enabled ? cfg.cache.store : 'off', backend: cfg.backend.url, nodeFlags: process.execArgv }, 'memfront listening');
  } else {
    logger.info({ port }, 'worker listening');
  }

  /** Waits for the old pipeline's requests (up to graceMs) and cache writes, then releases it. */
  const retire = (old: Pipeline, graceMs: number): void => {
    const done = (async () => {
      if (old.inFlight > 0) {
        await new Promise<void>((resolve) => {
          old.idle = resolve;
          setTimeout(resolve, graceMs).unref();
        });
      }
      await old.settled();
      old.closeUpstreams();
      if (old.store && old.store !== current.store && old.store !== opts.store) await old.store.close();
    })().catch((err) => logger.warn({ err }, 'releasing the previous config failed'));
    track(done);
  };
  /** Work a close must wait for: old pipelines and old listeners still draining. */
  const track = (p: Promise<void>): void => {
    retiring.add(p);
    void p.finally(() => retiring.delete(p));
  };

  let reloading: Promise<unknown> = Promise.resolve();
  const reload = (next: Config): Promise<ReloadPlan> => {
    const run = async (): Promise<ReloadPlan> => {
      const old = current;
      const plan = planReload(old.cfg, next);
      if (plan.changed.length === 0) return plan;
      // New addresses are bound first: if one cannot be, nothing has changed yet.
      let newServer: http.Server | undefined;
      let newAdmin: http.Server | undefined;
      if (plan.rebindListen) {
        newServer = createListener(onRequest);
        await bind(newServer, next.listen.port, next.listen.host);
      }
      if (withAdmin && plan.rebindAdmin) {
        try {
          newAdmin = await openAdmin(next);
        } catch (err) {
          newServer?.close();
          throw err;
        }
      }
      current = buildPipeline(next, logger, metrics, plan.keepStore ? old.store : storeFor(next));
      health.setConfig(next);
      logger.level = next.log.level;
      if (newServer) {
        const oldServer = server;
        server = newServer;
        port = portOf(newServer);
        track(drain(oldServer, next.shutdownGraceMs));
      }
      if (newAdmin && admin) {
        void closeAdminServer(admin);
        admin = newAdmin;
        adminPort = portOf(newAdmin);
      }
      retire(old, next.shutdownGraceMs);
      return plan;
    };
    const result = reloading.then(run, run);
    reloading = result.catch(() => undefined);
    return result;
  };

  let closing: Promise<void> | undefined;
  const close = (graceMs = current.cfg.shutdownGraceMs): Promise<void> => {
    closing ??= (async () => {
      await reloading;
      const adminClosed = admin ? closeAdminServer(admin) : Promise.resolve();
      await drain(server, graceMs);
      await Promise.all(retiring);
      await current.settled();
      current.closeUpstreams();
      await current.store?.close();
      await adminClosed;
    })();
    return closing;
  };
  return {
    get port() {
      return port;
    },
    get adminPort() {
      return adminPort;
    },
    metrics,
    settled: async () => {
      await Promise.all([...retiring]);
      await current.settled();
    },
    inspect: (q) => current.inspect(q),
    reload,
    close,
  };
}
