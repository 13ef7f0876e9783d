// Prometheus metrics. The engine reports facts here; names follow the contract's Admin section.
import client from 'prom-client';

export type Outcome = 'hit' | 'miss' | 'bypass' | 'stale' | 'none';

export class Metrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({
    name: 'memfront_requests_total',
    help: 'Requests answered, by cache outcome and route',
    labelNames: ['cache', 'route'] as const,
    registers: [this.registry],
  });
  readonly duration = new client.Histogram({
    name: 'memfront_request_duration_seconds',
    help: 'Time from request to the end of the response, by cache outcome',
    labelNames: ['cache'] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
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
    help: 'Cache store operations that failed and were treated as misses, by kind',
    labelNames: ['op', 'code'] as const,
    registers: [this.registry],
  });
  readonly bytesServed = new client.Counter({
    name: 'memfront_bytes_served_total',
    help: 'Body bytes sent to clients, by cache outcome',
    labelNames: ['cache'] as const,
    registers: [this.registry],
  });
  readonly bytesSaved = new client.Counter({
    name: 'memfront_bytes_saved_total',
    help: 'Body bytes served from the cache that the backend did not have to send',
    registers: [this.registry],
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

  request(outcome: Outcome, route: string, seconds: number, bytes: number): void {
    this.requests.inc({ cache: outcome, route });
    this.duration.observe({ cache: outcome }, seconds);
    this.bytesServed.inc({ cache: outcome }, bytes);
    if (outcome === 'hit' || outcome === 'stale') this.bytesSaved.inc(bytes);
  }
}
