// Prometheus metrics. The engine reports facts here; names follow the contract's Admin section.
// Each process keeps its own; with workers the primary sums them (see cluster.ts), so every
// metric carries the aggregator that makes that sum mean something.
import client from 'prom-client';
import type { StoreServerStatus } from '../store/cache-store.js';
import type { TrackerStatus } from '../upstream/mogile-tracker.js';
import type { StaticServerStatus } from '../upstream/static-probe.js';
import { VERSION } from './version.js';
import { TalliedHistogram, type HistogramSeries } from './tallied-histogram.js';

export type Outcome = 'hit' | 'miss' | 'bypass' | 'stale' | 'none';

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
    name: 'memfront_bytes_served_total',
    help: 'Body bytes sent to clients, by cache outcome',
    labelNames: ['cache'] as const,
    registers: [this.registry],
    collect: () => this.flushTallies(),
  });
  readonly bytesSaved = new client.Counter({
    name: 'memfront_bytes_saved_total',
    help: 'Body bytes served from the cache that the backend did not have to send',
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
  readonly reloads = new client.Counter({
    name: 'memfront_config_reloads_total',
    help: 'SIGHUP config reloads, by result (ok, failed)',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
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
  }

  /**
   * The per-request counters, kept as plain numbers per (outcome, route) and added to the
   * prom-client counters when they are read (their collect): four labelled updates per
   * request, each hashing its label set, were measurable on the hit path. The duration
   * histogram is observed directly, on its series for the outcome (tallied-histogram.ts).
   */
  private readonly tallies = new Map<string, Tally>();

  request(outcome: Outcome, route: string, seconds: number, bytes: number): void {
    const k = outcome + ' ' + route;
    let t = this.tallies.get(k);
    if (t === undefined) {
      t = { outcome, route, requests: 0, bytes: 0, duration: this.duration.labels({ cache: outcome }) };
      this.tallies.set(k, t);
    }
    t.requests++;
    t.bytes += bytes;
    t.duration.observe(seconds);
  }

  private flushTallies(): void {
    for (const t of this.tallies.values()) {
      if (t.requests > 0) this.requests.inc({ cache: t.outcome, route: t.route }, t.requests);
      if (t.bytes > 0) {
        this.bytesServed.inc({ cache: t.outcome }, t.bytes);
        if (t.outcome === 'hit' || t.outcome === 'stale') this.bytesSaved.inc(t.bytes);
      }
      t.requests = 0;
      t.bytes = 0;
    }
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
