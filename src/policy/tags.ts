// Tags and what a PURGE asks for. Pure: which tags a response carries, which counters an
// entry of a Host depends on, and whether a PURGE names a path, tags, or every entry of
// its Host (or something memfront will not pretend to do).
import { tagKey } from './cache-key.js';
import { joinList, type Headers } from './headers.js';

/**
 * The Host's own counter, under a name no tag can have (tags are trimmed, so none starts
 * with a space): moving it invalidates every entry of the Host (purge-all).
 */
export const HOST_COUNTER = ' host';

/** Bounds on what one response may tag (a runaway header must not cost a round trip per word). */
export const MAX_TAGS = 64;
export const MAX_TAG_BYTES = 256;
/** Distinct tags one PURGE may name. */
export const MAX_PURGE_TAGS = 256;

/** `Surrogate-Key: a b` (space-separated, the Fastly convention). */
export function parseSurrogateKey(value: string | string[] | undefined): string[] {
  return (joinList(value) ?? '').split(/[\s,]+/).filter((t) => t !== '');
}

/** `Cache-Tag: a,b` (comma-separated, the Cloudflare convention); spaces around each are not part of it. */
export function parseCacheTag(value: string | string[] | undefined): string[] {
  return (joinList(value) ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
}

/**
 * Contract: "A response's Surrogate-Key (space-separated) and Cache-Tag (comma-separated)
 * headers tag its entry." Both together, each tag once, in the order first seen; tags past
 * the bounds are dropped.
 */
export function tagsOf(headers: Headers): string[] {
  const all = [...parseSurrogateKey(headers['surrogate-key']), ...parseCacheTag(headers['cache-tag'])];
  const out: string[] = [];
  for (const t of all) {
    if (out.length >= MAX_TAGS) break;
    if (Buffer.byteLength(t) <= MAX_TAG_BYTES && !out.includes(t)) out.push(t);
  }
  return out;
}

/** The counter every entry of `host` depends on (purge-all). */
export function hostCounterKey(prefix: string, host: string): string {
  return tagKey(prefix, host, HOST_COUNTER);
}

/** The counters of these tags of `host` (tag purge). */
export function tagCounterKeys(prefix: string, host: string, tags: readonly string[]): string[] {
  return tags.map((t) => tagKey(prefix, host, t));
}

/** The counters an entry of `host` tagged `tags` depends on: the Host's first, then one per tag. */
export function generationKeys(prefix: string, host: string, tags: readonly string[]): string[] {
  return [hostCounterKey(prefix, host), ...tagCounterKeys(prefix, host, tags)];
}

/**
 * Each counter exists as this many copies under keys of their own, spread over the memcached
 * servers by the ring like any key. An entry records the copy that lives on its own server,
 * so losing a server loses the entries on it and no others (were a Host's one counter on the
 * lost server, every entry of the Host would become a miss). A purge moves every copy: one
 * `incr` each, a fixed number per tag however many entries carry it.
 */
export const COUNTER_COPIES = 16;

/** Every copy of a counter (what a purge moves). */
export function counterCopies(counterKey: string): string[] {
  return Array.from({ length: COUNTER_COPIES }, (_, i) => `${counterKey}:${i}`);
}

/**
 * The copy an entry stored on server `home` records: the first that lives there too, or the
 * first of all when none does (more servers than copies reach, or no ring: the memory store).
 */
export function colocatedCopy(counterKey: string, home: string | undefined, owner: (key: string) => string | undefined): string {
  if (home !== undefined) {
    for (let i = 0; i < COUNTER_COPIES; i++) {
      const copy = `${counterKey}:${i}`;
      if (owner(copy) === home) return copy;
    }
  }
  return `${counterKey}:0`;
}

export type PurgeDecision =
  /** The entry of this path (contract: "PURGE /path?query ... deletes the entry"). */
  | { kind: 'path' }
  /** Every entry of the Host carrying any of these tags. */
  | { kind: 'tags'; tags: string[] }
  /** Every entry of the Host. */
  | { kind: 'host'; why: string }
  /** Not something memfront can do honestly: 400, nothing invalidated. */
  | { kind: 'refused'; reason: string };

/**
 * What a PURGE (already allowed) asks for.
 *
 * - `Surrogate-Key` / `Cache-Tag` on any path: those tags (contract: "Tags").
 * - `X-Purge-Method: default` or `exact`, or none: the path.
 * - `X-Purge-Method: regex` with a path regex (`/.*`, the WordPress "Proxy Cache Purge"
 *   plugin's purge-all; `/blog/.*` for a site in a subdirectory): every entry of the Host.
 *   memfront keeps one counter per Host, not per path, so a narrower regex invalidates the
 *   whole Host, which is "at least every entry it matches" (contract: "Purge-all").
 * - `X-Purge-Method: ban-regex` (the plugin's X-Ban-Regex, `.*` when empty): likewise.
 * - Anything else, and a regex that is not a path regex or does not compile: refused.
 */
export function decidePurge(req: { url: string; headers: Headers }): PurgeDecision {
  const h = req.headers;
  const tags = [...parseSurrogateKey(h['surrogate-key']), ...parseCacheTag(h['cache-tag'])];
  if (tags.length > 0) {
    const distinct = [...new Set(tags)];
    // Contract: "A PURGE naming more than 256 distinct tags ... gets 400 and changes nothing":
    // each tag costs COUNTER_COPIES increments, and one request must not hold the loop for seconds.
    if (distinct.length > MAX_PURGE_TAGS) return { kind: 'refused', reason: `more than ${MAX_PURGE_TAGS} tags` };
    return { kind: 'tags', tags: distinct };
  }
  if (h['surrogate-key'] !== undefined || h['cache-tag'] !== undefined) return { kind: 'refused', reason: 'empty tag header' };

  const method = (joinList(h['x-purge-method']) ?? 'default').trim().toLowerCase();
  if (method === 'default' || method === 'exact' || method === '') return { kind: 'path' };
  if (method === 'regex') return hostWide(req.url, 'regex');
  if (method === 'ban-regex') {
    const ban = (joinList(h['x-ban-regex']) ?? '').trim();
    return hostWide(ban === '' ? '.*' : ban, 'ban-regex');
  }
  return { kind: 'refused', reason: `unknown X-Purge-Method ${JSON.stringify(method.slice(0, 40))}` };
}

/** A regex over this Host's paths is honoured by invalidating the whole Host (see above). */
function hostWide(source: string, why: string): PurgeDecision {
  // Only what can be read as a regex over paths: it starts at the path ("/", "^/") or
  // matches anything (".*"). Other text (a full URL, a bare word) is a mistake, not a purge.
  if (!/^(\^?\/|\.\*)/.test(source)) return { kind: 'refused', reason: `${why}: not a path regex` };
  try {
    new RegExp(source);
  } catch {
    return { kind: 'refused', reason: `${why}: does not compile` };
  }
  return { kind: 'host', why };
}
