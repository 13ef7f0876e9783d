// Prometheus metrics. The engine reports facts here; names follow the contract's Admin section
// and Prometheus's conventions (unit before _total; docs/operations.md lists them all).
// Each process keeps its own; with workers the primary sums them (see cluster.ts), so every
// metric carries the aggregator that makes that sum mean something.
import client from 'prom-client';
import type { StoreServerStatus } from '../store/cache-store.js';
import type { TrackerStatus } from '../upstream/mogile-tracker.js';
import type { StaticServerStatus } from '../upstream/static-probe.js';
import { VERSION } from './version.js';
import { TalliedHistogram, type HistogramSeries } from './tallied-histogram.js';
import { ReloadMetrics } from './reload-metrics.js';

export type Outcome = 'hit' | 'miss' | 'bypass' | 'stale' | 'none';

// Every labelled series is made at 0 when the process starts, so an alert on a rate reads 0
// before the first error, not "no data". These are the label values known in advance.
export const OUTCOMES: readonly Outcome[] = ['hit', 'miss', 'bypass', 'stale', 'none'];
export const ROUTES = ['backend', 'reproxy', 'mogile', 'static', 'offload'] as const;
/** Where a hit was read from: memfront's own L1 copy, or the store (memcached, or the embedded memory store). */
export const TIERS = ['l1', 'memcached', 'memory'] as const;
export type Tier = 0 | 1 | 2;
export const TIER_L1: Tier = 0;
export const STALE_REASONS = ['stale-while-revalidate', 'stale-if-error'] as const;
export const PURGE_KINDS = ['path', 'tags', 'host'] as const;
export type PurgeKind = (typeof PURGE_KINDS)[number];
export const PURGE_RESULTS = ['purged', 'absent', 'refused', 'failed'] as const;
const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'];
/** Who chose the status: an upstream (the backend, a reproxy, MogileFS or static server; now, or when the entry was stored), or memfront itself (its 502/503/504, 500, 400s, purge answers, offload redirects). */
const SOURCES = ['upstream', 'memfront'] as const;
const NOT_STORED_REASONS = ['status', 'set-cookie', 'private', 'no-store', 'no-cache', 'vary', 'encoding', 'too-large', 'zero-ttl', 'refused', 'purged', 'chunk-missing', 'no-generations'];
const BACKEND_ERROR_CODES = ['ECONNREFUSED', 'ECONNRESET', 'MF_BACKEND_TIMEOUT', 'incomplete-body'];
const CACHE_ERROR_OPS = ['get', 'set', 'delete', 'add', 'incr'];
const CACHE_ERROR_CODES = ['MF_CACHE_TIMEOUT', 'MF_CACHE_UNAVAILABLE'];
const L1_RENEWAL_RESULTS = ['unchanged', 'reread', 'gone', 'failed'];
/** hot-gzip.ts's HotGzipResult. */
const HOT_GZIP_RESULTS = ['stored', 'changed', 'no-gain', 'skipped', 'failed'];

/** A registry's content as prom-client serialises it for aggregation across processes. */
export type MetricsSnapshot = Awaited<ReturnType<client.Registry['getMetricsAsJSON']>>;

let processRegistryOnce: client.Registry | undefined;

/**
 * Node's process metrics (CPU, memory, event loop lag, GC), collected once per process
 * whatever number of Metrics objects it makes (tests start many memfronts in one process).
 */
export function processRegistry(): client.Registry {
  if (!processRegistryOnce) {
    processRegistryOnce = new client.Registry();
    client.collectDefaultMetrics({ register: processRegistryOnce });
  }
  return processRegistryOnce;
}

interface Tally {
  outcome: Outcome;
  route: string;
  requests: number;
  bytes: number;
  duration: HistogramSeries;
  /** Answers by status class (index = status / 100), upstream's in 0-5, memfront's own in 6-11. */
  answers: Float64Array;
}

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'memfront_requests_total',
    help: 'Requests answered, by cache outcome and route',
    labelNames: ['cache', 'route'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly duration = new TalliedHistogram(
    'memfront_request_duration_seconds',
    'Time from request to the end of the response, by cache outcome',
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );
  readonly responses = new client.Counter({
    name: 'memfront_responses_total',
    help: 'Answers sent, by status class and by who chose the status (upstream: the backend or another route\'s server, now or when the entry was stored; memfront: its own 502/503/504, 500, 4xx and purge answers)',
    labelNames: ['status_class', 'source'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly hits = new client.Counter({
    name: 'memfront_cache_hits_total',
    help: 'Hits, by the tier the entry was read from (l1: this process\'s copy; memcached or memory: the store)',
    labelNames: ['tier'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly staleAnswers = new client.Counter({
    name: 'memfront_stale_responses_total',
    help: 'Expired entries served, by reason (stale-while-revalidate: refreshed in the background; stale-if-error: the backend failed)',
    labelNames: ['reason'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly purges = new client.Counter({
    name: 'memfront_purges_total',
    help: 'PURGE requests, by kind (path, tags, host: the whole Host) and result (purged; absent: nothing stored; refused: 403 or 400; failed: cache unavailable)',
    labelNames: ['kind', 'result'] as const,
    registers: [this.registry],
  });
  readonly upstreamDuration = new TalliedHistogram(
    'memfront_upstream_duration_seconds',
    'Time from sending a request upstream to its response headers (or its failure), by route',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    this.registry,
  );
  private l1Status: () => { bytes: number; entries: number } = () => ({ bytes: 0, entries: 0 });
  readonly l1Bytes = new client.Gauge({
    name: 'memfront_l1_bytes',
    help: 'Bytes held by the in-process L1 tier (summed over workers)',
    registers: [this.registry],
    collect: () => {
      this.l1Bytes.set(this.l1Status().bytes);
    },
  });
  readonly l1Entries = new client.Gauge({
    name: 'memfront_l1_entries',
    help: 'Entries held by the in-process L1 tier (summed over workers)',
    registers: [this.registry],
    collect: () => {
      this.l1Entries.set(this.l1Status().entries);
    },
  });
  readonly backendRequests = new client.Counter({
    name: 'memfront_backend_requests_total',
    help: 'Requests sent upstream, by route',
    labelNames: ['route'] as const,
    registers: [this.registry],
  });
  readonly backendErrors = new client.Counter({
    name: 'memfront_backend_errors_total',
    help: 'Upstream requests that failed (connect, timeout, cut body), by route and code',
    labelNames: ['route', 'code'] as const,
    registers: [this.registry],
  });
  readonly cacheErrors = new client.Counter({
    name: 'memfront_cache_errors_total',
    help: 'Cache store operations that failed and were treated as misses, by operation and code (MF_CACHE_TIMEOUT: timeouts)',
    labelNames: ['op', 'code'] as const,
    registers: [this.registry],
  });
  readonly bytesServed = new client.Counter({
    name: 'memfront_served_bytes_total',
    help: 'Body bytes sent to clients, by cache outcome',
    labelNames: ['cache'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly bytesSaved = new client.Counter({
    name: 'memfront_saved_bytes_total',
    help: 'Body bytes served from the cache that the backend did not have to send',
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  // The names before the unit was put where Prometheus puts it; kept for this release only,
  // so dashboards can move over. Same values.
  readonly bytesServedOld = new client.Counter({
    name: 'memfront_bytes_served_total',
    help: 'Deprecated: memfront_served_bytes_total (removed in the next release)',
    labelNames: ['cache'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly bytesSavedOld = new client.Counter({
    name: 'memfront_bytes_saved_total',
    help: 'Deprecated: memfront_saved_bytes_total (removed in the next release)',
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly stores = new client.Counter({
    name: 'memfront_cache_stores_total',
    help: 'Entries written to the cache',
    registers: [this.registry],
  });
  readonly storedBytes = new client.Histogram({
    name: 'memfront_cache_entry_bytes',
    help: 'Size of entries written to the cache',
    buckets: [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216],
    registers: [this.registry],
  });
  readonly notStored = new client.Counter({
    name: 'memfront_cache_not_stored_total',
    help: 'Cacheable-request responses not stored, by reason',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly revalidations = new client.Counter({
    name: 'memfront_revalidations_total',
    help: 'Conditional requests for expired entries, by result (304: unchanged, renewed without the body crossing; 200: the page came whole, whatever its status)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly l1Renewals = new client.Counter({
    name: 'memfront_l1_renewals_total',
    help: 'Re-checks of hot L1 entries before they run out, by result (unchanged: its version alone was read and had not changed; reread: read whole, because it changed or its version was not known; gone; failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly hotGzip = new client.Counter({
    name: 'memfront_hot_gzip_total',
    help: 'Pages gzipped again at cache.hotGzip.level once hot, by result (stored; changed: the store or L1 moved on meanwhile, which wins; no-gain: not smaller; skipped: no longer fresh or not inflating; failed: the store refused or failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly hotGzipSaved = new client.Counter({
    name: 'memfront_hot_gzip_saved_bytes_total',
    help: 'Bytes the pages gzipped again at cache.hotGzip.level are smaller by (per page, not per hit)',
    registers: [this.registry],
  });
  /** Kept as a plain number (two gauge updates per request showed in profiles), read at scrape time. */
  requestsInFlight = 0;
  readonly inFlight = new client.Gauge({
    name: 'memfront_requests_in_flight',
    help: 'Requests being answered now',
    registers: [this.registry],
    collect: () => {
      this.inFlight.set(this.requestsInFlight);
    },
  });
  /** Reloads of this process's config (single process; with workers the primary keeps them). */
  readonly reloads = new ReloadMetrics(this.registry);
  private storeStatus: () => StoreServerStatus[] = () => [];
  readonly cacheServerUp = new client.Gauge({
    name: 'memfront_cache_server_up',
    help: 'Whether the cache store uses this server (1) or has taken it out after a failure (0); with workers, the lowest of their views',
    labelNames: ['server'] as const,
    // One worker that lost a server is worth knowing about: the sum would hide it.
    aggregator: 'min',
    registers: [this.registry],
    collect: () => {
      this.cacheServerUp.reset();
      for (const s of this.storeStatus()) this.cacheServerUp.set({ server: s.server }, s.up ? 1 : 0);
    },
  });
  private trackerStatus: () => TrackerStatus[] = () => [];
  readonly trackerUp = new client.Gauge({
    name: 'memfront_mogile_tracker_up',
    help: 'Whether memfront asks this MogileFS tracker (1) or skips it after a failure (0); with workers, the lowest of their views',
    labelNames: ['tracker'] as const,
    aggregator: 'min',
    registers: [this.registry],
    collect: () => {
      this.trackerUp.reset();
      for (const t of this.trackerStatus()) this.trackerUp.set({ tracker: t.tracker }, t.up ? 1 : 0);
    },
  });
  private staticStatus: () => StaticServerStatus[] = () => [];
  readonly staticServerUp = new client.Gauge({
    name: 'memfront_static_server_up',
    help: 'Whether memfront asks this static server (1) or skips it after a failure (0); with workers, the lowest of their views',
    labelNames: ['server'] as const,
    aggregator: 'min',
    registers: [this.registry],
    collect: () => {
      this.staticServerUp.reset();
      for (const s of this.staticStatus()) this.staticServerUp.set({ server: s.server }, s.up ? 1 : 0);
    },
  });
  readonly buildInfo = new client.Gauge({
    name: 'memfront_build_info',
    help: 'Always 1; the labels say which memfront runs',
    labelNames: ['version'] as const,
    aggregator: 'max',
    registers: [this.registry],
  });

  constructor() {
    this.buildInfo.set({ version: VERSION }, 1);
    for (const cache of OUTCOMES) {
      this.duration.labels({ cache });
      this.bytesServed.inc({ cache }, 0);
      this.bytesServedOld.inc({ cache }, 0);
      for (const route of ROUTES) this.requests.inc({ cache, route }, 0);
    }
    this.bytesSaved.inc(0);
    this.bytesSavedOld.inc(0);
    for (const status_class of STATUS_CLASSES) for (const source of SOURCES) this.responses.inc({ status_class, source }, 0);
    for (const tier of TIERS) this.hits.inc({ tier }, 0);
    for (const reason of STALE_REASONS) this.staleAnswers.inc({ reason }, 0);
    for (const kind of PURGE_KINDS) for (const result of PURGE_RESULTS) this.purges.inc({ kind, result }, 0);
    for (const route of ROUTES) {
      this.upstreamSeries.set(route, this.upstreamDuration.labels({ route }));
      this.backendRequests.inc({ route }, 0);
    }
    for (const code of BACKEND_ERROR_CODES) this.backendErrors.inc({ route: 'backend', code }, 0);
    for (const op of CACHE_ERROR_OPS) for (const code of CACHE_ERROR_CODES) this.cacheErrors.inc({ op, code }, 0);
    for (const reason of NOT_STORED_REASONS) this.notStored.inc({ reason }, 0);
    for (const result of L1_RENEWAL_RESULTS) this.l1Renewals.inc({ result }, 0);
    for (const result of HOT_GZIP_RESULTS) this.hotGzip.inc({ result }, 0);
    this.stores.inc(0);
  }

  private readonly upstreamSeries = new Map<string, HistogramSeries>();

  /** A request upstream answered with its headers, or failed, after this long. */
  upstream(route: string, seconds: number): void {
    let s = this.upstreamSeries.get(route);
    if (s === undefined) {
      s = this.upstreamDuration.labels({ route });
      this.upstreamSeries.set(route, s);
    }
    s.observe(seconds);
  }

  /** A PURGE answered (counted once, from the request's end). */
  purged(kind: PurgeKind, status: number): void {
    const result = status === 200 ? 'purged' : status === 404 ? 'absent' : status === 403 || status === 400 ? 'refused' : 'failed';
    this.purges.inc({ kind, result });
  }

  /** Reloads of the config, as the single process's SIGHUP handler applies them. */
  reloaded(ok: boolean): void {
    this.reloads.reloaded(ok);
  }

  /** Where memfront_l1_bytes and memfront_l1_entries read from (the running config's L1). */
  watchL1(status: () => { bytes: number; entries: number }): void {
    this.l1Status = status;
  }

  /**
   * The per-request counters, kept as plain numbers per (outcome, route) and added to the
   * prom-client counters when they are read (their collect): four labelled updates per
   * request, each hashing its label set, were measurable on the hit path. The duration
   * histogram is observed directly, on its series for the outcome (tallied-histogram.ts).
   * By outcome, then route: two lookups of constant strings, where a key joined of both was
   * built and hashed per request.
   */
  private readonly tallies = new Map<Outcome, Map<string, Tally>>();

  /** Hits by tier (TIERS order), and stale answers by reason (STALE_REASONS order), added at scrape time. */
  private readonly hitTally = new Float64Array(TIERS.length);
  private readonly staleTally = new Float64Array(STALE_REASONS.length);

  /**
   * One answered request. `status` 0: nothing was sent (the client left first). `own`: memfront
   * chose the status itself. `tier`: where a hit was read from. `staleIfError`: a stale answer
   * stood in for a failed backend (else it was served while refreshing).
   */
  request(outcome: Outcome, route: string, seconds: number, bytes: number, status = 0, own = false, tier: Tier = TIER_L1, staleIfError = false): void {
    let byRoute = this.tallies.get(outcome);
    if (byRoute === undefined) this.tallies.set(outcome, (byRoute = new Map()));
    let t = byRoute.get(route);
    if (t === undefined) {
      t = { outcome, route, requests: 0, bytes: 0, duration: this.duration.labels({ cache: outcome }), answers: new Float64Array(12) };
      byRoute.set(route, t);
    }
    t.requests++;
    t.bytes += bytes;
    t.duration.observe(seconds);
    const cls = (status / 100) | 0;
    if (cls >= 1 && cls <= 5) t.answers[own ? 6 + cls : cls]++;
    if (outcome === 'hit') this.hitTally[tier]++;
    else if (outcome === 'stale') this.staleTally[staleIfError ? 1 : 0]++;
  }

  private flushTallies(): void {
    for (const byRoute of this.tallies.values()) for (const t of byRoute.values()) {
      if (t.requests > 0) this.requests.inc({ cache: t.outcome, route: t.route }, t.requests);
      if (t.bytes > 0) {
        this.bytesServed.inc({ cache: t.outcome }, t.bytes);
        this.bytesServedOld.inc({ cache: t.outcome }, t.bytes);
        if (t.outcome === 'hit' || t.outcome === 'stale') {
          this.bytesSaved.inc(t.bytes);
          this.bytesSavedOld.inc(t.bytes);
        }
      }
      for (let i = 1; i < 12; i++) {
        const n = t.answers[i];
        if (n === 0 || i === 6) continue;
        this.responses.inc({ status_class: STATUS_CLASSES[(i % 6) - 1], source: i >= 6 ? 'memfront' : 'upstream' }, n);
        t.answers[i] = 0;
      }
      t.requests = 0;
      t.bytes = 0;
    }
    this.hitTally.forEach((n, i) => {
      if (n > 0) this.hits.inc({ tier: TIERS[i] }, n);
      this.hitTally[i] = 0;
    });
    this.staleTally.forEach((n, i) => {
      if (n > 0) this.staleAnswers.inc({ reason: STALE_REASONS[i] }, n);
      this.staleTally[i] = 0;
    });
  }

  /** Where memfront_cache_server_up reads from; called again when a reload replaces the store. */
  watchStore(status: () => StoreServerStatus[]): void {
    this.storeStatus = status;
  }

  /** Where the tracker and static server gauges read from (the running config's clients). */
  watchFileServers(trackers: () => TrackerStatus[], statics: () => StaticServerStatus[]): void {
    this.trackerStatus = trackers;
    this.staticStatus = statics;
  }

  /** This process's metrics and its process metrics, as sent to the primary. */
  async snapshot(): Promise<MetricsSnapshot> {
    const [own, proc] = await Promise.all([this.registry.getMetricsAsJSON(), processRegistry().getMetricsAsJSON()]);
    return [...own, ...proc];
  }

  /** Prometheus text of this process alone (one process, no workers). */
  async text(): Promise<{ contentType: string; body: string }> {
    const merged = client.Registry.merge([this.registry, processRegistry()]);
    return { contentType: this.registry.contentType, body: await merged.metrics() };
  }
}
