// How usable is a stored entry right now, and how long must memcached keep it? One pure
// computation over plain data (times in, verdicts out): the freshness lifetime a response
// gives, the stale rules it sets, and what a stored entry may be used for at `now`. The
// engine asks these and never recomputes them.
import { currentAge } from './age.js';
import { deltaSeconds } from './cache-control.js';
import { firstValue, type Headers } from './headers.js';
import { parseHttpDate } from './http-date.js';
import { effectiveControl, expiresApplies, type Control } from './targeted.js';

export type Freshness = 'fresh' | 'stale-while-revalidate' | 'stale-if-error' | 'expired';

export interface StaleWindows {
  /** seconds after staleAt an entry may be served while one request refreshes it */
  staleWhileRevalidate: number;
  /** seconds after staleAt an entry may be served when the backend fails */
  staleIfError: number;
  /**
   * cache.honorCacheControl false: the configured windows apply whatever the response says
   * (as its lifetime is defaultTtl whatever it says).
   */
  ignoreResponse?: boolean;
}

/** Why an expired entry may not be served stale at all (also its Cache-Status detail). */
export type StaleForbidden = 'must-revalidate' | 'proxy-revalidate' | 's-maxage';

/**
 * What the response itself says about serving it stale, stored with the entry: a directive
 * that forbids it, or RFC 5861 windows that replace the configured ones. Empty: the
 * configured windows apply.
 */
export interface StaleRule {
  forbid?: StaleForbidden;
  /** stale-while-revalidate=N (seconds) */
  swr?: number;
  /** stale-if-error=N (seconds) */
  sie?: number;
}

/** The times of a stored entry: `staleAt` is when its current age reaches its lifetime. */
export interface StoredTimes {
  /** response_time (ms): when memfront received (or last validated) it */
  storedAt: number;
  /** ms: fresh strictly before this */
  staleAt: number;
  /** corrected_initial_age (s): how old it already was when received; absent = 0 */
  initialAge?: number;
  stale?: StaleRule;
}

export interface LifetimeRules {
  honorCacheControl: boolean;
  defaultTtl: number;
  maxTtl: number;
}

export interface Verdict {
  state: Freshness;
  /** Set when the entry is no longer fresh and its response forbids serving it stale. */
  forbidden?: StaleForbidden;
}

/**
 * Freshness lifetime in whole seconds. Contract: "s-maxage, else max-age, else Expires, else
 * cache.defaultTtl, never above cache.maxTtl"; with honorCacheControl false, defaultTtl. The
 * directives are those of the governing field (targeted.ts).
 */
export function freshnessLifetime(headers: Headers, rules: LifetimeRules, now: number, control: Control = effectiveControl(headers)): number {
  return Math.max(0, Math.min(Math.floor(uncappedLifetime(headers, rules, now, control)), rules.maxTtl));
}

function uncappedLifetime(headers: Headers, rules: LifetimeRules, now: number, control: Control): number {
  if (!rules.honorCacheControl) return rules.defaultTtl;
  const cc = control.directives;

  // RFC 9111 4.2.1: "If the cache is shared and the s-maxage response directive is present,
  // use its value". An invalid value means stale (4.2.1: "a cache SHOULD consider it stale"),
  // not "fall through to the next rule".
  if (cc.has('s-maxage')) return deltaSeconds(cc.get('s-maxage')) ?? 0;
  // RFC 9111 4.2.1: "If the max-age response directive is present, use its value".
  if (cc.has('max-age')) return deltaSeconds(cc.get('max-age')) ?? 0;

  // RFC 9111 4.2.1: "If the Expires response header field is present, use its value minus
  // the value of the Date response header field (using the time the message was received if
  // it is not present)". RFC 9111 5.3: "A cache recipient MUST interpret invalid date
  // formats, especially the value "0", as representing a time in the past".
  const expiresText = expiresApplies(control) ? firstValue(headers['expires']) : undefined;
  if (expiresText !== undefined) {
    const expires = parseHttpDate(expiresText, now);
    if (expires === null) return 0;
    const date = parseHttpDate(firstValue(headers['date']), now) ?? now;
    return (expires - date) / 1000;
  }
  // No explicit lifetime: memfront's configured one stands in for a heuristic (RFC 9111 4.2.2).
  return rules.defaultTtl;
}

/** The stale rule a response sets (recorded whatever the config; effectiveWindows applies it or not). */
export function staleRule(headers: Headers, control: Control = effectiveControl(headers)): StaleRule {
  const cc = control.directives;
  // RFC 9111 5.2.2.2: "once the response has become stale, a cache MUST NOT reuse that
  // response to satisfy another request until it has been successfully validated by the
  // origin server".
  if (cc.has('must-revalidate')) return { forbid: 'must-revalidate' };
  // RFC 9111 5.2.2.8: proxy-revalidate "has the same meaning as the must-revalidate response
  // directive except that it does not apply to private caches".
  if (cc.has('proxy-revalidate')) return { forbid: 'proxy-revalidate' };
  // RFC 9111 5.2.2.10: "The s-maxage directive incorporates the semantics of the
  // proxy-revalidate response directive ... for a shared cache."
  if (cc.has('s-maxage')) return { forbid: 's-maxage' };
  const rule: StaleRule = {};
  // RFC 5861 3: "When present in an HTTP response, the stale-while-revalidate Cache-Control
  // extension indicates that caches MAY serve the response in which it appears after it
  // becomes stale, up to the indicated number of seconds."
  const swr = deltaSeconds(cc.get('stale-while-revalidate'));
  if (swr !== null) rule.swr = swr;
  // RFC 5861 4: stale-if-error "indicates that when an error is encountered, a cached stale
  // response MAY be used to satisfy the request ... up to the indicated number of seconds".
  const sie = deltaSeconds(cc.get('stale-if-error'));
  if (sie !== null) rule.sie = sie;
  return rule;
}

/** The windows that apply to an entry: none when forbidden, the response's own, else the configured ones. */
export function effectiveWindows(rule: StaleRule | undefined, configured: StaleWindows): StaleWindows {
  if (configured.ignoreResponse) rule = undefined;
  // RFC 9111 4.2.4: "A cache MUST NOT generate a stale response if it is prohibited by an
  // explicit in-protocol directive (e.g., by a no-cache response directive, a must-revalidate
  // response directive, or an applicable s-maxage or proxy-revalidate response directive)".
  if (rule?.forbid) return { staleWhileRevalidate: 0, staleIfError: 0 };
  return {
    staleWhileRevalidate: rule?.swr ?? configured.staleWhileRevalidate,
    staleIfError: rule?.sie ?? configured.staleIfError,
  };
}

/**
 * What a stored entry may be used for at `now` (ms). Windows in seconds, measured from
 * staleAt. SWR is checked first: where both windows cover `now`, the cheaper answer (serve
 * and refresh) applies. Contract: "An expired entry within staleWhileRevalidate is served ...
 * while one background request refreshes it; within staleIfError it is served when the
 * backend fails."
 */
export function verdict(entry: StoredTimes, now: number, configured: StaleWindows): Verdict {
  // RFC 9111 4.2: "response_is_fresh = (freshness_lifetime > current_age)". staleAt was set
  // to response_time + (freshness_lifetime - corrected_initial_age) when the entry was made,
  // so this is the same comparison without re-reading any header.
  const late = now - entry.staleAt;
  if (late < 0) return { state: 'fresh' };
  const forbidden = configured.ignoreResponse ? undefined : entry.stale?.forbid;
  if (forbidden) return { state: 'expired', forbidden };
  const w = effectiveWindows(entry.stale, configured);
  if (late < w.staleWhileRevalidate * 1000) return { state: 'stale-while-revalidate' };
  if (late < w.staleIfError * 1000) return { state: 'stale-if-error' };
  return { state: 'expired' };
}

export function freshness(entry: StoredTimes, now: number, configured: StaleWindows): Freshness {
  return verdict(entry, now, configured).state;
}

/**
 * staleAt for a response received at `responseTime` that was `initialAge` seconds old then
 * and has a freshness lifetime of `lifetime` seconds: at or before responseTime when it
 * arrived stale.
 */
export function staleAtFor(responseTime: number, lifetime: number, initialAge: number): number {
  return responseTime + (lifetime - initialAge) * 1000;
}

/**
 * The `Age` header value (RFC 9111 5.1): the age it arrived with plus its time in memfront,
 * whole seconds, never negative (clock skew between workers).
 */
export function ageSeconds(storedAt: number, now: number, initialAge = 0): number {
  return currentAge(initialAge, storedAt, now);
}

/**
 * How long memcached must keep an entry: its remaining lifetime, the longer of the stale
 * windows that apply to it, and `keep` seconds more in which it is only ever revalidated
 * (a conditional request; never served without the backend's 304).
 */
export function storeTtlSeconds(ttl: number, windows: StaleWindows, keep = 0): number {
  return Math.ceil(Math.max(0, ttl) + Math.max(0, windows.staleWhileRevalidate, windows.staleIfError) + Math.max(0, keep));
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
