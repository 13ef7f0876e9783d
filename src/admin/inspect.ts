// GET /inspect on the admin port: what memfront holds for one URL. Keys are hashes, so "is
// this page cached, since when, for how long, with which tags" cannot be read off memcached.
// The lookup is the one a request makes (same key, same purge check), so the answer is what
// the next request for that URL would meet.
import type { CacheAccess } from '../engine/cache-access.js';
import type { Rules } from '../engine/rules.js';
import { freshness, ageSeconds } from '../policy/freshness.js';
import { hostCounterKey, tagCounterKeys } from '../policy/tags.js';

export interface InspectQuery {
  /** The path and query, as a client would send them. */
  url: string;
  host: string;
  scheme: 'http' | 'https';
  /** Tags to check the entry for (tag names are not stored: an entry records hashed counters). */
  tags?: string[];
}

export interface InspectReport {
  url: string;
  host: string;
  key: string;
  /** found, absent, purged (a tag or the Host was purged since it was stored), unreadable, cache-error, cache-off. */
  state: 'found' | 'varies' | 'absent' | 'purged' | 'unreadable' | 'cache-error' | 'cache-off';
  cached: boolean;
  /** This process holds a copy in L1 (with workers: the worker that was asked). */
  inL1?: boolean;
  /** fresh, stale-while-revalidate, stale-if-error or expired. */
  freshness?: string;
  status?: number;
  age?: number;
  /** Seconds of freshness left (negative: expired that long ago). */
  ttl?: number;
  storedAt?: string;
  staleAt?: string;
  /** Bytes as stored (the gzip when stored gzipped), and of the identity body when known. */
  size?: number;
  identitySize?: number;
  gzip?: boolean;
  /** Stored in this many chunks (over the item size). */
  chunks?: number;
  /** How many tags the entry was stored with (Surrogate-Key, Cache-Tag). */
  tags?: number;
  /** For each tag asked about: whether the entry carries it (a purge of that tag would drop it). */
  tagged?: Record<string, boolean>;
  contentType?: string;
  etag?: string;
  lastModified?: string;
  /** The entry's Vary (one entry serves every Accept-Encoding). */
  vary?: string;
  /** Variants stored for the URL: 1 for a URL that does not vary; its index's count for one that does. */
  variants?: number;
  /** For a URL that varies (state `varies`): the request headers its variants are keyed by. */
  varyNames?: string[];
}

/** The query string's url and host: a full URL gives both (and the scheme); else `host` is needed. */
export function inspectQuery(params: URLSearchParams): InspectQuery | string {
  const raw = params.get('url');
  if (!raw) return 'url is required: /inspect?url=/path&host=example.com, or url=http://example.com/path';
  let url = raw;
  let host = params.get('host') ?? '';
  let scheme: 'http' | 'https' = params.get('scheme') === 'https' ? 'https' : 'http';
  if (/^https?:\/\//i.test(raw)) {
    const u = new URL(raw);
    url = u.pathname + u.search;
    if (host === '') host = u.host;
    scheme = u.protocol === 'https:' ? 'https' : 'http';
  }
  if (!url.startsWith('/')) return 'url must be a path (starting with /) or an absolute http(s) URL';
  if (host === '') return 'host is required with a path url';
  const tags = params.getAll('tag').flatMap((t) => t.split(',')).map((t) => t.trim()).filter((t) => t !== '');
  return { url, host: host.toLowerCase(), scheme, ...(tags.length > 0 ? { tags } : {}) };
}

export async function inspectEntry(rules: Rules, cache: CacheAccess | null, q: InspectQuery, now = Date.now()): Promise<InspectReport> {
  const key = rules.keyFor(q.scheme, q.host, q.url);
  const base = { url: q.url, host: q.host, key };
  if (!cache || !rules.cfg.cache.enabled) return { ...base, state: 'cache-off', cached: false };
  const inL1 = cache.hot(key) !== undefined;
  const found = await cache.lookup(key);
  if (found.kind === 'absent') return { ...base, state: 'absent', cached: false, inL1 };
  if (found.kind === 'invalidated') return { ...base, state: 'purged', cached: false, inL1 };
  if (found.kind === 'corrupt') return { ...base, state: 'unreadable', cached: false };
  if (found.kind === 'error') return { ...base, state: 'cache-error', cached: false };
  if (found.kind === 'variants') {
    // Each variant is its own entry under a key made of the request's values (vary.ts).
    const live = Object.values(found.index.variants).filter((until) => until > now).length;
    return { ...base, state: 'varies', cached: live > 0, inL1, variants: live, varyNames: found.index.names };
  }
  const e = found.entry;
  const header = (name: string) => e.headers.find(([k]) => k.toLowerCase() === name)?.[1];
  // An entry records one copy (`counter:i`) of its Host's counter and of each tag's.
  const prefix = rules.cfg.cache.memcached.keyPrefix;
  const recorded = Object.keys(e.tags ?? {});
  const carries = (counter: string) => recorded.some((k) => k.startsWith(`${counter}:`));
  const hostCounter = hostCounterKey(prefix, q.host);
  const tagged = q.tags ? Object.fromEntries(q.tags.map((t, i) => [t, carries(tagCounterKeys(prefix, q.host, q.tags!)[i])])) : undefined;
  const state = freshness(e, now, rules.windows);
  return {
    ...base,
    state: 'found',
    // Cached means a request would be answered from it: fresh, or stale within its windows.
    cached: state !== 'expired',
    inL1,
    freshness: state,
    status: e.status,
    age: ageSeconds(e.storedAt, now),
    ttl: Math.floor((e.staleAt - now) / 1000),
    storedAt: new Date(e.storedAt).toISOString(),
    staleAt: new Date(e.staleAt).toISOString(),
    size: e.chunks ? e.chunks.length : e.body.length,
    identitySize: e.identityLength,
    gzip: e.gzip,
    chunks: e.chunks ? e.chunks.crcs.length : undefined,
    tags: recorded.filter((k) => !k.startsWith(`${hostCounter}:`)).length,
    tagged,
    contentType: header('content-type'),
    etag: e.etag,
    lastModified: e.lastModified,
    vary: header('vary'),
    variants: 1,
  };
}
