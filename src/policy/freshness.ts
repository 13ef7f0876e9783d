// How usable is a stored entry right now, and how long must memcached keep it?

export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired';

export interface StaleWindows {
  /** seconds after staleAt an entry may be served while one request refreshes it */
  staleWhileRevalidate: number;
  /** seconds after staleAt an entry may be served when the backend fails */
  staleIfError: number;
}

/**
 * Times in ms, windows in seconds, both windows measured from staleAt. An entry is fresh
 * strictly before staleAt (RFC 9111 4.2: fresh while age < lifetime). Contract: "An expired
 * entry within staleWhileRevalidate is served ... while one background request refreshes
 * it; within staleIfError it is served when the backend fails." SWR is checked first:
 * where both windows cover `now`, the cheaper answer (serve and refresh) applies.
 */
export function freshness(times: { storedAt: number; staleAt: number }, now: number, windows: StaleWindows): Freshness {
  const late = now - times.staleAt;
  if (late < 0) return 'fresh';
  if (late < windows.staleWhileRevalidate * 1000) return 'stale-while-revalidate';
  if (late < windows.staleIfError * 1000) return 'stale-if-error';
  return 'expired';
}

/** The `Age` header value (RFC 9111 5.1): whole seconds, never negative (clock skew between workers). */
export function ageSeconds(storedAt: number, now: number): number {
  return Math.max(0, Math.floor((now - storedAt) / 1000));
}

/** How long memcached must keep an entry so a stale answer can still find it. */
export function storeTtlSeconds(ttl: number, windows: StaleWindows): number {
  return Math.ceil(ttl + Math.max(0, windows.staleWhileRevalidate, windows.staleIfError));
}

/** Memcached reads an exptime above 30 days as an absolute unix time (protocol.txt, "Storage commands"). */
export const MEMCACHED_MAX_RELATIVE_EXPTIME = 2592000;

/**
 * The exptime to send for a lifetime of `seconds`: relative up to 30 days, absolute beyond.
 * Never 0 (memcached's "never expires") and never negative: the shortest is 1 second.
 */
export function memcachedExptime(seconds: number, nowMs: number): number {
  const s = Math.max(1, Math.ceil(seconds));
  if (s <= MEMCACHED_MAX_RELATIVE_EXPTIME) return s;
  return Math.floor(nowMs / 1000) + s;
}
