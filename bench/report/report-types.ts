// The bench report as data: what bench-results/*.json holds and what the terminal table and
// the HTML page are drawn from. `schema` changes when a field changes meaning.

import type { RunResult } from '../driver/driver-plan.js';
import type { ProcUsage } from '../lib/proc-sampler.js';
import type { TheoryResult } from '../workload/hit-rate-theory.js';

export const REPORT_SCHEMA = 'memfront-bench/1';

export interface MetricsDelta {
  /** memfront_requests_total by cache label, over the phase. */
  requests: Record<string, number>;
  /** memfront_backend_requests_total over the phase. */
  backendRequests?: number;
  /** memfront_cache_errors_total over the phase: cache trouble served as misses. */
  cacheErrors?: number;
}

export interface PhaseReport {
  run: RunResult;
  /** What the backend itself counted during the phase (synthetic backend only). */
  backend?: { requests: number; bytes: number };
  /** The server's CPU and memory during the phase. */
  process?: ProcUsage;
  /** CPU time of the server per request answered, in microseconds. */
  cpuUsPerRequest?: number;
  /** memfront's own counters over the phase, from its /metrics. */
  metrics?: MetricsDelta;
}

export type TargetKind = 'cache' | 'backend' | 'ceiling';

export interface TargetReport {
  id: string;
  label: string;
  kind: TargetKind;
  status: 'ok' | 'not installed' | 'failed';
  /** Version, or why it was not measured. */
  detail?: string;
  /** The Zipf workload with logged-in visitors and purges. */
  workload?: PhaseReport;
  /** Anonymous requests for the same pages after every page was fetched once. */
  hitsOnly?: PhaseReport;
  theory?: TheoryReport;
}

export interface TheoryReport extends TheoryResult {
  /** The cold-start expectation for the anonymous hit rate after t seconds: [t, rate] pairs. */
  coldStartCurve?: Array<[number, number]>;
  /** What the formula was fed, so the figure can be checked by hand. */
  inputs: {
    requestRate: number;
    loggedInShare: number;
    purgeRate: number;
    staleWhileRevalidateS: number;
    fetchS: number;
    durationS: number;
    pages: number;
  };
}

export interface WorkloadReport {
  mode: 'synthetic' | 'target';
  origin?: string;
  pages: number;
  zipfS: number;
  loggedInShare: number;
  gzipShare: number;
  purgeRatePerS: number;
  renderMs?: number;
  connections: number;
  ratePerS?: number;
  durationS?: number;
  requests?: number;
  /** Mean body size over the distinct pages, and weighted by how often each is requested. */
  meanPageBytes?: number;
  weightedMeanBytes?: number;
  /** How many pages have each TTL, e.g. {"60": 797, "300": 200, "86400": 1}. */
  ttls?: Record<string, number>;
  /** The ten most popular paths and their request probability. */
  top?: { path: string; p: number; bytes?: number; ttlS?: number }[];
}

export interface BenchReport {
  schema: typeof REPORT_SCHEMA;
  startedAt: string;
  finishedAt: string;
  command: string;
  machine: { cpus: number; cpuModel?: string; node: string; platform: string; pinned: boolean; loadAverage: number[] };
  workload: WorkloadReport;
  targets: TargetReport[];
  /** Body size of the bare Node server (the ceiling), bytes. */
  ceilingBytes?: number;
  notes: string[];
}
