// What a response's X-Cache says happened, for any of the caches the bench drives: memfront
// (HIT, MISS, BYPASS, STALE), nginx srcache ($srcache_fetch_status), our Varnish VCL, or
// "HIT from host" in Squid's style. No header at all: the target is no cache (a baseline).

export const OUTCOMES = ['hit', 'stale', 'miss', 'bypass', 'none', 'other'] as const;
export type Outcome = (typeof OUTCOMES)[number];

export function outcomeOf(xCache: string | string[] | undefined): Outcome {
  const raw = Array.isArray(xCache) ? xCache[0] : xCache;
  if (raw === undefined || raw === '') return 'none';
  // A chain of caches lists one value each; the first is the one that answered us.
  const first = raw.split(',')[0].trim().split(/\s+/)[0].toUpperCase();
  switch (first) {
    case 'HIT':
      return 'hit';
    case 'STALE':
    case 'UPDATING':
      return 'stale';
    case 'MISS':
    case 'EXPIRED':
      return 'miss';
    case 'BYPASS':
    case 'PASS':
      return 'bypass';
    default:
      return 'other';
  }
}

/** Served from the cache without waiting for the backend. */
export function servedFromCache(o: Outcome): boolean {
  return o === 'hit' || o === 'stale';
}
