// Where a varying answer is stored: its URL's key holds a small variant index (vary.ts), and
// the answer goes under a key made from the index and the request's values of the Vary names.
// Index trouble is cache trouble: the answer is simply not stored.
import { decodeIndex, encodeIndex, indexTtlSeconds, newIndex, placeVariant, variantId, variantKey } from '../policy/vary.js';
import type { Headers } from '../policy/headers.js';
import { arrivalFacts } from '../policy/decide-store.js';
import { effectiveWindows, storeTtlSeconds } from '../policy/freshness.js';
import { baseOfKey, varyOf } from '../policy/vary.js';
import { headersObject, type UpstreamResponse } from '../upstream/upstream.js';
import type { CacheAccess } from './cache-access.js';
import { storeDecision } from './entry-build.js';
import type { FetchEnv } from './fetch-env.js';

export type Place = { kind: 'key'; key: string } | { kind: 'refused'; reason: 'too-many-variants' | 'cache-unavailable' };

/**
 * The key this answer (varying on `names`, requested with `headers` as forwarded) is stored
 * under, the index updated to count it; refused past `maxVariants`. `until`: ms until which
 * memcached keeps the variant (the index lives as long as its longest-lived variant).
 */
export async function placeAnswer(
  cache: CacheAccess,
  baseKey: string,
  names: string[],
  headers: Headers,
  until: number,
  maxVariants: number,
  now: number,
): Promise<Place> {
  const raw = await cache.getRaw(baseKey);
  if (raw === 'error') return { kind: 'refused', reason: 'cache-unavailable' };
  let index = decodeIndex(raw);
  let fresh = false;
  // None yet, or one for other names (the page's Vary changed), or a plain entry (it did not
  // vary before): a new index, with a new id, so no variant of the old one is ever found.
  if (!index || index.names.join(',') !== names.join(',')) {
    index = newIndex(names);
    fresh = true;
  }
  const id = variantId(names, headers);
  const placed = placeVariant(index, id, until, maxVariants, now);
  if (placed.kind === 'refused') return placed;
  if (placed.changed || fresh) {
    const value = encodeIndex(placed.index);
    const ttl = indexTtlSeconds(placed.index, now);
    // A first index is added, not set: of two processes creating one at once, one wins and
    // the other re-reads it, so neither's variant is keyed by an index that is not there.
    const ok = fresh && raw === null ? await cache.putIndex(baseKey, value, ttl, true) : await cache.putIndex(baseKey, value, ttl, false);
    if (ok === 'error') return { kind: 'refused', reason: 'cache-unavailable' };
    if (!ok && fresh && raw === null) return placeAnswer(cache, baseKey, names, headers, until, maxVariants, now);
    if (!ok) return { kind: 'refused', reason: 'cache-unavailable' };
  }
  return { kind: 'key', key: variantKey(baseKey, placed.index, headers) };
}

/**
 * The key an answer for `key` (the URL's, or one of its variants') is stored under: a varying
 * answer under its variant's, counted in the URL's index; one that does not vary under the
 * URL's own. One over cache.maxVariants, or whose index cannot be written, is marked not to
 * be stored (up.noStore: its Cache-Status detail). `sent`: the request headers as forwarded,
 * which are what the backend varied on.
 */
export async function keyForAnswer(env: FetchEnv, key: string, up: UpstreamResponse, sent: Headers, ruleTtl?: number): Promise<string> {
  const base = baseOfKey(key);
  const headers = headersObject(up.rawHeaders);
  const vary = varyOf(headers);
  if (vary.kind !== 'names') return base;
  const now = env.now();
  const decision = storeDecision(up, env.rules.store, now, ruleTtl);
  if (!env.cache || !decision.store) return key;
  const until = now + storeTtlSeconds(decision.ttl, effectiveWindows(arrivalFacts(headers, now).stale, env.rules.windows), env.rules.keep) * 1000;
  const placed = await placeAnswer(env.cache, base, vary.names, sent, until, env.rules.cfg.cache.maxVariants, now);
  if (placed.kind === 'key') return placed.key;
  up.noStore = placed.reason;
  return key;
}
