// Latency per outcome in HDR histograms (microsecond resolution, 3 significant digits), and
// the percentile summaries and distribution curves the report prints and draws.
// hdr-histogram-js's pure-JS histograms: its WebAssembly build needs an async init first.

import * as hdr from 'hdr-histogram-js';
import type { Outcome } from './outcome.js';

export interface LatencySummary {
  count: number;
  /** Milliseconds. */
  mean: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}

export interface DistributionPoint {
  /** 0..100 */
  percentile: number;
  ms: number;
}

export interface OutcomeLatency {
  summary: LatencySummary;
  distribution: DistributionPoint[];
  /** The histogram itself (HdrHistogram's compressed base64), to merge or re-read later. */
  hdr: string;
}

/** Where the distribution curve is sampled: dense toward the tail, as HdrHistogram plots are. */
export const DISTRIBUTION_PERCENTILES = [
  0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 97.5, 98, 98.5, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99, 99.995,
  99.999, 100,
];

const MAX_TRACKABLE_US = 120_000_000; // two minutes; autoResize covers anything longer

export function newHistogram(): hdr.Histogram {
  return hdr.build({
    useWebAssembly: false,
    bitBucketSize: 32,
    autoResize: true,
    lowestDiscernibleValue: 1,
    highestTrackableValue: MAX_TRACKABLE_US,
    numberOfSignificantValueDigits: 3,
  });
}

export function summarize(h: hdr.Histogram): LatencySummary {
  const ms = (us: number) => us / 1000;
  if (h.totalCount === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, p999: 0, max: 0 };
  return {
    count: h.totalCount,
    mean: ms(h.mean),
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
  };
}

/** The curve, cut where the percentiles stop meaning anything (1 in totalCount). */
export function distribution(h: hdr.Histogram): DistributionPoint[] {
  if (h.totalCount === 0) return [];
  const finest = 100 * (1 - 1 / h.totalCount);
  const points: DistributionPoint[] = [];
  for (const p of DISTRIBUTION_PERCENTILES) {
    if (p > finest && p !== 100) continue;
    points.push({ percentile: p, ms: (p === 100 ? h.maxValue : h.getValueAtPercentile(p)) / 1000 });
  }
  return points;
}

export class LatencyRecorder {
  private readonly byOutcome = new Map<Outcome, hdr.Histogram>();
  readonly all = newHistogram();

  record(outcome: Outcome, micros: number): void {
    let h = this.byOutcome.get(outcome);
    if (!h) {
      h = newHistogram();
      this.byOutcome.set(outcome, h);
    }
    // 0 would be below the lowest discernible value; a sub-microsecond answer counts as 1 us.
    const v = Math.max(1, Math.round(micros));
    h.recordValue(v);
    this.all.recordValue(v);
  }

  outcomes(): Outcome[] {
    return [...this.byOutcome.keys()];
  }

  latency(outcome: Outcome): OutcomeLatency | undefined {
    const h = this.byOutcome.get(outcome);
    return h ? describe(h) : undefined;
  }

  allLatency(): OutcomeLatency {
    return describe(this.all);
  }
}

export function describe(h: hdr.Histogram): OutcomeLatency {
  return { summary: summarize(h), distribution: distribution(h), hdr: hdr.encodeIntoCompressedBase64(h) };
}
