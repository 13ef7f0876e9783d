// May this backend response be stored, and for how long? (Contract: "What is stored".)

import { ageInputs, correctedInitialAge } from './age.js';
import { freshnessLifetime, staleRule, type LifetimeRules as Lifetimes, type StaleRule } from './freshness.js';
import { isPresent, listMembers, type Headers } from './headers.js';
import { varyOf } from './vary.js';
import { effectiveControl } from './targeted.js';

export type NotStoredReason =
  | 'status'
  | 'set-cookie'
  | 'private'
  | 'no-store'
  | 'no-cache'
  | 'vary'
  | 'too-large'
  | 'zero-ttl'
  // RFC 9111 4.2.3: its Age (or Date) says it was already past its lifetime when it came.
  | 'already-stale'
  // Content-Encoding other than gzip: one entry must serve gzip and identity clients.
  | 'encoding'
  // A Range or HEAD answer carried through to a reproxy/mogile/static server.
  | 'partial'
  | 'head'
  // More variants of its URL stored than cache.maxVariants allows (vary.ts).
  | 'too-many-variants'
  // Its variant index could not be read or written: cache trouble, the answer is not stored.
  | 'cache-unavailable'
  // A cache.rules ttl of 0.
  | 'rule';

export type StoreDecision = { store: true; ttl: number } | { store: false; reason: NotStoredReason };

export interface StoreRules {
  statuses: number[];
  honorCacheControl: boolean;
  defaultTtl: number;
  maxTtl: number;
  maxObjectSize: number;
}

export type LifetimeRules = Lifetimes;

/**
 * `now` is when the response's headers arrived (response_time); `requestTime` when its
 * request was sent (default: the same, a backend's response delay being negligible).
 * The ttl of a stored answer is what is left of its lifetime once its age is taken off.
 */
export function decideStore(res: { status: number; headers: Headers }, rules: StoreRules, now: number, requestTime = now): StoreDecision {
  const h = res.headers;

  // Contract: "its status is in cache.statuses".
  if (!rules.statuses.includes(res.status)) return { store: false, reason: 'status' };

  // Contract: "it has no Set-Cookie" — whatever honorCacheControl says, so no two visitors share a cookie.
  // Set-Cookie2 (RFC 2965, obsolete) sets a cookie all the same.
  if (isPresent(h['set-cookie']) || isPresent(h['set-cookie2'])) return { store: false, reason: 'set-cookie' };

  // Contract: "its Cache-Control allows a shared cache (no private, no-store, no-cache;
  // unless cache.honorCacheControl is false)". Qualified forms (private="x", no-cache="x")
  // are treated as the bare directive: we do not store partial header sets (RFC 9111 5.2.2.4/7).
  // The directives are CDN-Cache-Control's or Surrogate-Control's when present (targeted.ts).
  const control = effectiveControl(h);
  if (rules.honorCacheControl) {
    const cc = control.directives;
    if (cc.has('private')) return { store: false, reason: 'private' };
    if (cc.has('no-store')) return { store: false, reason: 'no-store' };
    if (cc.has('no-cache')) return { store: false, reason: 'no-cache' };
  }

  // Contract (HTTP caching semantics, "Vary"): other names make it a variant (vary.ts);
  // `Vary: *` (RFC 9110 12.5.5: no request can ever match), Cookie or Authorization are not stored.
  if (varyOf(h).kind === 'refused') return { store: false, reason: 'vary' };

  // Contract: "no larger than cache.maxObjectSize" — known up front from Content-Length;
  // the engine checks again while the body streams.
  const length = contentLength(h['content-length']);
  if (length !== null && length > rules.maxObjectSize) return { store: false, reason: 'too-large' };

  const life = freshnessLifetime(h, rules, now, control);
  if (life <= 0) return { store: false, reason: 'zero-ttl' };
  // RFC 9111 4.2: "response_is_fresh = (freshness_lifetime > current_age)"; at arrival the
  // current age is corrected_initial_age. (With honorCacheControl false the operator's
  // defaultTtl stands, whatever the response says.)
  const ttl = rules.honorCacheControl ? life - correctedInitialAge(ageInputs(h, requestTime, now)) : life;
  if (ttl <= 0) return { store: false, reason: 'already-stale' };
  return { store: true, ttl };
}

/** What an entry made from this response records besides its lifetime: its age on arrival and its stale rule. */
export function arrivalFacts(headers: Headers, now: number, requestTime = now): { initialAge: number; stale?: StaleRule } {
  const rule = staleRule(headers);
  return { initialAge: correctedInitialAge(ageInputs(headers, requestTime, now)), stale: Object.keys(rule).length > 0 ? rule : undefined };
}

/** Freshness lifetime in whole seconds (freshness.ts). */
export function lifetime(headers: Headers, rules: LifetimeRules, now: number): number {
  return freshnessLifetime(headers, rules, now);
}

/** Largest of the declared lengths; null when absent or unreadable (the streaming check decides). */
function contentLength(value: string | string[] | undefined): number | null {
  const members = listMembers(value).filter((v) => /^\d+$/.test(v));
  return members.length === 0 ? null : Math.max(...members.map(Number));
}
