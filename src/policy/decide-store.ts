// May this backend response be stored, and for how long? (Contract: "What is stored".)

import { deltaSeconds, parseCacheControl } from './cache-control.js';
import { firstValue, isPresent, listMembers, type Headers } from './headers.js';
import { parseHttpDate } from './http-date.js';

export type NotStoredReason =
  | 'status'
  | 'set-cookie'
  | 'private'
  | 'no-store'
  | 'no-cache'
  | 'vary'
  | 'too-large'
  | 'zero-ttl'
  // Content-Encoding other than gzip: one entry must serve gzip and identity clients.
  | 'encoding'
  // A Range or HEAD answer carried through to a reproxy/mogile/static server.
  | 'partial'
  | 'head';

export type StoreDecision = { store: true; ttl: number } | { store: false; reason: NotStoredReason };

export interface StoreRules {
  statuses: number[];
  honorCacheControl: boolean;
  defaultTtl: number;
  maxTtl: number;
  maxObjectSize: number;
}

export type LifetimeRules = Pick<StoreRules, 'honorCacheControl' | 'defaultTtl' | 'maxTtl'>;

export function decideStore(res: { status: number; headers: Headers }, rules: StoreRules, now: number): StoreDecision {
  const h = res.headers;

  // Contract: "its status is in cache.statuses".
  if (!rules.statuses.includes(res.status)) return { store: false, reason: 'status' };

  // Contract: "it has no Set-Cookie" — whatever honorCacheControl says, so no two visitors share a cookie.
  // Set-Cookie2 (RFC 2965, obsolete) sets a cookie all the same.
  if (isPresent(h['set-cookie']) || isPresent(h['set-cookie2'])) return { store: false, reason: 'set-cookie' };

  // Contract: "its Cache-Control allows a shared cache (no private, no-store, no-cache;
  // unless cache.honorCacheControl is false)". Qualified forms (private="x", no-cache="x")
  // are treated as the bare directive: we do not store partial header sets (RFC 9111 5.2.2.4/7).
  if (rules.honorCacheControl) {
    const cc = parseCacheControl(h['cache-control']);
    if (cc.has('private')) return { store: false, reason: 'private' };
    if (cc.has('no-store')) return { store: false, reason: 'no-store' };
    if (cc.has('no-cache')) return { store: false, reason: 'no-cache' };
  }

  // Contract: "its Vary is absent or only Accept-Encoding"; field names are case-insensitive,
  // and `Vary: *` means no request can ever match (RFC 9110 12.5.5).
  if (listMembers(h['vary']).some((name) => name.toLowerCase() !== 'accept-encoding')) {
    return { store: false, reason: 'vary' };
  }

  // Contract: "no larger than cache.maxObjectSize" — known up front from Content-Length;
  // the engine checks again while the body streams.
  const length = contentLength(h['content-length']);
  if (length !== null && length > rules.maxObjectSize) return { store: false, reason: 'too-large' };

  const ttl = lifetime(h, rules, now);
  if (ttl <= 0) return { store: false, reason: 'zero-ttl' };
  return { store: true, ttl };
}

/**
 * Freshness lifetime in whole seconds. Contract: "s-maxage, else max-age, else Expires,
 * else cache.defaultTtl, never above cache.maxTtl"; with honorCacheControl false, defaultTtl.
 */
export function lifetime(headers: Headers, rules: LifetimeRules, now: number): number {
  return Math.max(0, Math.min(Math.floor(uncapped(headers, rules, now)), rules.maxTtl));
}

function uncapped(headers: Headers, rules: LifetimeRules, now: number): number {
  if (!rules.honorCacheControl) return rules.defaultTtl;
  const cc = parseCacheControl(headers['cache-control']);

  // RFC 9111 5.2.2.10: s-maxage overrides max-age and Expires for a shared cache.
  // An invalid value means stale (RFC 9111 4.2.1), not "fall through to the next rule".
  if (cc.has('s-maxage')) return deltaSeconds(cc.get('s-maxage')) ?? 0;
  // RFC 9111 5.2.2.1: max-age overrides Expires.
  if (cc.has('max-age')) return deltaSeconds(cc.get('max-age')) ?? 0;

  // RFC 9111 5.3: "A cache recipient MUST interpret invalid date formats, especially the
  // value "0", as representing a time in the past (i.e., "already expired")."
  const expiresText = firstValue(headers['expires']);
  if (expiresText !== undefined) {
    const expires = parseHttpDate(expiresText, now);
    if (expires === null) return 0;
    // RFC 9111 4.2.1: freshness_lifetime = Expires - Date, so the backend's clock is not compared with ours.
    const date = parseHttpDate(firstValue(headers['date']), now) ?? now;
    return (expires - date) / 1000;
  }
  return rules.defaultTtl;
}

/** Largest of the declared lengths; null when absent or unreadable (the streaming check decides). */
function contentLength(value: string | string[] | undefined): number | null {
  const members = listMembers(value).filter((v) => /^\d+$/.test(v));
  return members.length === 0 ? null : Math.max(...members.map(Number));
}
