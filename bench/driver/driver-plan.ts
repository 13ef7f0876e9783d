// What one measurement asks of the load driver, and what it hands back: plain data, so it
// crosses the process boundary as JSON and lands in the report file as it is.

import type { VisitorMix } from '../workload/visitor-mix.js';
import type { OutcomeLatency } from './latency-recorder.js';
import type { Outcome } from './outcome.js';
import type { TimelinePoint } from './timeline.js';

export interface DriverPlan {
  /** What the progress bar calls it, e.g. "memfront". */
  label: string;
  /** http://host:port of the server under test. */
  origin: string;
  /** Request paths by popularity rank (index 0 = most popular). */
  paths: string[];
  zipfS: number;
  mix: VisitorMix;
  connections: number;
  /** Requests per second across all connections; omitted = as fast as answers come. */
  ratePerS?: number;
  durationS?: number;
  /** Stop after this many requests (whichever of duration and requests comes first). */
  requests?: number;
  purge?: {
    ratePerS: number;
    /** The bench backend's origin: tell it the page changed before purging it. */
    updateOrigin?: string;
  };
  /** Request every path once (anonymous, gzip) before measuring, unrecorded. */
  warm?: boolean;
  seed: number;
  timeoutMs: number;
  progressEveryMs: number;
}

export interface DriverProgress {
  elapsedMs: number;
  requests: number;
  served: number;
  anonRequests: number;
  anonServed: number;
  errors: number;
  /** Set while the warm-up pass runs. */
  warming?: boolean;
}

export interface PurgeCounts {
  sent: number;
  /** PURGE answered 200: an entry was there. */
  purged: number;
  /** 404: nothing cached under that key. */
  notFound: number;
  /** Any other status, or no answer. */
  failed: number;
  /** The backend was told the page changed. */
  updated: number;
}

export interface RunResult {
  label: string;
  startedAt: string;
  connections: number;
  ratePerS?: number;
  durationS: number;
  requests: number;
  rps: number;
  /** Body bytes received. */
  bytes: number;
  errors: number;
  errorCodes: Record<string, number>;
  statuses: Record<string, number>;
  outcomes: Partial<Record<Outcome, OutcomeLatency>>;
  all: OutcomeLatency;
  /** Served from the cache (hit + stale) / requests. */
  hitRate: number;
  /** HIT only / requests. */
  hitOnlyRate: number;
  anonymous: { requests: number; served: number; hitRate: number };
  timeline: TimelinePoint[];
  purges: PurgeCounts;
  warm?: { requests: number; errors: number; ms: number };
  /** The driver's own CPU over the run (100 = one core): near 100, the driver was the limit. */
  driverCpuPercent: number;
}
