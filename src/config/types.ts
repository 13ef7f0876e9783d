// The shape of a validated memfront config: mirrors ../shared/CONTRACT.md key for key.

export type RouteTarget = 'backend' | 'reproxy' | 'mogile' | 'static' | 'offload';

export interface RouteConfig {
  match: string;
  to: RouteTarget;
  key?: string;        // mogile: key template ($1…)
  url?: string;        // reproxy: URL template ($1…)
  fallback?: 'static' | 'mogile' | 'backend';
  servers?: string[];  // offload: the offload servers
  minSize?: number;    // offload: bytes
}

/** CONTRACT.md "Per-URL rules": exactly one of pass and ttl (the schema refuses the rest). */
export interface UrlRule {
  match: string;  // a regular expression on the path and query
  pass?: true;    // never use the cache
  ttl?: number;   // seconds a storable response is kept, whatever its freshness headers say
}

export interface Config {
  listen: { host: string; port: number };
  workers: number;
  trustedProxies: string[];
  shutdownGraceMs: number;
  /** A client that accepts no bytes of its answer for this long is disconnected (ms). */
  sendTimeoutMs: number;
  backend: { url: string; timeoutMs: number };
  cache: {
    enabled: boolean;
    store: 'memcached' | 'memory';
    memcached: { servers: string[]; timeoutMs: number; keyPrefix: string; maxItemSize: number; protocol: 'binary' | 'text' };
    memory: { maxBytes: number };
    l1: { maxBytes: number; ttlMs: number };
    defaultTtl: number;
    maxTtl: number;
    compressThreshold: number;
    gzipLevel: number;
    hotGzip: { level: number; hits: number };
    maxObjectSize: number;
    statuses: number[];
    honorCacheControl: boolean;
    sessionCookies: string[];
    ignoreQueryParams: string[];
    staleWhileRevalidate: number;
    staleIfError: number;
    rules: UrlRule[];
    keep: number;
    maxVariants: number;
  };
  reproxy: {
    enabled: boolean;
    allowedHosts: string[];
    preserveHeaders: string[];
    services: Record<string, string[]>;
  };
  mogile: { trackers: string[]; domain: string; timeoutMs: number; memoTtlMs: number };
  static: { servers: string[]; memoTtlMs: number };
  offload: { base: string };
  routes: RouteConfig[];
  admin: { host: string; port: number; purgeAllow: string[] };
  log: { level: string; pretty: boolean };
}
