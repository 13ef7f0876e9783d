// The counters of memfront's /metrics a bench phase reports: requests by cache outcome and
// requests sent upstream, read before and after so the phase's own share can be told.

import { httpProbe } from './http-probe.js';
import { sumCounter } from './prometheus-text.js';

export interface MemfrontCounters {
  requests: Record<string, number>;
  backendRequests?: number;
  /** memfront_cache_errors_total: store operations that failed and became misses. */
  cacheErrors?: number;
}

const LABELS = ['hit', 'miss', 'bypass', 'stale', 'none'];

export function countersFromText(text: string): MemfrontCounters {
  const requests: Record<string, number> = {};
  for (const cache of LABELS) {
    const n = sumCounter(text, 'memfront_requests_total', { cache });
    if (n !== undefined) requests[cache] = n;
  }
  return {
    requests,
    backendRequests: sumCounter(text, 'memfront_backend_requests_total'),
    cacheErrors: sumCounter(text, 'memfront_cache_errors_total'),
  };
}

export async function readMemfrontCounters(adminUrl: string): Promise<MemfrontCounters | undefined> {
  try {
    const res = await httpProbe(`${adminUrl.replace(/\/$/, '')}/metrics`, { timeoutMs: 3000 });
    return res.status === 200 ? countersFromText(res.body.toString()) : undefined;
  } catch {
    return undefined;
  }
}

export function countersDelta(before: MemfrontCounters, after: MemfrontCounters): MemfrontCounters {
  const requests: Record<string, number> = {};
  for (const [k, v] of Object.entries(after.requests)) requests[k] = v - (before.requests[k] ?? 0);
  const backendRequests =
    after.backendRequests !== undefined ? after.backendRequests - (before.backendRequests ?? 0) : undefined;
  const cacheErrors = after.cacheErrors !== undefined ? after.cacheErrors - (before.cacheErrors ?? 0) : undefined;
  return { requests, backendRequests, cacheErrors };
}
