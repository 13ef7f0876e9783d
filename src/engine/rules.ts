// The config compiled once into the predicates the decision modules take.
import type { Config } from '../config/types.js';
import { compileGlobs } from '../policy/glob.js';
import { keyOf, normalizeUrl } from '../policy/cache-key.js';
import { compileCidrs } from '../policy/forward-headers.js';
import { compileUrlRules, type UrlRuleVerdict } from '../policy/url-rules.js';
import { boundedMemo, targetMemo } from '../memo.js';
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
  /** cache.rules: the first rule matching the path and query, if any (memoised: the hit path asks). */
  urlRule(url: string): UrlRuleVerdict | undefined;
  /** The target a request that uses the cache is keyed by and sent upstream with (normalizeUrl). */
  normalize(url: string): string;
}

const KEY_MEMO_ENTRIES = 10_000;

export function compileRules(cfg: Config): Rules {
  const c = cfg.cache;
  const ignoreQueryParam = compileGlobs(c.ignoreQueryParams);
  const keyFor = targetMemo(
    (scheme: string, host: string, url: string) => keyOf('GET', scheme, host, normalizeUrl(url, ignoreQueryParam), c.memcached.keyPrefix),
    KEY_MEMO_ENTRIES,
  );
  const ruleFor = compileUrlRules(c.rules, c.maxTtl);
  const NONE = {} as UrlRuleVerdict;
  const ruleMemo = c.rules.length === 0 ? undefined : boundedMemo((url: string) => ruleFor(url) ?? NONE, KEY_MEMO_ENTRIES);
  return {
    keyFor,
    urlRule: (url) => {
      if (!ruleMemo) return undefined;
      const v = ruleMemo(url);
      return v === NONE ? undefined : v;
    },
    normalize: (url) => normalizeUrl(url, ignoreQueryParam),
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
