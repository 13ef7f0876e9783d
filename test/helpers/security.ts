// Shared pieces of the attack suite (test/security): the cache key of a URL as memfront
// builds it, direct writes to memcached (an attacker or a neighbour who can write there),
// and small waits.
import http from 'node:http';
import { cacheKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { startStack, type Stack } from './stack.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The memcached key memfront uses for a GET of `url` on `host` (plain http). */
export function keyOf(stack: Stack, host: string, url: string): string {
  const c = stack.config.cache;
  return cacheKey({ method: 'GET', scheme: 'http', host, url }, { keyPrefix: c.memcached.keyPrefix, ignoreQueryParam: compileGlobs(c.ignoreQueryParams) });
}

/**
 * An offload server (contract: "Offload route"): a memfront whose base is `baseUrl`, on the
 * same memcached under its own key prefix, with no stale windows. Its backend is unreachable.
 */
export function startOffloadServer(memcachedAddress: string, baseUrl: string): Promise<Stack> {
  return startStack({
    backend: { url: 'http://127.0.0.1:9', timeoutMs: 2000 },
    offload: { base: baseUrl },
    cache: { memcached: { servers: [memcachedAddress], timeoutMs: 500, keyPrefix: 'off:' }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
}

/** A store on the same memcached, for reading and planting entries behind memfront's back. */
export function directStore(address: string): MemcachedStore {
  return new MemcachedStore({ servers: [address], timeoutMs: 1000, maxItemSize: 64 * 1024 * 1024 });
}

export interface Visit {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** The body arrived whole. */
  complete: boolean;
  /** An error ended the exchange before a response. */
  error?: string;
}

/** An innocent visitor: a plain node:http GET, no pooling, no decompression. */
export function visit(base: string, path: string, headers: Record<string, string> = {}, method = 'GET', timeoutMs = 5000): Promise<Visit> {
  return new Promise((resolve) => {
    const r = http.request(base + path, { method, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete: res.complete }));
    });
    r.setTimeout(timeoutMs, () => r.destroy(new Error('timeout')));
    r.on('error', (err) => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false, error: String(err) }));
    r.end();
  });
}
