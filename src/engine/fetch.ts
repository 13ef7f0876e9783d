// Going upstream for a miss or a bypass: the request headers the backend sees, the answer
// streamed to the client while it is collected for the cache, and the store decision.
// A body that does not arrive whole is never stored and the client's answer is cut off.
// An expired entry is revalidated (If-None-Match / If-Modified-Since from its validators):
// a 304 renews it without the body crossing again, in the foreground for a miss and in the
// background for a stale-while-revalidate answer.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import type { Metrics, Outcome } from '../admin/metrics.js';
import { backendRequestHeaders, responseHeadersFromRaw } from '../policy/forward-headers.js';
import { decideStore } from '../policy/decide-store.js';
import { acceptsGzip, isCompressible } from '../policy/encoding.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { freshness, memcachedExptime, storeTtlSeconds } from '../policy/freshness.js';
import { renewAfterNotModified, revalidationHeaders } from '../policy/revalidate.js';
import type { Entry } from '../store/entry-codec.js';
import type { BackendClient } from '../upstream/backend-client.js';
import type { Dispatcher } from './dispatch.js';
import { headersObject, rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { UpstreamError } from '../errors.js';
import type { CacheAccess } from './cache-access.js';
import { deliverEntry } from './deliver.js';
import type { Ctx } from './handler.js';
import type { Rules } from './rules.js';

const gzipAsync = promisify(zlib.gzip);

export type FetchResult = {
  /** What waiters coalesced on this fetch may use: only a stored, shareable entry. */
  kind: 'stored' | 'not-shareable' | 'failed';
  entry?: Entry;
  bytes: number;
  outcome?: Outcome;
  err?: unknown;
  detail?: string;
  /** The cache write of a stored entry: settles once memcached has it (or refused it). */
  saved?: Promise<boolean>;
} & ({ kind: 'stored'; entry: Entry } | { kind: 'not-shareable' | 'failed' });

/** Asked just before an answer is written to the cache: false once the key was purged meanwhile. */
export type MayStore = () => boolean | Promise<boolean>;

export interface ForwardOptions {
  store: boolean;
  xCache: 'MISS' | 'BYPASS';
  /** Fixed Cache-Status (bypass); misses compute theirs from the store decision. */
  cacheStatus?: string;
  mayStore?: MayStore;
}

/** A background refresh: what the triggering client's miss would have sent, captured then. */
export interface RefreshRequest {
  key: string;
  path: string;
  headers: Record<string, string | string[]>;
  /** The stale entry being refreshed (its validators make the request conditional). */
  entry: Entry;
  mayStore?: MayStore;
}

// Client conditions that make a cacheable miss wait for the whole body, so the stored
// entry can answer them (304/206/416) exactly as a hit would.
const CONDITIONAL = ['range', 'if-none-match', 'if-modified-since'];

export class Fetcher {
  private readonly pendingWrites = new Set<Promise<unknown>>();
  constructor(
    private readonly rules: Rules,
    private readonly upstream: Dispatcher,
    private readonly cache: CacheAccess | null,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** Requests no client drives (background refresh); without it, stale entries are refreshed in the foreground. */
    private readonly backendClient?: BackendClient,
  ) {}

  routeName(url: string): string {
    return this.upstream.routeName(url);
  }

  /**
   * Whether a stale entry of this route can be refreshed in the background. Only the backend
   * route: the others (reproxy, mogile, static, offload) answer through a client's request.
   */
  canRefresh(route: string): boolean {
    return route === 'backend' && this.backendClient !== undefined && this.cache !== null;
  }

  /** The headers a background refresh sends: those of this client's miss, taken now. */
  refreshHeaders(ctx: Ctx): Record<string, string | string[]> {
    const headers = backendRequestHeaders(ctx.req.headers, {
      peerIp: ctx.peerIp,
      trusted: ctx.trusted,
      scheme: ctx.scheme,
      host: ctx.req.headers.host ?? '',
      stripConditionals: true,
      // Nobody could follow a reproxy answer: the backend must send the page itself.
      reproxyCapable: false,
    });
    headers['x-request-id'] = ctx.reqId;
    // No client to undo gzip for: ask for it, the entry serves both kinds of client.
    headers['accept-encoding'] = 'gzip';
    return headers;
  }

  /**
   * Refreshes a stale entry with no client waiting: conditional when it has validators (a 304
   * renews it), else fetched whole. A failing backend (error, timeout, 5xx) leaves the entry
   * as it is, to be served while staleIfError allows; an answer that may no longer be stored
   * deletes it.
   */
  async refresh(r: RefreshRequest): Promise<FetchResult> {
    const client = this.backendClient;
    if (!client) return { kind: 'failed', bytes: 0, detail: 'no-background-client' };
    const validators = revalidationHeaders(r.entry);
    const conditional = Object.keys(validators).length > 0;
    this.metrics.backendRequests.inc({ route: 'backend' });
    let up: UpstreamResponse;
    try {
      up = await client.fetch({ path: r.path, headers: { ...r.headers, ...validators } });
    } catch (err) {
      return this.refreshFailed(r, 'backend-error', err);
    }
    const now = this.now();
    if (conditional && up.status === 304) {
      up.body.resume();
      const renewed = this.renew(r.entry, up.rawHeaders, now);
      if (renewed.ttl > 0) {
        return { kind: 'stored', entry: renewed.entry, bytes: 0, detail: 'revalidated', saved: this.store(r.key, renewed.entry, renewed.ttl, r.mayStore) };
      }
      return this.dropEntry(r.key, renewed.reason ?? 'zero-ttl');
    }
    if (up.status >= 500) {
      up.abort();
      return this.refreshFailed(r, `fwd-status=${up.status}`);
    }
    if (this.rules.cfg.reproxy.enabled && (rawHeader(up.rawHeaders, 'x-reproxy-url') !== undefined || rawHeader(up.rawHeaders, 'x-reproxy-service') !== undefined)) {
      // A reproxy answer needs the client's request to follow it: the next miss will.
      up.abort();
      return this.refreshFailed(r, 'reproxy');
    }
    const decision = this.storeDecision(up, now);
    if (!decision.store) {
      up.abort();
      return this.dropEntry(r.key, decision.reason);
    }
    const body = await collect(up, this.rules.store.maxObjectSize);
    if (body === 'incomplete') {
      this.metrics.backendErrors.inc({ route: 'backend', code: 'incomplete-body' });
      return this.refreshFailed(r, 'incomplete-body');
    }
    if (body === 'too-large') return this.dropEntry(r.key, 'too-large');
    const entry = await buildEntry(up, body, decision.ttl, now, this.rules.cfg.cache.compressThreshold);
    return { kind: 'stored', entry, bytes: 0, saved: this.store(r.key, entry, decision.ttl, r.mayStore) };
  }

  private refreshFailed(r: RefreshRequest, detail: string, err?: unknown): FetchResult {
    if (err !== undefined) this.noteBackendError('backend', err);
    this.logger.warn({ err, url: r.path, detail }, 'background refresh failed; the stale entry stays');
    return { kind: 'failed', bytes: 0, err, detail };
  }

  /** The backend's answer may no longer be stored: neither may the old one be served. */
  private dropEntry(key: string, reason: string): FetchResult {
    this.metrics.notStored.inc({ reason });
    void this.cache?.remove(key);
    return { kind: 'not-shareable', bytes: 0, detail: reason };
  }

  async forward(ctx: Ctx, o: ForwardOptions): Promise<FetchResult> {
    const { req, res } = ctx;
    const cfg = this.rules.cfg;
    const headers = backendRequestHeaders(req.headers, {
      peerIp: ctx.peerIp,
      trusted: ctx.trusted,
      scheme: ctx.scheme,
      host: req.headers.host ?? '',
      stripConditionals: o.store,
      reproxyCapable: cfg.reproxy.enabled,
    });
    headers['x-request-id'] = ctx.reqId;
    if (o.store) {
      // One entry serves gzip and identity clients: ask only for what we can undo.
      if (acceptsGzip(req.headers['accept-encoding'])) headers['accept-encoding'] = 'gzip';
      else delete headers['accept-encoding'];
    }
    // An expired entry we hold is revalidated rather than fetched again (the client's own
    // conditions were stripped above; they are applied to the entry afterwards).
    const validators = o.store && ctx.staleEntry ? revalidationHeaders(ctx.staleEntry) : {};
    const conditional = Object.keys(validators).length > 0;
    Object.assign(headers, validators);
    let upstream: UpstreamResponse | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      if (upstream) upstream.abort();
      else this.upstream.cancel(req);
    });
    this.metrics.backendRequests.inc({ route: ctx.route });
    try {
      upstream = await this.upstream.fetch({ req, res, route: ctx.route, headers, method: o.store && req.method === 'HEAD' ? 'GET' : undefined });
    } catch (err) {
      return this.failed(ctx, o, err);
    }
    if (clientGone) {
      upstream.abort();
      return { kind: 'failed', bytes: 0, detail: 'client-gone' };
    }
    if (upstream.status >= 500 && this.staleIfError(ctx)) {
      upstream.abort();
      return this.serveStale(ctx, 'stale-if-error', upstream.status);
    }
    if (conditional && upstream.status === 304) return this.revalidated(ctx, upstream, o);
    return this.respond(ctx, upstream, o);
  }

  /** The backend says our expired entry is still current: renew it and answer from it. */
  private async revalidated(ctx: Ctx, up: UpstreamResponse, o: ForwardOptions): Promise<FetchResult> {
    // A 304 has no body; reading its end lets the connection be reused.
    up.body.resume();
    const now = this.now();
    const renewed = this.renew(ctx.staleEntry!, up.rawHeaders, now);
    let result: FetchResult;
    if (renewed.ttl > 0) {
      result = { kind: 'stored', entry: renewed.entry, bytes: 0, detail: 'revalidated', saved: this.store(ctx.key!, renewed.entry, renewed.ttl, o.mayStore) };
    } else {
      result = this.dropEntry(ctx.key!, renewed.reason ?? 'zero-ttl');
    }
    // Contract (offload server): "the client gets the stored body with X-Cache: MISS and
    // Cache-Status: memfront; fwd=stale; fwd-status=304". A cookie the 304 set is this client's.
    result.bytes = await deliverEntry(ctx.req, ctx.res, renewed.entry, {
      xCache: 'MISS',
      cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus: 304 }),
      now,
      extra: renewed.setCookies,
    });
    return result;
  }

  /** The entry as a 304 renews it: headers updated, lifetime from the 304 or as before. */
  private renew(stale: Entry, rawHeaders: string[], now: number): { entry: Entry; ttl: number; reason?: string; setCookies: Array<[string, string]> } {
    const lines = responseHeadersFromRaw(rawHeaders);
    const r = renewAfterNotModified(stale, lines, this.rules.store, now);
    const ttl = r.decision.store ? r.decision.ttl : 0;
    const entry: Entry = { ...stale, headers: r.headers, etag: r.etag, lastModified: r.lastModified, storedAt: now, staleAt: now + ttl * 1000 };
    return {
      entry,
      ttl,
      reason: r.decision.store ? undefined : r.decision.reason,
      setCookies: lines.filter(([name]) => name.toLowerCase() === 'set-cookie'),
    };
  }

  private storeDecision(up: UpstreamResponse, now: number): ReturnType<typeof decideStore> {
    let decision = decideStore({ status: up.status, headers: headersObject(up.rawHeaders) }, this.rules.store, now);
    const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
    if (decision.store && ce && ce !== 'gzip' && ce !== 'identity') decision = { store: false, reason: 'encoding' };
    if (decision.store && up.noStore) decision = { store: false, reason: up.noStore };
    return decision;
  }

  private async respond(ctx: Ctx, up: UpstreamResponse, o: ForwardOptions): Promise<FetchResult> {
    const { req, res } = ctx;
    const now = this.now();
    let decision: ReturnType<typeof decideStore> = { store: false, reason: 'status' };
    if (o.store) {
      decision = this.storeDecision(up, now);
      if (!decision.store) this.metrics.notStored.inc({ reason: decision.reason });
    }
    const storeTtl = decision.store ? decision.ttl : 0;
    const cacheStatus =
      o.cacheStatus ??
      (decision.store ? formatCacheStatus({ fwd: 'miss', stored: true }) : formatCacheStatus({ fwd: 'uri-miss', detail: decision.reason }));
    const detail = decision.store ? undefined : o.store ? decision.reason : undefined;

    // Conditions are applied from the entry only when the whole body is known to fit;
    // otherwise they are ignored (a 200 is always a valid answer to them).
    const knownLength = rawHeader(up.rawHeaders, 'content-length') !== undefined;
    const needWhole =
      decision.store && (req.method === 'HEAD' || (knownLength && CONDITIONAL.some((h) => req.headers[h] !== undefined)));
    if (needWhole) {
      const body = await collect(up, this.rules.store.maxObjectSize);
      if (body === 'incomplete') return this.failed(ctx, o, new UpstreamError('MF_BACKEND_FAILED', 'backend body cut short'));
      if (body !== 'too-large') {
        const entry = await buildEntry(up, body, storeTtl, now, this.rules.cfg.cache.compressThreshold);
        const saved = this.store(ctx.key!, entry, storeTtl, o.mayStore);
        const bytes = await deliverEntry(req, res, entry, { xCache: 'MISS', cacheStatus, now });
        return { kind: 'stored', entry, bytes, saved };
      }
      // A HEAD whose GET body grew past maxObjectSize: never ours to store; the headers answer it.
      this.metrics.notStored.inc({ reason: 'too-large' });
      const flat: string[] = [];
      for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) flat.push(k, v);
      flat.push('X-Cache', o.xCache, 'Cache-Status', formatCacheStatus({ fwd: 'uri-miss', detail: 'too-large' }));
      res.writeHead(up.status, flat);
      res.end();
      return { kind: 'not-shareable', bytes: 0, detail: 'too-large' };
    }

    const flat: string[] = [];
    for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) flat.push(k, v);
    flat.push('X-Cache', o.xCache, 'Cache-Status', cacheStatus);
    res.writeHead(up.status, flat);

    const head = req.method === 'HEAD';
    const limit = this.rules.store.maxObjectSize;
    const chunks: Buffer[] = [];
    let collected = 0;
    let storing = decision.store;
    let sent = 0;
    // Read at backend speed and feed the client from memory up to this much, so a slow
    // client does not hold the backend connection; past it, backpressure.
    const bufferLimit = Math.max(limit, 1 << 20);
    const whole = await new Promise<boolean>((resolve) => {
      const body = up.body;
      body.on('data', (chunk: Buffer) => {
        if (storing) {
          collected += chunk.length;
          if (collected > limit) {
            storing = false;
            chunks.length = 0;
          } else chunks.push(chunk);
        }
        if (head || res.destroyed) return;
        sent += chunk.length;
        res.write(chunk);
        if (res.writableLength > bufferLimit) {
          body.pause();
          res.once('drain', () => body.resume());
        }
      });
      body.once('end', () => resolve(up.complete()));
      body.once('error', () => resolve(false));
      body.once('close', () => resolve(up.complete()));
    });
    if (!whole) {
      // A truncated page is never presented as complete: cut the connection.
      this.metrics.backendErrors.inc({ route: ctx.route, code: 'incomplete-body' });
      res.destroy();
      return { kind: 'failed', bytes: sent, err: new UpstreamError('MF_BACKEND_FAILED', 'backend body cut short'), detail: 'incomplete-body' };
    }
    // The client may ask again the moment it has the end: settled() must already cover the
    // write that follows (compressing the entry first takes a trip to the thread pool).
    const release = storing ? this.hold() : undefined;
    res.end();
    if (storing) {
      try {
        const entry = await buildEntry(up, Buffer.concat(chunks, collected), storeTtl, now, this.rules.cfg.cache.compressThreshold);
        const saved = this.store(ctx.key!, entry, storeTtl, o.mayStore);
        return { kind: 'stored', entry, bytes: sent, detail, saved };
      } finally {
        release!();
      }
    }
    if (decision.store) this.metrics.notStored.inc({ reason: 'too-large' });
    // A failing backend's answer is not a page others should be handed (coalescing treats
    // it as a failure: one waiter tries again).
    return { kind: up.status >= 500 ? 'failed' : 'not-shareable', bytes: sent, detail };
  }

  /**
   * Writes an entry to the cache (lifetime `ttl` seconds, kept longer for stale serving);
   * resolves false when it was not stored. Tracked for settled().
   */
  store(key: string, entry: Entry, ttl: number, mayStore?: MayStore): Promise<boolean> {
    const cache = this.cache;
    if (!cache) return Promise.resolve(false);
    const exptime = memcachedExptime(storeTtlSeconds(ttl, this.rules.windows), this.now());
    const p = (async () => {
      // A PURGE that came while this answer was on its way wins: the answer predates it.
      if (mayStore && !(await mayStore())) {
        this.metrics.notStored.inc({ reason: 'purged' });
        return false;
      }
      return cache.save(key, entry, exptime);
    })();
    this.pendingWrites.add(p);
    void p.finally(() => this.pendingWrites.delete(p));
    return p;
  }

  /** Keeps settled() waiting until the returned function is called. */
  private hold(): () => void {
    let release!: () => void;
    const p = new Promise<void>((resolve) => (release = resolve));
    this.pendingWrites.add(p);
    void p.finally(() => this.pendingWrites.delete(p));
    return release;
  }

  /** Resolves once every cache write started so far has finished (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.pendingWrites.size > 0) await Promise.allSettled([...this.pendingWrites]);
  }

  /** Whether the request's expired entry may be served because the backend failed. */
  staleIfError(ctx: Ctx): boolean {
    const e = ctx.staleEntry;
    if (!e) return false;
    const state = freshness(e, this.now(), this.rules.windows);
    return state === 'stale-while-revalidate' || state === 'stale-if-error';
  }

  async serveStale(ctx: Ctx, detail: string, fwdStatus?: number): Promise<FetchResult> {
    const bytes = await deliverEntry(ctx.req, ctx.res, ctx.staleEntry!, {
      xCache: 'STALE',
      cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus, detail }),
      now: this.now(),
    });
    return { kind: 'failed', bytes, outcome: 'stale', detail: 'stale-if-error' };
  }

  private noteBackendError(route: string, err: unknown): void {
    const code = (err as { code?: string })?.code ?? 'UNKNOWN';
    const causeCode = ((err as { cause?: { code?: string } })?.cause?.code) ?? code;
    this.metrics.backendErrors.inc({ route, code: causeCode });
  }

  private async failed(ctx: Ctx, o: ForwardOptions, err: unknown): Promise<FetchResult> {
    this.noteBackendError(ctx.route, err);
    const { res } = ctx;
    if (res.destroyed || res.headersSent) {
      res.destroy();
      return { kind: 'failed', bytes: 0, err };
    }
    if (this.staleIfError(ctx)) return { ...(await this.serveStale(ctx, 'stale-if-error')), err };
    this.gatewayError(ctx, o, (err as { code?: string })?.code === 'MF_BACKEND_TIMEOUT');
    return { kind: 'failed', bytes: 0, err };
  }

  /** 502, or 504 for a backend that did not answer in time. */
  gatewayError(ctx: Ctx, o: Pick<ForwardOptions, 'store' | 'xCache'>, timeout: boolean, detail?: string): void {
    const { res } = ctx;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status = timeout ? 504 : 502;
    const body = timeout ? 'Gateway Timeout\n' : 'Bad Gateway\n';
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Cache': o.xCache,
      'Cache-Status': formatCacheStatus({ fwd: o.store ? 'miss' : 'bypass', detail: detail ?? (timeout ? 'backend-timeout' : 'backend-error') }),
    });
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }
}

/** An entry from a whole backend body: stored headers, gzip when worth it, validators. */
export async function buildEntry(up: UpstreamResponse, body: Buffer, ttl: number, now: number, compressThreshold: number): Promise<Entry> {
  const stored: Array<[string, string]> = [];
  for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) {
    const lower = k.toLowerCase();
    if (lower === 'content-length' || lower === 'content-encoding' || lower === 'set-cookie') continue;
    stored.push([k, v]);
  }
  const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
  let gzip = ce === 'gzip';
  let identityLength: number | undefined;
  if (!gzip && body.length > compressThreshold && isCompressible(rawHeader(up.rawHeaders, 'content-type'))) {
    identityLength = body.length;
    body = await gzipAsync(body);
    gzip = true;
  }
  return {
    status: up.status,
    headers: stored,
    storedAt: now,
    staleAt: now + ttl * 1000,
    gzip,
    identityLength,
    etag: rawHeader(up.rawHeaders, 'etag'),
    lastModified: rawHeader(up.rawHeaders, 'last-modified'),
    body,
  };
}

/** The whole body, or why not. */
function collect(up: UpstreamResponse, limit: number): Promise<Buffer | 'incomplete' | 'too-large'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    up.body.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    const done = () => resolve(!up.complete() ? 'incomplete' : over ? 'too-large' : Buffer.concat(chunks, size));
    up.body.once('end', done);
    up.body.once('close', done);
    up.body.once('error', () => resolve('incomplete'));
  });
}
