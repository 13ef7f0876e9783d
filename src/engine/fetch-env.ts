// What the pieces of the miss path (fetch.ts, answer-stream.ts, revalidation.ts) share.
import type { Logger } from 'pino';
import type { Metrics } from '../admin/metrics.js';
import type { CacheAccess } from './cache-access.js';
import type { CacheWrites } from './cache-writes.js';
import type { Offload } from './offload.js';
import type { Rules } from './rules.js';

export interface FetchEnv {
  rules: Rules;
  cache: CacheAccess | null;
  metrics: Metrics;
  logger: Logger;
  now: () => number;
  writes: CacheWrites;
  offload: Offload;
  /**
   * Bodies over this are stored gzipped; with no memcached server in use the entry only serves
   * this request and its coalesced waiters, so the gzip would be work for nothing.
   */
  compressThreshold(): number;
}

/** The backend's answer may no longer be stored: neither may the old one be served. */
export function dropEntry(env: FetchEnv, key: string, reason: string): { kind: 'not-shareable'; bytes: 0; detail: string } {
  env.metrics.notStored.inc({ reason });
  env.writes.forget(key);
  return { kind: 'not-shareable', bytes: 0, detail: reason };
}
