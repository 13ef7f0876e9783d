// Going upstream for a miss or a bypass: the request the route gets, and what becomes of its
// answer. The pieces live beside this file, one responsibility each:
// - answer-stream.ts: the store decision on the answer's headers, the body streamed to the
//   client while it is collected for the cache, the entry stored once whole;
// - revalidation.ts: a held expired entry revalidated (a 304 renews it), in the background
//   for stale-while-revalidate;
// - stale.ts: the expired entry served when the backend fails (staleIfError);
// - cache-writes.ts: writes and deletes, purge-aware, with generation stamps (tags);
// - gateway.ts: memfront's own 502/503/504;
// - offload.ts: which answers are redirected to an offload server.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { Metrics } from '../admin/metrics.js';
import { backendRequestHeaders } from '../policy/forward-headers.js';
import { acceptsGzip } from '../policy/encoding.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { revalidationHeaders } from '../policy/revalidate.js';
import type { Entry } from '../store/entry-codec.js';
import type { BackendClient } from '../upstream/backend-client.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { Dispatcher } from './dispatch.js';
import type { CacheAccess } from './cache-access.js';
import { answer, type AnswerOptions } from './answer-stream.js';
import { CacheWrites, type MayStore, type Stamps } from './cache-writes.js';
import { deliverEntry } from './deliver.js';
import { isEntryGone } from './chunks.js';
import { dropEntry, type FetchEnv } from './fetch-env.js';
import type { FetchResult } from './fetch-result.js';
import { gatewayError, gatewayStatus, type GatewayStatus } from './gateway.js';
import { Offload, offloadLocation, worthOffloading, entrySize } from './offload.js';
import { noteBackendError, refresh, renew, type RefreshRequest } from './revalidation.js';
import { mayServeStale, serveStale, staleForbidden } from './stale.js';
import { keyForAnswer } from './variants.js';
import type { Ctx } from './handler.js';
import type { Rules } from './rules.js';

export type { FetchResult } from './fetch-result.js';
export type { MayStore } from './cache-writes.js';
export { gatewayStatus, type GatewayStatus } from './gateway.js';
export type ForwardOptions = AnswerOptions;

export class Fetcher {
  private readonly env: FetchEnv;
  private readonly offload: Offload;

  constructor(
    private readonly rules: Rules,
    private readonly upstream: Dispatcher,
    cache: CacheAccess | null,
    metrics: Metrics,
    logger: Logger,
    now: () => number = Date.now,
    /** Requests no client drives (background refresh); without it, stale entries are refreshed in the foreground. */
    private readonly backendClient?: BackendClient,
  ) {
    this.offload = new Offload(rules.cfg.routes);
    const c = rules.cfg.cache;
    const writes = new CacheWrites({
      cache,
      metrics,
      windows: rules.windows,
      keep: rules.keep,
      keyPrefix: c.memcached.keyPrefix,
      servers: c.store === 'memcached' ? c.memcached.servers : undefined,
    });
    this.env = {
      rules,
      cache,
      metrics,
      logger,
      now,
      writes,
      offload: this.offload,
      compressThreshold: () => (cache?.usable() === false ? Infinity : c.compressThreshold),
    };
  }

  routeName(url: string): string {
    return this.upstream.routeName(url);
  }

  /** Why the request's route refuses it (400), if it does. */
  routeRefusal(url: string): string | undefined {
    return this.upstream.routeRefusal(url);
  }

  /**
   * Whether a stale entry of this route can be refreshed in the background. Only the backend
   * (and offload) route: the others (reproxy, mogile, static) answer through a client's request.
   */
  canRefresh(route: string): boolean {
    // An offload route's answers below minSize are the backend's, as on the backend route.
    return (route === 'backend' || route === 'offload') && this.backendClient !== undefined && this.env.cache !== null;
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

  /** A background refresh of a stale entry (revalidation.ts). */
  refresh(r: Omit<RefreshRequest, 'host'>): Promise<FetchResult> {
    const client = this.backendClient;
    if (!client) return Promise.resolve({ kind: 'failed', bytes: 0, detail: 'no-background-client' });
    const h = r.headers.host;
    const host = (Array.isArray(h) ? h[0] : h) ?? '';
    // No client waits: the generations are read first, on their own.
    return refresh(this.env, client, { ...r, host, early: this.env.writes.earlyStamps(r.key, host) }, (up) => this.fromBase(up, 'backend'));
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
    // The generations the answer will record are read before the backend is asked.
    if (o.early) await o.early.catch(() => null);
    // Gone before anything was sent upstream: the request cannot be proxied any more (its
    // stream is destroyed, so the upstream request would never be finished and would wait
    // out backend.timeoutMs). A waiter on this flight fetches instead.
    if (res.destroyed) return { kind: 'failed', bytes: 0, detail: 'client-gone' };
    let upstream: UpstreamResponse | undefined;
    let clientGone = false;
    res.once('close', () => {
      if (res.writableFinished) return;
      clientGone = true;
      // A fetch the cache wants outlives its client (answer-stream.ts stops it once the
      // answer turns out not to be storable; the backend's timeouts and maxObjectSize bound
      // it): the entry is stored and the waiters get it, instead of each abort costing one
      // more backend request.
      if (o.store) return;
      if (upstream) upstream.abort();
      else this.upstream.cancel(req);
    });
    this.env.metrics.backendRequests.inc({ route: ctx.route });
    const asked = performance.now();
    try {
      upstream = this.fromBase(
        await this.upstream.fetch({ req, res, route: ctx.route, headers, method: o.store && req.method === 'HEAD' ? 'GET' : undefined }),
        ctx.route,
      );
    } catch (err) {
      this.timed(ctx, asked);
      return this.failed(ctx, o, err);
    }
    this.timed(ctx, asked);
    if (o.onHeaders) await o.onHeaders(upstream.status, upstream.rawHeaders);
    if (clientGone && !o.store) {
      upstream.abort();
      return { kind: 'failed', bytes: 0, detail: 'client-gone' };
    }
    if (upstream.status >= 500 && this.staleIfError(ctx)) {
      upstream.abort();
      return this.serveStale(ctx, 'stale-if-error', upstream.status);
    }
    // Contract: a response that forbids stale "is never served stale ... (a failed backend
    // then gives its own error)"; Cache-Status says why the held entry was not used.
    const forbidden = o.store ? staleForbidden(ctx, this.env.now(), this.rules.windows) : undefined;
    if (forbidden && upstream.status >= 500) o = { ...o, cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus: upstream.status, detail: forbidden }) };
    else if (forbidden) o = { ...o, staleRefused: forbidden };
    if (conditional && upstream.status < 500) this.env.metrics.revalidations.inc({ result: upstream.status === 304 ? '304' : '200' });
    if (conditional && upstream.status === 304) return this.revalidated(ctx, upstream, o);
    const flightKey = ctx.key;
    if (o.store && ctx.key) ctx.key = await keyForAnswer(this.env, ctx.key, upstream, headers, ctx.rule?.ttl);
    const result = await answer(this.env, ctx, upstream, o, {
      redirect: (c, xCache, cacheStatus) => {
        const target = this.offload.targetFor(c.req)!;
        return this.redirect(c, offloadLocation(target, c.req.url ?? '/'), xCache, cacheStatus);
      },
      failed: (c, err) => this.failed(c, o, err),
    });
    // Stored under a variant key other than the one its flight was for: the requests waiting
    // on that flight may want another variant, so each fetches its own (coalescing is per
    // variant once the index exists).
    if (result.kind === 'stored' && ctx.key !== flightKey) return { ...result, kind: 'not-shareable' };
    return result;
  }

  /** The backend says our expired entry is still current: renew it and answer from it. */
  private async revalidated(ctx: Ctx, up: UpstreamResponse, o: ForwardOptions): Promise<FetchResult> {
    // A 304 has no body; reading its end lets the connection be reused.
    up.body.resume();
    const now = this.env.now();
    const renewed = renew(this.env, ctx.staleEntry!, up.rawHeaders, now, ctx.rule?.ttl);
    let result: FetchResult;
    if (renewed.ttl > 0) {
      result = { kind: 'stored', entry: renewed.entry, bytes: 0, detail: 'revalidated', saved: this.env.writes.store(ctx.key!, renewed.entry, renewed.ttl, o.mayStore) };
      // An entry in chunks is renewed chunk by chunk before it is answered from: one found
      // missing on the way (its index is deleted then) leaves no stored body to answer with,
      // so the file is fetched whole instead, as it is when one is found missing below.
      if (renewed.entry.chunks && !(await result.saved)) {
        ctx.staleEntry = undefined;
        return this.forward(ctx, o);
      }
    } else {
      result = dropEntry(this.env, ctx.key!, renewed.reason ?? 'zero-ttl');
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

  /** Writes an entry to the cache (cache-writes.ts). */
  store(key: string, entry: Entry, ttl: number, mayStore?: MayStore): Promise<boolean> {
    return this.env.writes.store(key, entry, ttl, mayStore);
  }

  /** CacheWrites.earlyStamps: to be passed to forward() or refresh() as `early`. */
  earlyStamps(key: string, host: string): Stamps | undefined {
    return this.env.writes.earlyStamps(key, host);
  }

  /** Counts `p` among the cache writes settled() waits for. */
  track<T>(p: Promise<T>): Promise<T> {
    return this.env.writes.track(p);
  }

  /** Resolves once every cache write started so far has finished (shutdown, tests). */
  settled(): Promise<void> {
    return this.env.writes.settled();
  }

  /** Whether the request's expired entry may be served because the backend failed. */
  staleIfError(ctx: Ctx): boolean {
    return mayServeStale(ctx, this.env.now(), this.rules.windows);
  }

  serveStale(ctx: Ctx, detail: string, fwdStatus?: number): Promise<FetchResult> {
    return serveStale(ctx, this.env.now(), detail, fwdStatus);
  }

  /** Whether an offload route covers this request (the synchronous hit path leaves those to lookup). */
  offloadTarget(req: Ctx['req']): boolean {
    return this.offload.targetFor(req) !== undefined;
  }

  /**
   * Offload (contract: "Offload route"): a stored entry worth offloading is answered with the
   * redirect instead of its body. False when this request is not to be redirected.
   */
  offloadStored(ctx: Ctx, entry: Entry, ttl: number): boolean {
    const target = this.offload.targetFor(ctx.req);
    if (!target || !worthOffloading(target, entry.status, entrySize(entry))) return false;
    ctx.outcome = 'hit';
    this.redirect(ctx, offloadLocation(target, ctx.req.url ?? '/'), 'HIT', formatCacheStatus({ hit: true, ttl }));
    return true;
  }

  /** memfront_upstream_duration_seconds and the log's upstreamMs. */
  private timed(ctx: Ctx, asked: number): void {
    const ms = performance.now() - asked;
    ctx.upstreamMs = ms;
    this.env.metrics.upstream(ctx.route, ms / 1000);
  }

  /** The 307 to the offload server that owns the path. */
  private redirect(ctx: Ctx, location: string, xCache: 'HIT' | 'MISS', cacheStatus: string): FetchResult {
    ctx.detail = 'offload';
    ctx.own = true;
    ctx.res.writeHead(307, { Location: location, 'Content-Length': 0, 'X-Cache': xCache, 'Cache-Status': cacheStatus });
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

  private async failed(ctx: Ctx, o: ForwardOptions, err: unknown): Promise<FetchResult> {
    noteBackendError(this.env, ctx.route, err);
    const { res } = ctx;
    if (res.destroyed || res.headersSent) {
      res.destroy();
      return { kind: 'failed', bytes: 0, err };
    }
    if (this.staleIfError(ctx)) return { ...(await this.serveStale(ctx, 'stale-if-error')), err };
    this.gatewayError(ctx, o, gatewayStatus(err), staleForbidden(ctx, this.env.now(), this.rules.windows));
    return { kind: 'failed', bytes: 0, err };
  }

  /** memfront's own 502/503/504 (gateway.ts). */
  gatewayError(ctx: Ctx, o: Pick<ForwardOptions, 'store' | 'xCache'>, status: GatewayStatus, detail?: string): void {
    gatewayError(ctx, o, status, detail);
  }
}
