// The config compiled once into the predicates the decision modules take.
import type { Config } from '../config/types.js';
import { compileGlobs } from '../policy/glob.js';
import { cacheKey } from '../policy/cache-key.js';
import { compileCidrs } from '../policy/forward-headers.js';
import type { StaleWindows } from '../policy/freshness.js';

export interface Rules {
  cfg: Config;
  sessionCookie: (name: string) => boolean;
  ignoreQueryParam: (name: string) => boolean;
  trustedPeer: (ip: string) => boolean;
  /** trustedProxies is not empty: without it the peer's address need not even be looked up. */
  anyTrusted: boolean;
  purgeAllowed: (ip: string) => boolean;
  store: {
    statuses: number[];
    honorCacheControl: boolean;
    defaultTtl: number;
    maxTtl: number;
    maxObjectSize: number;
  };
  windows: StaleWindows;
  /** cache.keep: seconds an expired entry stays in memcached for conditional revalidation only. */
  keep: number;
  /** cacheKey for a GET/HEAD, memoised: hot URLs skip the normalising and hashing. */
  keyFor(scheme: string, host: string, url: string): string;
}

const KEY_MEMO_ENTRIES = 10_000;

export function compileRules(cfg: Config): Rules {
  const c = cfg.cache;
  const ignoreQueryParam = compileGlobs(c.ignoreQueryParams);
  const memo = new Map<string, string>();
  const keyFor = (scheme: string, host: string, url: string): string => {
    const id = scheme + ' ' + host + ' ' + url;
    let key = memo.get(id);
    if (key === undefined) {
      key = cacheKey({ method: 'GET', scheme, host, url }, { keyPrefix: c.memcached.keyPrefix, ignoreQueryParam });
      // Bounded without bookkeeping: a full memo starts over (hot URLs come straight back).
      if (memo.size >= KEY_MEMO_ENTRIES) memo.clear();
      memo.set(id, key);
    }
    return key;
  };
  return {
    keyFor,
    cfg,
    sessionCookie: compileGlobs(c.sessionCookies),
    ignoreQueryParam,
    trustedPeer: compileCidrs(cfg.trustedProxies),
    anyTrusted: cfg.trustedProxies.length > 0,
    purgeAllowed: compileCidrs(cfg.admin.purgeAllow),
    store: {
      statuses: c.statuses,
      honorCacheControl: c.honorCacheControl,
      defaultTtl: c.defaultTtl,
      maxTtl: c.maxTtl,
      maxObjectSize: c.maxObjectSize,
    },
    windows: { staleWhileRevalidate: c.staleWhileRevalidate, staleIfError: c.staleIfError, ignoreResponse: !c.honorCacheControl },
    keep: c.keep,
  };
}
