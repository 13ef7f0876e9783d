// The config compiled once into the predicates the decision modules take.
import type { Config } from '../config/types.js';
import { compileGlobs } from '../policy/glob.js';
import { compileCidrs } from '../policy/forward-headers.js';

export interface Rules {
  cfg: Config;
  sessionCookie: (name: string) => boolean;
  ignoreQueryParam: (name: string) => boolean;
  trustedPeer: (ip: string) => boolean;
  purgeAllowed: (ip: string) => boolean;
  store: {
    statuses: number[];
    honorCacheControl: boolean;
    defaultTtl: number;
    maxTtl: number;
    maxObjectSize: number;
  };
  windows: { staleWhileRevalidate: number; staleIfError: number };
}

export function compileRules(cfg: Config): Rules {
  const c = cfg.cache;
  return {
    cfg,
    sessionCookie: compileGlobs(c.sessionCookies),
    ignoreQueryParam: compileGlobs(c.ignoreQueryParams),
    trustedPeer: compileCidrs(cfg.trustedProxies),
    purgeAllowed: compileCidrs(cfg.admin.purgeAllow),
    store: {
      statuses: c.statuses,
      honorCacheControl: c.honorCacheControl,
      defaultTtl: c.defaultTtl,
      maxTtl: c.maxTtl,
      maxObjectSize: c.maxObjectSize,
    },
    windows: { staleWhileRevalidate: c.staleWhileRevalidate, staleIfError: c.staleIfError },
  };
}
