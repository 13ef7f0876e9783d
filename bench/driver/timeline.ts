// Per-second counts of a run (by completion time), for the hit-rate-over-time chart and the
// progress line: outcomes, anonymous requests, bytes, errors.

import { servedFromCache, type Outcome } from './outcome.js';

export interface TimelinePoint {
  /** Seconds since the start of the run (the bucket [t, t+1)). */
  t: number;
  requests: number;
  served: number;        // hit + stale
  hit: number;
  stale: number;
  miss: number;
  bypass: number;
  anonRequests: number;
  anonServed: number;
  bytes: number;
  errors: number;
}

function emptyPoint(t: number): TimelinePoint {
  return { t, requests: 0, served: 0, hit: 0, stale: 0, miss: 0, bypass: 0, anonRequests: 0, anonServed: 0, bytes: 0, errors: 0 };
}

export class Timeline {
  private readonly points: TimelinePoint[] = [];

  private at(elapsedMs: number): TimelinePoint {
    const t = Math.max(0, Math.floor(elapsedMs / 1000));
    while (this.points.length <= t) this.points.push(emptyPoint(this.points.length));
    return this.points[t];
  }

  response(elapsedMs: number, outcome: Outcome, anonymous: boolean, bytes: number): void {
    const p = this.at(elapsedMs);
    p.requests++;
    p.bytes += bytes;
    const served = servedFromCache(outcome);
    if (served) p.served++;
    if (outcome === 'hit' || outcome === 'stale' || outcome === 'miss' || outcome === 'bypass') p[outcome]++;
    if (anonymous) {
      p.anonRequests++;
      if (served) p.anonServed++;
    }
  }

  error(elapsedMs: number): void {
    this.at(elapsedMs).errors++;
  }

  toJSON(): TimelinePoint[] {
    return this.points.map((p) => ({ ...p }));
  }
}
