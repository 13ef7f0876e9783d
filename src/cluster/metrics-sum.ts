// /metrics with workers: each living worker's snapshot, asked for over IPC, summed with what
// workers that are gone had counted (so counters never go backwards when one is replaced)
// and with the primary's own series (workers running, restarts, reloads, its process).
import client from 'prom-client';
import type { Logger } from 'pino';
import { processRegistry, type MetricsSnapshot } from '../admin/metrics.js';

export interface Reporter {
  id: number;
  /** Its metrics as last reported: what it had counted, kept when it dies. */
  lastMetrics?: MetricsSnapshot;
}

export class MetricsSum {
  /** Counters and histograms of workers that are gone, folded into one snapshot at scrape time. */
  private retired: MetricsSnapshot[] = [];

  constructor(
    private readonly own: client.Registry,
    private readonly log: () => Logger,
  ) {}

  /** A worker is gone: its history stays in the sums. */
  keep(m: Reporter): void {
    if (!m.lastMetrics) return;
    // Gauges describe the living; counters and histograms are history worth keeping.
    this.retired.push(m.lastMetrics.filter((metric) => ['counter', 'histogram'].includes(String(metric.type))));
  }

  /**
   * Prometheus text of the sum. `ask` resolves a worker's fresh snapshot, or undefined when it
   * did not answer in time (its last report is used then).
   */
  async text<M extends Reporter>(live: M[], ask: (m: M) => Promise<MetricsSnapshot | undefined>): Promise<{ contentType: string; body: string }> {
    const replies = await Promise.all(live.map(ask));
    const silent: number[] = [];
    live.forEach((m, i) => {
      const r = replies[i];
      if (r) m.lastMetrics = r;
      else silent.push(m.id);
    });
    if (silent.length > 0) this.log().warn({ workers: silent }, 'no metrics from some workers in time; their last report is used');
    if (this.retired.length > 1) {
      this.retired = [await client.AggregatorRegistry.aggregate(this.retired).getMetricsAsJSON()];
    }
    const own = [...(await this.own.getMetricsAsJSON()), ...(await processRegistry().getMetricsAsJSON())];
    const parts = [...this.retired, ...live.flatMap((m) => (m.lastMetrics ? [m.lastMetrics] : [])), own];
    const body = await client.AggregatorRegistry.aggregate(parts).metrics();
    return { contentType: this.own.contentType, body };
  }
}
