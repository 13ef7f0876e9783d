// The request state machine: every request walks these named steps, each a small function
// returning the next one, driven by one loop (after Varnish's cache_req_fsm.c).
//
//   recv ──► purge ─────────────────────────────────────────► done
//     │
//     ├──► bypass (not anonymous / not GET|HEAD / cache off) ──► fetch(store: no) ─► done
//     │
//     └──► lookup ──► hit ────────────────────────────────────► done
//            │    └─► stale (serve now, refresh in background) ─► done
//            ├──► busy (another request fetches this key: wait for it) ─► done | miss
//            └──► miss ──► fetch(store: yes) ─► done
//                           └─ backend fails, stale entry in staleIfError ─► stale ─► done
//
// The outcome is recorded once on the context; X-Cache, the metrics label and the log
// field are all derived from it.
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Metrics, Outcome } from '../admin/metrics.js';
import { classifyRequest } from '../policy/classify-request.js';
import { cacheKey } from '../policy/cache-key.js';
import { freshness } from '../policy/freshness.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { logRequest } from '../log.js';
import type { Entry } from '../store/entry-codec.js';
import type { CacheAccess } from './cache-access.js';
import { deliverEntry } from './deliver.js';
import type { Rules } from './rules.js';
import { SingleFlight } from './single-flight.js';
import { Fetcher, type FetchResult } from './fetch.js';

export interface EngineDeps {
  rules: Rules;
  cache: CacheAccess | null;
  fetcher: Fetcher;
  metrics: Metrics;
  logger: Logger;
  now?: () => number;
}

export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  started: number;
  reqId: string;
  scheme: 'http' | 'https';
  host: string;
  peerIp: string;
  trusted: boolean;
  route: string;
  outcome: Outcome;
  key?: string;
  bypassReason?: string;
  /** An expired entry kept for stale-if-error and revalidation. */
  staleEntry?: Entry;
  bytes: number;
  err?: unknown;
  detail?: string;
}

type Step = 'recv' | 'purge' | 'bypass' | 'lookup' | 'miss' | 'done';

export class Engine {
  private readonly now: () => number;
  private readonly flights = new SingleFlight<FetchResult>();

  constructor(private readonly d: EngineDeps) {
    this.now = d.now ?? Date.now;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = this.context(req, res);
    res.once('close', () => this.finish(ctx));
    this.run(ctx).catch((err) => this.internalError(ctx, err));
  }

  private async run(ctx: Ctx): Promise<void> {
    let step: Step = 'recv';
    while (step !== 'done') {
      switch (step) {
        case 'recv': step = this.recv(ctx); break;
        case 'purge': step = await this.purge(ctx); break;
        case 'bypass': step = await this.bypass(ctx); break;
        case 'lookup': step = await this.lookup(ctx); break;
        case 'miss': step = await this.miss(ctx); break;
      }
    }
  }

  private context(req: IncomingMessage, res: ServerResponse): Ctx {
    const peerIp = req.socket.remoteAddress ?? '';
    const trusted = this.d.rules.trustedPeer(peerIp);
    const fwdProto = trusted ? firstValue(req.headers['x-forwarded-proto']) : undefined;
    const reqId = (trusted && firstValue(req.headers['x-request-id'])) || randomUUID();
    return {
      req,
      res,
      started: performance.now(),
      reqId,
      scheme: fwdProto === 'https' ? 'https' : 'http',
      host: (req.headers.host ?? '').toLowerCase(),
      peerIp,
      trusted,
      route: 'backend',
      outcome: 'none',
      bytes: 0,
    };
  }

  private recv(ctx: Ctx): Step {
    const { req } = ctx;
    // Only origin-form targets: absolute-form and '*' are not ours to serve.
    if (!req.url || req.url.charCodeAt(0) !== 47 /* / */) {
      this.synth(ctx, 400, 'Bad Request');
      return 'done';
    }
    ctx.route = this.d.fetcher.routeName(req.url);
    if (req.method === 'PURGE') return 'purge';
    if (!this.d.cache || !this.d.rules.cfg.cache.enabled) {
      ctx.bypassReason = 'cache-off';
      return 'bypass';
    }
    const c = classifyRequest({ method: req.method ?? '', headers: req.headers }, { sessionCookie: this.d.rules.sessionCookie });
    if (!c.cacheable) {
      ctx.bypassReason = c.reason;
      return 'bypass';
    }
    ctx.key = cacheKey(
      { method: req.method ?? 'GET', scheme: ctx.scheme, host: ctx.host, url: req.url },
      { keyPrefix: this.d.rules.cfg.cache.memcached.keyPrefix, ignoreQueryParam: this.d.rules.ignoreQueryParam },
    );
    return 'lookup';
  }

  private async purge(ctx: Ctx): Promise<Step> {
    if (!this.d.rules.purgeAllowed(ctx.peerIp)) {
      this.synth(ctx, 403, 'Forbidden');
      return 'done';
    }
    if (!this.d.cache) {
      this.synth(ctx, 404, 'Not cached');
      return 'done';
    }
    const key = cacheKey(
      { method: 'GET', scheme: ctx.scheme, host: ctx.host, url: ctx.req.url ?? '/' },
      { keyPrefix: this.d.rules.cfg.cache.memcached.keyPrefix, ignoreQueryParam: this.d.rules.ignoreQueryParam },
    );
    const removed = await this.d.cache.remove(key);
    if (removed === 'error') this.synth(ctx, 503, 'Cache unavailable');
    else if (removed) this.synth(ctx, 200, 'Purged');
    else this.synth(ctx, 404, 'Not cached');
    return 'done';
  }

  private async bypass(ctx: Ctx): Promise<Step> {
    ctx.outcome = 'bypass';
    const cacheStatus = formatCacheStatus({ fwd: 'bypass', detail: ctx.bypassReason });
    const result = await this.d.fetcher.forward(ctx, { store: false, xCache: 'BYPASS', cacheStatus });
    this.noteFetch(ctx, result);
    return 'done';
  }

  private async lookup(ctx: Ctx): Promise<Step> {
    const found = await this.d.cache!.lookup(ctx.key!);
    if (found.kind !== 'found') {
      if (found.kind === 'corrupt' || found.kind === 'error') ctx.detail = found.kind === 'corrupt' ? 'unreadable-entry' : 'cache-unavailable';
      return 'miss';
    }
    const entry = found.entry;
    const now = this.now();
    const state = freshness(entry, now, this.d.rules.windows);
    if (state === 'fresh') {
      ctx.outcome = 'hit';
      const ttl = Math.max(0, Math.floor((entry.staleAt - now) / 1000));
      ctx.bytes = await deliverEntry(ctx.req, ctx.res, entry, {
        xCache: 'HIT',
        cacheStatus: formatCacheStatus({ hit: true, ttl }),
        now,
      });
      return 'done';
    }
    ctx.staleEntry = entry;
    if (state === 'stale-while-revalidate' && this.d.fetcher.canRefresh()) {
      ctx.outcome = 'stale';
      // Serve at once; one background request (per key, per process) refreshes the entry.
      if (!this.flights.joinable(ctx.key!)) {
        void this.flights.lead(ctx.key!, () => this.d.fetcher.refresh(ctx, entry));
      }
      ctx.bytes = await deliverEntry(ctx.req, ctx.res, entry, {
        xCache: 'STALE',
        cacheStatus: formatCacheStatus({ fwd: 'stale', detail: 'stale-while-revalidate' }),
        now,
      });
      return 'done';
    }
    return 'miss';
  }

  private async miss(ctx: Ctx): Promise<Step> {
    const key = ctx.key!;
    const leader = this.flights.joinable(key);
    if (leader) {
      const shared = await this.waitFor(leader);
      if (shared?.kind === 'stored' && !ctx.res.destroyed) {
        ctx.outcome = 'miss';
        ctx.detail = 'coalesced';
        ctx.bytes = await deliverEntry(ctx.req, ctx.res, shared.entry, {
          xCache: 'MISS',
          cacheStatus: formatCacheStatus({ fwd: 'miss', detail: 'coalesced' }),
          now: this.now(),
        });
        return 'done';
      }
      // The leader's answer was private, failed or too large: fetch our own.
    }
    ctx.outcome = 'miss';
    const run = () => this.d.fetcher.forward(ctx, { store: true, xCache: 'MISS' });
    const result = leader ? await run() : await this.flights.lead(key, run);
    this.noteFetch(ctx, result);
    return 'done';
  }

  /** A waiter never hangs on its leader for longer than the backend may take. */
  private waitFor(p: Promise<FetchResult>): Promise<FetchResult | undefined> {
    const limit = this.d.rules.cfg.backend.timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), limit);
    });
    return Promise.race([p.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
  }

  private noteFetch(ctx: Ctx, r: FetchResult): void {
    ctx.bytes = r.bytes;
    if (r.outcome) ctx.outcome = r.outcome;
    if (r.err) ctx.err = r.err;
    if (r.detail) ctx.detail = r.detail;
  }

  private synth(ctx: Ctx, status: number, text: string): void {
    const body = `${text}\n`;
    ctx.res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
    ctx.bytes = ctx.req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
  }

  private internalError(ctx: Ctx, err: unknown): void {
    ctx.err = err;
    this.d.logger.error({ err, url: ctx.req.url }, 'request failed inside memfront');
    if (!ctx.res.headersSent) this.synth(ctx, 500, 'Internal Server Error');
    else ctx.res.destroy();
  }

  private finish(ctx: Ctx): void {
    const ms = performance.now() - ctx.started;
    const status = ctx.res.writableFinished ? ctx.res.statusCode : ctx.res.headersSent ? ctx.res.statusCode : 499;
    this.d.metrics.request(ctx.outcome, ctx.route, ms / 1000, ctx.bytes);
    logRequest(this.d.logger, {
      method: ctx.req.method ?? '',
      url: ctx.req.url ?? '',
      status,
      cache: ctx.outcome,
      route: ctx.route,
      ms: Math.round(ms * 100) / 100,
      bytes: ctx.bytes,
      reqId: ctx.reqId,
      err: ctx.err,
      detail: ctx.detail,
    });
  }
}

function firstValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  const comma = s.indexOf(',');
  return (comma >= 0 ? s.slice(0, comma) : s).trim();
}


