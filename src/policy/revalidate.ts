// Revalidating an expired entry (as mod_offload does): the conditional request built from the
// stored validators, and what a 304 makes of the entry without the body crossing again.

import { arrivalFacts, decideStore, type StoreDecision, type StoreRules } from './decide-store.js';
import type { StaleRule } from './freshness.js';
import type { Headers } from './headers.js';

export interface StoredValidators {
  etag?: string;
  lastModified?: string;
}

/**
 * RFC 9111 4.3.1: "When generating a conditional request for validation, a cache ... MUST send
 * the relevant entity tag (using If-None-Match) if the entity tag has been provided in the
 * stored response ... SHOULD send the Last-Modified value (using If-Modified-Since)". Empty when
 * the entry has no validator: then it can only be fetched again whole.
 */
export function revalidationHeaders(v: StoredValidators): Record<string, string> {
  const out: Record<string, string> = {};
  if (v.etag !== undefined && v.etag.trim() !== '') out['if-none-match'] = v.etag.trim();
  if (v.lastModified !== undefined && v.lastModified.trim() !== '') out['if-modified-since'] = v.lastModified.trim();
  return out;
}

// RFC 9111 3.2: every field of the 304 replaces the stored one, except Content-Length, and
// fields "that the cache's stored response depends upon": we keep the body as stored, so its
// coding and framing stay as they were. Set-Cookie is never stored (it still counts below).
const NOT_UPDATED: ReadonlySet<string> = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'content-range', 'set-cookie', 'set-cookie2']);

// A 304 that says nothing about freshness leaves the lifetime as it was (contract: "lifetime
// from the 304's headers, else as before").
const FRESHNESS_FIELDS: ReadonlySet<string> = new Set(['cache-control', 'expires', 'cdn-cache-control', 'surrogate-control']);

// The 304's own age (RFC 9111 4.3.4: the stored response is updated "as if" it had just been
// received): the stored response's Age and Date say how old it was when first stored.
const AGE_FIELDS: ReadonlySet<string> = new Set(['age', 'date']);

export interface StoredResponse {
  status: number;
  headers: Array<[string, string]>;
  storedAt: number;
  staleAt: number;
  etag?: string;
  lastModified?: string;
  stale?: StaleRule;
}

export interface Renewal {
  headers: Array<[string, string]>;
  etag?: string;
  lastModified?: string;
  /** store: the renewed entry's lifetime (seconds); else why it may no longer be stored. */
  decision: StoreDecision;
  /** The renewed entry's age on arrival (the 304's) and stale rule. */
  initialAge: number;
  stale?: StaleRule;
}

/**
 * The stored response updated by a 304's end-to-end headers (in stored order: a replaced
 * field takes the place of the first stored line of its name; new names are appended).
 */
export function renewAfterNotModified(
  stored: StoredResponse,
  notModified: Array<[string, string]>,
  rules: StoreRules,
  now: number,
  /** The 304's targeted fields (CDN-Cache-Control, Surrogate-Control): read, never stored. */
  targeted: Array<[string, string]> = [],
): Renewal {
  const fresh = new Map<string, Array<[string, string]>>();
  let setCookie = false;
  let saysFreshness = false;
  for (const [name, value] of notModified) {
    const lower = name.toLowerCase();
    if (lower === 'set-cookie' || lower === 'set-cookie2') setCookie = true;
    if (FRESHNESS_FIELDS.has(lower)) saysFreshness = true;
    if (NOT_UPDATED.has(lower)) continue;
    const lines = fresh.get(lower) ?? [];
    lines.push([name, value]);
    fresh.set(lower, lines);
  }

  const headers: Array<[string, string]> = [];
  const placed = new Set<string>();
  for (const line of stored.headers) {
    const lower = line[0].toLowerCase();
    const replacement = fresh.get(lower);
    if (!replacement) headers.push(line);
    else if (!placed.has(lower)) {
      headers.push(...replacement);
      placed.add(lower);
    }
  }
  for (const [lower, lines] of fresh) if (!placed.has(lower)) headers.push(...lines);

  const asObject: Headers = {};
  for (const [name, value] of headers) {
    const lower = name.toLowerCase();
    const prev = asObject[lower];
    asObject[lower] = prev === undefined ? value : `${prev}, ${value}`;
  }
  // The 304's Set-Cookie is meant for this visitor: it makes the answer unshareable.
  if (setCookie) asObject['set-cookie'] = ['(from the 304)'];
  for (const f of AGE_FIELDS) delete asObject[f];
  for (const [name, value] of [...notModified, ...targeted]) {
    const lower = name.toLowerCase();
    if (!AGE_FIELDS.has(lower) && !targeted.some(([n]) => n.toLowerCase() === lower)) continue;
    if (FRESHNESS_FIELDS.has(lower)) saysFreshness = true;
    const prev = asObject[lower];
    asObject[lower] = prev === undefined ? value : `${prev}, ${value}`;
  }
  const facts = arrivalFacts(asObject, now);

  let decision = decideStore({ status: stored.status, headers: asObject }, rules, now);
  // Without a word on freshness, the stored one is read against the 304's Date (an old
  // Expires would then be in the past): the lifetime is the one the entry had.
  const lifetimeOnly = decision.store || decision.reason === 'zero-ttl';
  if (lifetimeOnly && !saysFreshness) {
    decision = { store: true, ttl: Math.max(1, Math.round((stored.staleAt - stored.storedAt) / 1000)) };
  }
  const etag = headerValue(headers, 'etag') ?? stored.etag;
  const lastModified = headerValue(headers, 'last-modified') ?? stored.lastModified;
  // Without a word on freshness the stale rule stays the one the entry had (it may have come
  // from a targeted field, which is not among the stored headers).
  return { headers, etag, lastModified, decision, initialAge: facts.initialAge, stale: saysFreshness ? facts.stale : stored.stale };
}

function headerValue(headers: Array<[string, string]>, lower: string): string | undefined {
  for (const [name, value] of headers) if (name.toLowerCase() === lower) return value;
  return undefined;
}
