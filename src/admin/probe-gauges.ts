// What the admin process's probes (health.ts: a TCP connect to the backend) say, as a gauge:
// the backend can be down with no request failing yet (a quiet hour, everything a hit), and an
// alert should not wait for the first visitor's 502.
import client from 'prom-client';
import type { HealthReport } from './health.js';

/** Registers memfront_backend_up in the process that probes (the single process, or the primary). */
export function watchBackendProbe(registry: client.Registry, report: () => Promise<HealthReport>): void {
  if (registry.getSingleMetric('memfront_backend_up')) return;
  const gauge: client.Gauge = new client.Gauge({
    name: 'memfront_backend_up',
    help: 'Whether the backend (or the offload base) accepted a TCP connection at the last probe (1) or not (0)',
    aggregator: 'max',
    registers: [registry],
    collect: async () => {
      gauge.set((await report()).backend.reachable ? 1 : 0);
    },
  });
}
