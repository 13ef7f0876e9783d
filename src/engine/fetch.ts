// Going upstream for a miss or a bypass: the request headers the backend sees, the answer
// streamed to the client while it is collected for the cache, and the store decision.
// A body that does not arrive whole is never stored and the client's answer is cut off.
// An expired entry is revalidated (If-None-Match / If-Modified-Since from its validators):
// a 304 renews it without the body crossing again, in the foreground for a miss and in the
// background for a stale-while-revalidate answer.
//
// Large objects, offload and tags (contract: "Large objects, offload and tag purge"):
// - a body over cache.maxObjectSize streams through and is not stored, and the entry it
//   replaces is deleted, so it cannot be served again, not even stale;
// - on an offload route, an answer worth offloading (a 200 of at least minSize by its
//   Content-Length) is not read at all: the client is redirected (offload.ts); on an
//   offload server, requests to the base carry the loop guard;
// - an entry records the generations of its Host and of its tags (Surrogate-Key,
//   Cache-Tag), read as its headers arrive, so a purge of any of them invalidates it.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import type { Metrics, Outcome } from '../admin/metrics.js';
import { backendRequestHeaders, responseHeadersFromRaw } from '../policy/forward-headers.js';
import { decideStore } from '../policy/decide-store.js';
import { acceptsGzip, isCompressible } from '../policy/encoding.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { freshness, storeTtlSeconds } from '../policy/freshness.js';
import { renewAfterNotModified, revalidationHeaders } from '../policy/revalidate.js';
import { entryOf, type Entry } from '../store/entry-codec.js';
import { generationKeys, tagsOf } from '../policy/tags.js';
import type { BackendClient } from '../upstream/backend-client.js';
import type { Dispatcher } from './dispatch.js';
import { headersObject, rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { UpstreamError } from '../errors.js';
import type { CacheAccess } from './cache-access.js';
import { deliverEntry } from './deliver.js';
import { isEntryGone } from './chunks.js';
import { CounterPlacement } from './tags.js';
import { declaredLength, Offload, offloadLocation, worthOffloading, entrySize, type OffloadTarget } from './offload.js';
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

/** Generation counter values for an entry, read as its headers arrived (null: not to be had). */
type Stamps = Promise<Record<string, number> | null>;

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
  private readonly offload: Offload;
  private readonly counters: CounterPlacement;
  constructor(
    private readonly rules: Rules,
    private readonly upstream: Dispatcher,
    private readonly cache: CacheAccess | null,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** Requests no client drives (background refresh); without it, stale entries are refreshed in the foreground. */
    private readonly backendClient?: BackendClient,
  ) {
    this.offload = new Offload(rules.cfg.routes);
    const c = rules.cfg.cache;
    this.counters = new CounterPlacement(c.store === 'memcached' ? c.memcached.servers : undefined);
  }

  routeName(url: string): string {
    return this.upstream.routeName(url);
  }

  /**
   * Whether a stale entry of this route can be refreshed in the background. Only the backend
   * (and offload) route: the others (reproxy, mogile, static) answer through a client's request.
   */
  canRefresh(route: string): boolean {
    // An offload route's answers below minSize are the backend's, as on the backend route.
    return (route === 'backend' || route === 'offload') && this.backendClient !== undefined && this.cache !== null;
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
      up = this.fromBase(await client.fetch({ path: r.path, headers: { ...r.headers, ...validators } }), 'backend');
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
    const stamps = this.stamps(r.key, headerValue(r.headers.host), up);
    const body = await collect(up, this.rules.store.maxObjectSize);
    if (body === 'incomplete') {
      this.metrics.backendErrors.inc({ route: 'backend', code: 'incomplete-body' });
      return this.refreshFailed(r, 'incomplete-body');
    }
    if (body === 'too-large') return this.dropEntry(r.key, 'too-large');
    const entry = await buildEntry(up, body, decision.ttl, now, this.compressThreshold());
    return { kind: 'stored', entry, bytes: 0, saved: this.store(r.key, entry, decision.ttl, r.mayStore, stamps) };
  }

  private refreshFailed(r: RefreshRequest, detail: string, err?: unknown): FetchResult {
    if (err !== undefined) this.noteBackendError('backend', err);
    this.logger.warn({ err, url: r.path, detail }, 'background refresh failed; the stale entry stays');
    return { kind: 'failed', bytes: 0, err, detail };
  }

  /** The backend's answer may no longer be stored: neither may the old one be served. */
  private dropEntry(key: string, reason: string): FetchResult {
    this.metrics.notStored.inc({ reason });
    this.forgetEntry(key);
    return { kind: 'not-shareable', bytes: 0, detail: reason };
  }

  /** Deletes the entry of `key` (tracked by settled()): what replaced it may not be stored. */
  private forgetEntry(key: string): void {
    const cache = this.cache;
    if (!cache) return;
    const p = cache.remove(key);
    this.pendingWrites.add(p);
    void p.finally(() => this.pendingWrites.delete(p));
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
      upstream = this.fromBase(await this.upstream.fetch({ req, res, route: ctx.route, headers, method: o.store && req.method === 'HEAD' ? 'GET' : undefined }), ctx.route);
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
      // An entry in chunks is renewed chunk by chunk before it is answered from: one found
      // missing on the way (its index is deleted then) leaves no stored body to answer with,
      // so the file is fetched whole instead, as it is when one is found missing below.
      if (renewed.entry.chunks && !(await result.saved)) {
        ctx.staleEntry = undefined;
        return this.forward(ctx, o);
      }
    } else {
      result = this.dropEntry(ctx.key!, renewed.reason ?? 'zero-ttl');
    }
    // Contract (offload server): "the client gets the stored body with X-Cache: MISS and
    // Cache-Status: memfront; fwd=stale; fwd-status=304". A cookie the 304 set is this client's.
    try {
      result.bytes = await deliverEntry(ctx.req, ctx.res, renewed.entry, {
        xCache: 'MISS',
        cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus: 304 }),
        now,
        extra: renewed.setCookies,
      });
    } catch (err) {
      if (!isEntryGone(err) || ctx.res.headersSent) throw err;
      // The chunks of the entry we revalidated are gone: fetch it whole, unconditionally.
      ctx.staleEntry = undefined;
      return this.forward(ctx, o);
    }
    return result;
  }

  /** The entry as a 304 renews it: headers updated, lifetime from the 304 or as before. */
  private renew(stale: Entry, rawHeaders: string[], now: number): { entry: Entry; ttl: number; reason?: string; setCookies: Array<[string, string]> } {
    const lines = responseHeadersFromRaw(rawHeaders);
    const r = renewAfterNotModified(stale, lines, this.rules.store, now);
    const ttl = r.decision.store ? r.decision.ttl : 0;
    const entry = entryOf({ ...stale, headers: r.headers, etag: r.etag, lastModified: r.lastModified, storedAt: now, staleAt: now + ttl * 1000 });
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
    const target = o.store ? this.offload.targetFor(req) : undefined;
    if (target && worthOffloading(target, up.status, declaredLength(rawHeader(up.rawHeaders, 'content-length')))) {
      // Contract: "the body is not read".
      up.abort();
      return this.redirect(ctx, target, 'MISS', formatCacheStatus({ fwd: 'uri-miss', detail: 'offload' }));
    }
    let decision: ReturnType<typeof decideStore> = { store: false, reason: 'status' };
    if (o.store) {
      decision = this.storeDecision(up, now);
      if (!decision.store) this.metrics.notStored.inc({ reason: decision.reason });
      // Contract: over maxObjectSize (here by Content-Length) "any older entry for its key is
      // deleted, so it is not served again, not even as stale".
      if (!decision.store && decision.reason === 'too-large') this.forgetEntry(ctx.key!);
    }
    // Read as the headers arrive, not once the body is in: a purge from here on moves the
    // counters past what the entry records. One sent after the backend made this answer but
    // arriving before its headers is missed, as a Varnish ban misses an object in fetch.
    const stamps = decision.store ? this.stamps(ctx.key!, ctx.host, up) : undefined;
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
        const entry = await buildEntry(up, body, storeTtl, now, this.compressThreshold());
        const saved = this.store(ctx.key!, entry, storeTtl, o.mayStore, stamps);
        const bytes = await deliverEntry(req, res, entry, { xCache: 'MISS', cacheStatus, now });
        return { kind: 'stored', entry, bytes, saved };
      }
      // A HEAD whose GET body grew past maxObjectSize: never ours to store; the headers answer it.
      this.metrics.notStored.inc({ reason: 'too-large' });
      this.forgetEntry(ctx.key!);
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
            // Found while it streams: the older entry must not outlive it either.
            this.forgetEntry(ctx.key!);
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
        const entry = await buildEntry(up, Buffer.concat(chunks, collected), storeTtl, now, this.compressThreshold());
        chunks.length = 0;
        const saved = this.store(ctx.key!, entry, storeTtl, o.mayStore, stamps);
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
  store(key: string, entry: Entry, ttl: number, mayStore?: MayStore, stamps?: Stamps): Promise<boolean> {
    const cache = this.cache;
    if (!cache) return Promise.resolve(false);
    // Relative seconds: the store converts lifetimes over memcached's 30-day limit itself.
    const exptime = Math.max(1, storeTtlSeconds(ttl, this.rules.windows));
    const p = (async () => {
      // A PURGE that came while this answer was on its way wins: the answer predates it.
      if (mayStore && !(await mayStore())) {
        this.metrics.notStored.inc({ reason: 'purged' });
        return false;
      }
      // A renewed entry keeps the generations it was checked against when it was looked up.
      if (stamps) {
        const tags = await stamps;
        // An entry whose purges could not be followed is not stored.
        if (!tags) {
          this.metrics.notStored.inc({ reason: 'no-generations' });
          return false;
        }
        entry.tags = tags;
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
    let bytes: number;
    try {
      bytes = await deliverEntry(ctx.req, ctx.res, ctx.staleEntry!, {
        xCache: 'STALE',
        cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus, detail }),
        now: this.now(),
      });
    } catch (err) {
      if (!isEntryGone(err) || ctx.res.headersSent) throw err;
      // Its chunks are gone too: nothing left to answer with but the backend's failure.
      ctx.staleEntry = undefined;
      this.gatewayError(ctx, { store: true, xCache: 'MISS' }, false);
      return { kind: 'failed', bytes: 0, err, detail: 'chunk-missing' };
    }
    return { kind: 'failed', bytes, outcome: 'stale', detail: 'stale-if-error' };
  }

  /**
   * Offload (contract: "Offload route"): a stored entry worth offloading is answered with the
   * redirect instead of its body. False when this request is not to be redirected.
   */
  /**
   * Bodies over this are stored gzipped; with no memcached server in use the entry only serves
   * this request and its coalesced waiters, so the gzip would be work for nothing.
   */
  private compressThreshold(): number {
    return this.cache?.usable() === false ? Infinity : this.rules.cfg.cache.compressThreshold;
  }

  /** Whether an offload route covers this request (the synchronous hit path leaves those to lookup). */
  offloadTarget(req: Ctx['req']): boolean {
    return this.offload.targetFor(req) !== undefined;
  }

  offloadStored(ctx: Ctx, entry: Entry, ttl: number): boolean {
    const target = this.offload.targetFor(ctx.req);
    if (!target || !worthOffloading(target, entry.status, entrySize(entry))) return false;
    ctx.outcome = 'hit';
    this.redirect(ctx, target, 'HIT', formatCacheStatus({ hit: true, ttl }));
    return true;
  }

  /** The 307 to the offload server that owns the path. */
  private redirect(ctx: Ctx, target: OffloadTarget, xCache: 'HIT' | 'MISS', cacheStatus: string): FetchResult {
    ctx.detail = 'offload';
    ctx.res.writeHead(307, {
      Location: offloadLocation(target, ctx.req.url ?? '/'),
      'Content-Length': 0,
      'X-Cache': xCache,
      'Cache-Status': cacheStatus,
    });
    ctx.res.end();
    return { kind: 'not-shareable', bytes: 0, detail: 'offload' };
  }

  /**
   * On an offload server the backend is the base, another memfront: its X-Cache and
   * Cache-Status describe the base's cache, not ours, and are neither stored nor passed on
   * (contract: the client gets "X-Cache: MISS and Cache-Status: memfront; fwd=stale; ...").
   */
  private fromBase(up: UpstreamResponse, route: string): UpstreamResponse {
    if (this.rules.cfg.offload.base === '' || (route !== 'backend' && route !== 'offload')) return up;
    const raw: string[] = [];
    for (let i = 0; i < up.rawHeaders.length; i += 2) {
      const lower = up.rawHeaders[i].toLowerCase();
      if (lower !== 'x-cache' && lower !== 'cache-status') raw.push(up.rawHeaders[i], up.rawHeaders[i + 1]);
    }
    up.rawHeaders = raw;
    return up;
  }

  /** The generations of the answer's Host and tags, read now; stored with it (tag purge, purge-all). */
  private stamps(key: string, host: string, up: UpstreamResponse): Stamps | undefined {
    const cache = this.cache;
    if (!cache) return undefined;
    const tags = tagsOf(headersObject(up.rawHeaders));
    const counters = this.counters.forEntry(key, generationKeys(this.rules.cfg.cache.memcached.keyPrefix, host, tags));
    const p = cache.stamp(counters);
    // Settled before anyone awaits it when the answer is not stored after all.
    p.catch(() => {});
    return p;
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
    this.gatewayError(ctx, o, gatewayStatus(err));
    return { kind: 'failed', bytes: 0, err };
  }

  /** 502; 504 (`true`) for a backend that did not answer in time; 503 when no tracker answered (see gatewayStatus). */
  gatewayError(ctx: Ctx, o: Pick<ForwardOptions, 'store' | 'xCache'>, timeout: boolean | GatewayStatus, detail?: string): void {
    const { res } = ctx;
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const status: GatewayStatus = timeout === true ? 504 : timeout === false ? 502 : timeout;
    const { body, why } = GATEWAY_ANSWERS[status];
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Cache': o.xCache,
      'Cache-Status': formatCacheStatus({ fwd: o.store ? 'miss' : 'bypass', detail: detail ?? why }),
    });
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
  }
}

export type GatewayStatus = 502 | 503 | 504;

const GATEWAY_ANSWERS: Record<GatewayStatus, { body: string; why: string }> = {
  502: { body: 'Bad Gateway\n', why: 'backend-error' },
  503: { body: 'Service Unavailable\n', why: 'tracker-unavailable' },
  504: { body: 'Gateway Timeout\n', why: 'backend-timeout' },
};

/**
 * How a route's failure is answered. Contract: on a mogile route "No tracker answers: 503"
 * (the file may well exist; MogileFS is down); a backend too slow: 504; the rest (a tracker's
 * other ERR, no path or reproxy URL answering, a refused backend): 502.
 */
export function gatewayStatus(err: unknown): GatewayStatus {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'MF_TRACKER_UNAVAILABLE' ? 503 : code === 'MF_BACKEND_TIMEOUT' ? 504 : 502;
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
  return entryOf({
    status: up.status,
    headers: stored,
    storedAt: now,
    staleAt: now + ttl * 1000,
    gzip,
    identityLength,
    etag: rawHeader(up.rawHeaders, 'etag'),
    lastModified: rawHeader(up.rawHeaders, 'last-modified'),
    body,
  });
}

function headerValue(v: string | string[] | undefined): string {
  return (Array.isArray(v) ? v[0] : v) ?? '';
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
