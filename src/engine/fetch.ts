// Going upstream for a miss or a bypass: the request headers the backend sees, the answer
// streamed to the client while it is collected for the cache, and the store decision.
// A body that does not arrive whole is never stored and the client's answer is cut off.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Logger } from 'pino';
import type { Metrics, Outcome } from '../admin/metrics.js';
import { backendRequestHeaders, responseHeadersFromRaw } from '../policy/forward-headers.js';
import { decideStore } from '../policy/decide-store.js';
import { acceptsGzip, isCompressible } from '../policy/encoding.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { freshness, memcachedExptime, storeTtlSeconds } from '../policy/freshness.js';
import type { Entry } from '../store/entry-codec.js';
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
} & ({ kind: 'stored'; entry: Entry } | { kind: 'not-shareable' | 'failed' });

export interface ForwardOptions {
  store: boolean;
  xCache: 'MISS' | 'BYPASS';
  /** Fixed Cache-Status (bypass); misses compute theirs from the store decision. */
  cacheStatus?: string;
}

// Client conditions that make a cacheable miss wait for the whole body, so the stored
// entry can answer them (304/206/416) exactly as a hit would.
const CONDITIONAL = ['range', 'if-none-match', 'if-modified-since'];

export class Fetcher {
  private readonly pendingWrites = new Set<Promise<void>>();
  constructor(
    private readonly rules: Rules,
    private readonly upstream: Dispatcher,
    private readonly cache: CacheAccess | null,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  routeName(url: string): string {
    return this.upstream.routeName(url);
  }

  /** Background refresh needs a fetch that no client request drives; see issue 5. */
  canRefresh(): boolean {
    return false;
  }

  async refresh(_ctx: Ctx, _entry: Entry): Promise<FetchResult> {
    return { kind: 'failed', bytes: 0 };
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
      return this.serveStale(ctx, `fwd-status=${upstream.status}`);
    }
    return this.respond(ctx, upstream, o);
  }

  private async respond(ctx: Ctx, up: UpstreamResponse, o: ForwardOptions): Promise<FetchResult> {
    const { req, res } = ctx;
    const now = this.now();
    let decision: ReturnType<typeof decideStore> = { store: false, reason: 'status' };
    if (o.store) {
      decision = decideStore({ status: up.status, headers: headersObject(up.rawHeaders) }, this.rules.store, now);
      const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
      if (decision.store && ce && ce !== 'gzip' && ce !== 'identity') decision = { store: false, reason: 'encoding' };
      if (decision.store && up.noStore) decision = { store: false, reason: up.noStore };
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
        const entry = await this.buildEntry(up, body, storeTtl, now);
        void this.save(ctx.key!, entry, storeTtl);
        const bytes = await deliverEntry(req, res, entry, { xCache: 'MISS', cacheStatus, now });
        return { kind: 'stored', entry, bytes };
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
    res.end();
    if (storing) {
      const entry = await this.buildEntry(up, Buffer.concat(chunks, collected), storeTtl, now);
      void this.save(ctx.key!, entry, storeTtl);
      return { kind: 'stored', entry, bytes: sent, detail };
    }
    if (decision.store) this.metrics.notStored.inc({ reason: 'too-large' });
    return { kind: 'not-shareable', bytes: sent, detail };
  }

  private async buildEntry(up: UpstreamResponse, body: Buffer, ttl: number, now: number): Promise<Entry> {
    const stored: Array<[string, string]> = [];
    for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) {
      const lower = k.toLowerCase();
      if (lower === 'content-length' || lower === 'content-encoding' || lower === 'set-cookie') continue;
      stored.push([k, v]);
    }
    const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
    let gzip = ce === 'gzip';
    let identityLength: number | undefined;
    if (!gzip && body.length > this.rules.cfg.cache.compressThreshold && isCompressible(rawHeader(up.rawHeaders, 'content-type'))) {
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

  private save(key: string, entry: Entry, ttl: number): Promise<void> {
    if (!this.cache) return Promise.resolve();
    const exptime = memcachedExptime(storeTtlSeconds(ttl, this.rules.windows), this.now());
    const p = this.cache.save(key, entry, exptime).then(() => undefined);
    this.pendingWrites.add(p);
    void p.finally(() => this.pendingWrites.delete(p));
    return p;
  }

  /** Resolves once every cache write started so far has finished (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.pendingWrites.size > 0) await Promise.allSettled([...this.pendingWrites]);
  }

  private staleIfError(ctx: Ctx): boolean {
    const e = ctx.staleEntry;
    if (!e) return false;
    const state = freshness(e, this.now(), this.rules.windows);
    return state === 'stale-while-revalidate' || state === 'stale-if-error';
  }

  private async serveStale(ctx: Ctx, detail: string): Promise<FetchResult> {
    const bytes = await deliverEntry(ctx.req, ctx.res, ctx.staleEntry!, {
      xCache: 'STALE',
      cacheStatus: formatCacheStatus({ fwd: 'stale', detail }),
      now: this.now(),
    });
    return { kind: 'failed', bytes, outcome: 'stale', detail: 'stale-if-error' };
  }

  private async failed(ctx: Ctx, o: ForwardOptions, err: unknown): Promise<FetchResult> {
    const code = (err as { code?: string })?.code ?? 'UNKNOWN';
    const causeCode = ((err as { cause?: { code?: string } })?.cause?.code) ?? code;
    this.metrics.backendErrors.inc({ route: ctx.route, code: causeCode });
    const { res } = ctx;
    if (res.destroyed || res.headersSent) {
      res.destroy();
      return { kind: 'failed', bytes: 0, err };
    }
    if (this.staleIfError(ctx)) return { ...(await this.serveStale(ctx, 'stale-if-error')), err };
    const timeout = code === 'MF_BACKEND_TIMEOUT';
    const status = timeout ? 504 : 502;
    const body = timeout ? 'Gateway Timeout\n' : 'Bad Gateway\n';
    res.writeHead(status, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      'X-Cache': o.xCache,
      'Cache-Status': formatCacheStatus({ fwd: o.store ? 'miss' : 'bypass', detail: timeout ? 'backend-timeout' : 'backend-error' }),
    });
    res.end(ctx.req.method === 'HEAD' ? undefined : body);
    return { kind: 'failed', bytes: 0, err };
  }
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
