// The request state machine: every request walks these named steps, each a small function
// returning the next one, driven by one loop (after Varnish's cache_req_fsm.c).
//
//   recv ──► 400/414 (target not ours, or too long) ──────────────────────────► done
//     ├──► purge: a path (forget the key's fetch under way, drop its lease), or tags /
//     │    the whole Host (move their generation counters: tags.ts) ──────────────► done
//     ├──► bypass (not anonymous / not GET|HEAD / cache off) ──► fetch(store: no) ─► done
//     │
//     └──► lookup ──► hit ─────────────────────────────────────────────────────► done
//            │    ├─► stale (serve now; one background refresh, conditional) ──► done
//            │    ├─► offload route, stored file >= minSize ─► 307 (offload.ts) ─► done
//            │    └─► in chunks, a chunk gone before the answer began ─► miss (alone)
//            ├──► busy (this process already fetches the key: wait for it) ──► done
//            │          └─ its answer not shareable / it failed / too slow ──► miss
//            │             (told at the leader's headers, or once its body passes
//            │              maxObjectSize: never after the leader's client)
//            └──► miss ──► lease (memcached `add`: one fetch across processes)
//                           ├─ won (or no memcached) ─► fetch(store: yes, conditional
//                           │                          when an expired entry is held) ─► done
//                           ├─ another holds it ─► watch it, then read the entry ─► done
//                           └─ "pass" (last answer private) ─► fetch on our own ─► done
//                 (backend fails, expired entry within staleIfError ─► stale ─► done)
//
// How a fetch under a lease ends is leased-fetch.ts's. The outcome is recorded once on the
// context; X-Cache, the metrics label and the log field are all derived from it.
import { randomUUID } from 'node:crypto';
// The global `performance` is a getter (Node defines it lazily): the hit path reads the clock twice.
import { performance } from 'node:perf_hooks';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { TIER_L1, type Metrics, type Outcome, type PurgeKind, type Tier } from '../admin/metrics.js';
import { classifyRequest } from '../policy/classify-request.js';
import { cacheKey } from '../policy/cache-key.js';
import { freshness, verdict } from '../policy/freshness.js';
import { formatCacheStatus } from '../policy/cache-status.js';
import { checkRequestTarget } from '../policy/request-limits.js';
import { admitRequest } from '../policy/request-admission.js';
import type { UrlRuleVerdict } from '../policy/url-rules.js';
import { counterCopies, decidePurge, hostCounterKey, tagCounterKeys } from '../policy/tags.js';
import { invalidationTargets, isSafeMethod } from '../policy/invalidate.js';
import { variantKey } from '../policy/vary.js';
import { rawHeader } from '../upstream/upstream.js';
import { logRequest } from '../log.js';
import { LogLimiter } from '../log-limiter.js';
import { clientIp } from '../policy/client-ip.js';
import { bodyBytesSent, countBody, type BodyCount } from './body-counter.js';
import { boundedMemo } from '../memo.js';
import type { Entry } from '../store/entry-codec.js';
import type { CacheAccess } from './cache-access.js';
import { deliverEntry, deliverNow } from './deliver.js';
import { isEntryGone } from './chunks.js';
import type { Rules } from './rules.js';
import { SingleFlight, type FlightToken } from './single-flight.js';
import { Fetcher, gatewayStatus, type FetchResult } from './fetch.js';
import { LEASE_TTL_SECONDS, type Lease, type Leases } from './lease.js';
import { LeasedFetches } from './leased-fetch.js';

export interface EngineDeps {
  rules: Rules;
  cache: CacheAccess | null;
  fetcher: Fetcher;
  metrics: Metrics;
  logger: Logger;
  /** Cross-process coalescing through memcached; without it, coalescing is per process. */
  leases?: Leases;
  now?: () => number;
}

/**
 * What one flight for a key produced. `result` is what the process's waiters may use (only a
 * stored entry is ever handed on); `leader` says what is left for the request that led it:
 * - answered: it fetched, and its client has its answer;
 * - deliver: another process fetched, and `result.entry` is still to be sent to its client;
 * - alone: nothing to share (a pass marker): it fetches on its own, like its waiters.
 */
interface Flight {
  result: FetchResult;
  leader: 'answered' | 'deliver' | 'alone';
}

export interface Ctx {
  req: IncomingMessage;
  /** The target as the client sent it (req.url becomes the keyed target of a request that uses the cache): the log's. */
  url: string;
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
  /** The URL's own key when it varies: `key` is then its variant's (vary.ts). */
  varyBase?: string;
  bytes: number;
  err?: unknown;
  detail?: string;
  /** Fetch on our own, without coalescing (the shared answer could not be used). */
  alone?: boolean;
  /** A flight this request waited on failed once already: the next failure is final. */
  retried?: boolean;
  /** The cache.rules verdict for a request that uses the cache. */
  rule?: UrlRuleVerdict;
  /** memfront chose the status itself (its 502/503/504, 500, 4xx, purge answers, offload redirects). */
  own?: boolean;
  /** Where the entry answered from was read (metrics' TIERS), and its remaining freshness (s). */
  tier?: Tier;
  ttl?: number;
  age?: number;
  /** From the request upstream until its response headers (or its failure), ms. */
  upstreamMs?: number;
  purge?: PurgeKind;
  /** The body bytes written to the client (body-counter.ts): what the log and metrics report. */
  sent?: BodyCount;
  /** Failed inside memfront: logged with its stack where it was caught. */
  internal?: boolean;
}

type Step = 'recv' | 'purge' | 'bypass' | 'lookup' | 'busy' | 'miss' | 'done';

export class Engine {
  private readonly now: () => number;
  private readonly flights = new SingleFlight<Flight>();
  private readonly leased: LeasedFetches;
  /** How long a process waits on another's lease before fetching anyway. */
  private readonly leaseWaitMs: number;
  /** How long a request waits on its process's flight: the lease wait plus a fetch. */
  private readonly flightWaitMs: number;
  /** Upstream failures are logged in full once a second per route and code; each request line has the brief form. */
  private readonly failureLog = new LogLimiter();
  /** memfront_cache_hits_total's tier for an entry read from the store. */
  private readonly storeTier: Tier;

  constructor(private readonly d: EngineDeps) {
    this.now = d.now ?? Date.now;
    const backendMs = d.rules.cfg.backend.timeoutMs;
    this.leaseWaitMs = backendMs + LEASE_TTL_SECONDS * 1000;
    this.flightWaitMs = this.leaseWaitMs + backendMs;
    this.storeTier = d.rules.cfg.cache.store === 'memory' ? 2 : 1;
    this.leased = new LeasedFetches({ cache: d.cache, metrics: d.metrics, track: (p) => d.fetcher.track(p) });
  }

  /**
   * The hot path, tried before anything else: a fresh entry in the in-process tier answers
   * before this returns, with no promise, listener or context object per request. Anything
   * less plain (no L1 copy, not fresh, chunks, offload, a large inflate still to do) returns
   * false having written nothing, and the request takes the state machine (handle), whose
   * decisions this repeats: same key, same freshness, same answer.
   */
  hitNow(req: IncomingMessage, res: ServerResponse): boolean {
    try {
      return this.tryHitNow(req, res);
    } catch (err) {
      // Thrown before anything was sent (Node refusing a stored header, say): the state
      // machine meets the same entry and answers 500 with the error logged. Thrown later:
      // the answer cannot be finished.
      if (!res.headersSent) return false;
      this.d.logger.error({ err, url: req.url }, 'request failed inside memfront');
      res.destroy();
      return true;
    }
  }

  private tryHitNow(req: IncomingMessage, res: ServerResponse): boolean {
    const cache = this.d.cache;
    const rules = this.d.rules;
    if (cache === null || !rules.cfg.cache.enabled) return false;
    const url = req.url;
    if (url === undefined || (req.method !== 'GET' && req.method !== 'HEAD') || !checkRequestTarget(url).ok) return false;
    if (!admitRequest(req.method, req.headers, req.rawHeaders).ok) return false;
    if (!classifyRequest({ method: req.method, headers: req.headers }, { sessionCookie: rules.sessionCookie }).cacheable) return false;
    if (rules.urlRule(url)?.pass) return false;
    const started = performance.now();
    const trusted = rules.anyTrusted && rules.trustedPeer(req.socket.remoteAddress ?? '');
    const scheme = trusted && firstValue(req.headers['x-forwarded-proto']) === 'https' ? 'https' : 'http';
    // One clock reading for L1, freshness, Age and Date (each a call into the clock).
    const now = this.now();
    const entry = cache.hot(rules.keyFor(scheme, (req.headers.host ?? '').toLowerCase(), url), now);
    if (entry === undefined || entry.chunks) return false;
    if (freshness(entry, now, rules.windows) !== 'fresh' || this.d.fetcher.offloadTarget(req)) return false;
    const ttl = Math.max(0, Math.floor((entry.staleAt - now) / 1000));
    const bytes = deliverNow(req, res, entry, { xCache: 'HIT', cacheStatus: hitStatus(ttl), now });
    if (bytes === undefined) return false;
    const route = this.d.fetcher.routeName(url);
    const ms = performance.now() - started;
    this.d.metrics.request('hit', route, ms / 1000, bytes, res.statusCode, false, TIER_L1);
    if (this.d.logger.isLevelEnabled('info')) {
      const reqId = (trusted && firstValue(req.headers['x-request-id'])) || randomUUID();
      const peer = req.socket.remoteAddress ?? '';
      logRequest(this.d.logger, {
        method: req.method,
        url,
        status: res.statusCode,
        cache: 'hit',
        route,
        ms: Math.round(ms * 100) / 100,
        bytes,
        reqId,
        ip: this.clientAddress(req, peer, trusted),
        host: req.headers.host,
        ua: req.headers['user-agent'],
        referer: req.headers.referer,
        ttl,
        age: ageOf(entry, now),
      });
    }
    return true;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const ctx = this.context(req, res);
    ctx.sent = countBody(res);
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
        case 'busy': step = await this.busy(ctx); break;
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
      url: req.url ?? '',
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
    const target = checkRequestTarget(req.url);
    if (!target.ok) {
      ctx.detail = target.reason;
      this.synth(ctx, target.status, target.status === 414 ? 'URI Too Long' : 'Bad Request');
      return 'done';
    }
    const admitted = admitRequest(req.method ?? '', req.headers, req.rawHeaders);
    if (!admitted.ok) {
      ctx.detail = admitted.reason;
      this.synth(ctx, admitted.status, 'Bad Request');
      return 'done';
    }
    if (req.method === 'PURGE') return 'purge';
    const cacheOn = this.d.cache !== null && this.d.rules.cfg.cache.enabled;
    const c = cacheOn ? classifyRequest({ method: req.method ?? '', headers: req.headers }, { sessionCookie: this.d.rules.sessionCookie }) : undefined;
    // Contract: "for a request that uses the cache, the URL sent upstream is the one the key
    // was built from". Routes, the key, the upstream and the log all see this one target.
    if (c?.cacheable) req.url = this.d.rules.normalize(req.url!);
    ctx.route = this.d.fetcher.routeName(req.url!);
    const refused = this.d.fetcher.routeRefusal(req.url!);
    if (refused) {
      ctx.detail = refused;
      this.synth(ctx, 400, 'Bad Request');
      return 'done';
    }
    if (!c || !c.cacheable) {
      ctx.bypassReason = c ? c.reason : 'cache-off';
      return 'bypass';
    }
    // Contract, "Per-URL rules": a pass rule keeps the request away from the cache; a ttl rule
    // sets the lifetime of what it stores (answer-stream.ts).
    ctx.rule = this.d.rules.urlRule(req.url!);
    if (ctx.rule?.pass) {
      ctx.bypassReason = 'rule';
      return 'bypass';
    }
    ctx.key = this.d.rules.keyFor(ctx.scheme, ctx.host, req.url!);
    return 'lookup';
  }

  private async purge(ctx: Ctx): Promise<Step> {
    const asked = decidePurge({ url: ctx.req.url ?? '/', headers: ctx.req.headers });
    ctx.purge = purgeKind(asked, ctx.req.headers);
    if (!this.d.rules.purgeAllowed(ctx.peerIp)) {
      this.synth(ctx, 403, 'Forbidden');
      return 'done';
    }
    if (asked.kind === 'refused') {
      ctx.detail = asked.reason;
      this.synth(ctx, 400, `Bad Request: ${asked.reason}`);
      return 'done';
    }
    const prefix = this.d.rules.cfg.cache.memcached.keyPrefix;
    if (asked.kind === 'tags') return this.invalidate(ctx, tagCounterKeys(prefix, ctx.host, asked.tags).flatMap(counterCopies), 'purge-tags');
    if (asked.kind === 'host') return this.invalidate(ctx, counterCopies(hostCounterKey(prefix, ctx.host)), 'purge-host');
    if (!this.d.cache) {
      this.synth(ctx, 404, 'Not cached');
      return 'done';
    }
    const key = cacheKey(
      { method: 'GET', scheme: ctx.scheme, host: ctx.host, url: ctx.req.url ?? '/' },
      { keyPrefix: this.d.rules.cfg.cache.memcached.keyPrefix, ignoreQueryParam: this.d.rules.ignoreQueryParam },
    );
    // What this process knows of the key goes too: a fetch under way began before the purge,
    // so its answer is not stored (here, and in the process holding the lease, which finds
    // its lease gone); requests from now on fetch anew.
    this.flights.forget(key);
    const [removed] = await Promise.all([this.d.cache.remove(key), this.d.leases?.drop(key)]);
    if (removed === 'error') this.synth(ctx, 503, 'Cache unavailable');
    else if (removed) this.synth(ctx, 200, 'Purged');
    else this.synth(ctx, 404, 'Not cached');
    return 'done';
  }

  /**
   * Tag purge and purge-all (contract: "Tags", "Purge-all"): the generation counters move, so
   * every entry recording them is a miss wherever it is looked up; 200 whether or not any did.
   * Fetches under way record the values read before they asked (cache-writes.ts earlyStamps).
   */
  private async invalidate(ctx: Ctx, counters: string[], detail: string): Promise<Step> {
    ctx.detail = detail;
    const ok = this.d.cache ? await this.d.cache.invalidate(counters) : true;
    if (ok) this.synth(ctx, 200, 'Purged');
    else this.synth(ctx, 503, 'Cache unavailable');
    return 'done';
  }

  private async bypass(ctx: Ctx): Promise<Step> {
    ctx.outcome = 'bypass';
    const cacheStatus = formatCacheStatus({ fwd: 'bypass', detail: ctx.bypassReason });
    // A logged-in GET (most of what bypasses) invalidates nothing: no headers to look through, no step to wait on.
    const onHeaders = isSafeMethod(ctx.req.method ?? '') ? undefined : (status: number, raw: string[]) => this.invalidateUnsafe(ctx, status, raw);
    const result = await this.d.fetcher.forward(ctx, { store: false, xCache: 'BYPASS', cacheStatus, onHeaders });
    this.noteFetch(ctx, result);
    return 'done';
  }

  /**
   * RFC 9111 4.4 (contract: "Unsafe methods invalidate"): an unsafe method answered 2xx/3xx
   * deletes the entries of its target and of a same-host Location / Content-Location
   * (invalidate.ts decides which), as a path PURGE does. Cache trouble only costs the delete.
   */
  private async invalidateUnsafe(ctx: Ctx, status: number, raw: string[]): Promise<void> {
    const cache = this.d.cache;
    if (!cache || !this.d.rules.cfg.cache.enabled) return;
    const targets = invalidationTargets(
      { method: ctx.req.method ?? '', scheme: ctx.scheme, host: ctx.host, url: ctx.req.url ?? '/' },
      { status, location: rawHeader(raw, 'location'), contentLocation: rawHeader(raw, 'content-location') },
    );
    try {
      await Promise.all(
        targets.map(async (path) => {
          const key = this.d.rules.keyFor(ctx.scheme, ctx.host, path);
          this.flights.forget(key);
          await Promise.all([cache.remove(key), this.d.leases?.drop(key)]);
        }),
      );
    } catch (err) {
      this.d.logger.warn({ err, url: ctx.req.url }, 'invalidation after an unsafe method failed');
    }
  }

  private async lookup(ctx: Ctx): Promise<Step> {
    let found = await this.d.cache!.lookup(ctx.key!);
    if (found.kind === 'variants') {
      // The URL varies: its index names the request headers that pick the variant (one more
      // read). The values are those the backend would be sent, which is what it varied on.
      ctx.varyBase = ctx.key;
      ctx.key = variantKey(ctx.key!, found.index, this.d.fetcher.refreshHeaders(ctx));
      found = await this.d.cache!.lookup(ctx.key);
      if (found.kind === 'variants') found = { kind: 'absent' };
    }
    if (found.kind !== 'found') {
      if (found.kind === 'corrupt' || found.kind === 'error') ctx.detail = found.kind === 'corrupt' ? 'unreadable-entry' : 'cache-unavailable';
      return 'miss';
    }
    const entry = found.entry;
    const now = this.now();
    ctx.tier = found.l1 ? TIER_L1 : this.storeTier;
    // Offload: a stored file worth offloading is redirected, whatever its freshness.
    if (this.d.fetcher.offloadStored(ctx, entry, Math.floor((entry.staleAt - now) / 1000))) return 'done';
    const { state, forbidden } = verdict(entry, now, this.d.rules.windows);
    // Stale refused by the response itself: said in the log (and, if the backend fails, in Cache-Status).
    if (forbidden) ctx.detail = forbidden;
    if (state === 'fresh') {
      ctx.outcome = 'hit';
      const ttl = Math.max(0, Math.floor((entry.staleAt - now) / 1000));
      ctx.ttl = ttl;
      ctx.age = ageOf(entry, now);
      try {
        ctx.bytes = await deliverEntry(ctx.req, ctx.res, entry, {
          xCache: 'HIT',
          cacheStatus: hitStatus(ttl),
          now,
        });
      } catch (err) {
        if (!isEntryGone(err) || ctx.res.headersSent) throw err;
        return this.entryGone(ctx);
      }
      return 'done';
    }
    // Kept for revalidation (its validators) and for stale-if-error.
    ctx.staleEntry = entry;
    if (state === 'stale-while-revalidate' && this.d.fetcher.canRefresh(ctx.route)) {
      ctx.outcome = 'stale';
      ctx.age = ageOf(entry, now);
      this.refreshLater(ctx, entry);
      try {
        ctx.bytes = await deliverEntry(ctx.req, ctx.res, entry, {
          xCache: 'STALE',
          cacheStatus: formatCacheStatus({ fwd: 'stale', detail: 'stale-while-revalidate' }),
          now,
        });
      } catch (err) {
        if (!isEntryGone(err) || ctx.res.headersSent) throw err;
        return this.entryGone(ctx);
      }
      return 'done';
    }
    return 'miss';
  }

  /**
   * A chunk of an entry in chunks was gone before its answer began (its index is deleted by
   * then): contract, "a missing chunk makes the request a miss", served from the route and
   * stored again. Fetched on its own: a flight under way for the key may be a refresh of it.
   */
  private entryGone(ctx: Ctx): Step {
    ctx.staleEntry = undefined;
    ctx.ttl = ctx.age = undefined;
    ctx.outcome = 'miss';
    ctx.detail = 'chunk-missing';
    ctx.alone = true;
    return 'miss';
  }

  /**
   * Contract: "An expired entry within staleWhileRevalidate is served ... while one background
   * request refreshes it." One per key in this process (the flight), and one across processes
   * (the lease: a process that finds it held leaves the refresh to its holder).
   */
  private refreshLater(ctx: Ctx, entry: Entry): void {
    const key = ctx.key!;
    if (this.flights.joinable(key)) return;
    // Taken now: the request and its headers are gone by the time the refresh runs.
    const headers = this.d.fetcher.refreshHeaders(ctx);
    const path = ctx.req.url ?? '/';
    const refresh = async (token: FlightToken<Flight>): Promise<Flight> => {
      const got = this.d.leases ? await this.d.leases.acquire(key) : ({ kind: 'unavailable' } as const);
      if (got.kind === 'busy' || got.kind === 'pass') {
        return { result: { kind: 'failed', bytes: 0, detail: 'refreshing-elsewhere' }, leader: 'answered' };
      }
      const lease = got.kind === 'acquired' ? got.lease : undefined;
      // Refreshed by another process between our lookup and our lease: nothing left to do.
      const fresh = lease ? await this.freshEntry(key) : undefined;
      if (lease && fresh) {
        await lease.release();
        return { result: { kind: 'stored', entry: fresh, bytes: 0 }, leader: 'answered' };
      }
      const result = await this.leased.run(key, lease, () => this.d.fetcher.refresh({ key, path, headers, entry, mayStore: this.mayStore(token, lease) }));
      return { result, leader: 'answered' };
    };
    void this.flights.lead(key, refresh).catch((err) => this.d.logger.error({ err, url: path }, 'background refresh failed inside memfront'));
  }

  private async miss(ctx: Ctx): Promise<Step> {
    const key = ctx.key!;
    ctx.outcome = 'miss';
    if (ctx.alone) {
      // Mostly answers that could not be shared (a pass marker, a leader's private answer),
      // rarely stored: their generations are read at the headers, rather than every such
      // request waiting on memcached before the backend is asked.
      this.noteFetch(ctx, await this.d.fetcher.forward(ctx, { store: true, xCache: 'MISS' }));
      return 'done';
    }
    if (this.flights.joinable(key)) return 'busy';
    const flight = await this.flights.lead(key, (token) => this.obtain(ctx, token));
    if (flight.leader === 'answered') this.noteFetch(ctx, flight.result);
    else if (flight.leader === 'deliver' && flight.result.kind === 'stored') {
      if (!(await this.deliverCoalesced(ctx, flight.result.entry))) return this.entryGone(ctx);
    }
    else {
      ctx.alone = true;
      return 'miss';
    }
    return 'done';
  }

  /**
   * The leader's side of a flight: take the cross-process lease and fetch, or let the process
   * holding it fetch and read its entry from the cache. Bounded: past leaseWaitMs we fetch
   * whatever the lease says.
   */
  private async obtain(ctx: Ctx, token: FlightToken<Flight>): Promise<Flight> {
    const key = ctx.key!;
    const leases = this.d.leases;
    const deadline = Date.now() + this.leaseWaitMs;
    for (;;) {
      const got = leases && Date.now() < deadline ? await leases.acquire(key) : ({ kind: 'unavailable' } as const);
      if (got.kind === 'pass') return { result: { kind: 'not-shareable', bytes: 0, detail: 'pass' }, leader: 'alone' };
      if (got.kind === 'busy') {
        const waited = await leases!.waitRelease(key, deadline);
        if (waited === 'pass') return { result: { kind: 'not-shareable', bytes: 0, detail: 'pass' }, leader: 'alone' };
        if (waited === 'released') {
          const entry = await this.freshEntry(key);
          if (entry) return { result: { kind: 'stored', entry, bytes: 0 }, leader: 'deliver' };
        }
        // Released without a fresh entry (its holder failed): we try. Timed out: we fetch.
        continue;
      }
      const lease = got.kind === 'acquired' ? got.lease : undefined;
      // Read alongside the re-check below, and before the backend is asked (fetch.ts waits).
      // Without a lease memcached is in trouble: the backend is not kept waiting on it again.
      const early = lease ? this.d.fetcher.earlyStamps(key, ctx.host) : undefined;
      if (lease) {
        // Another process may have stored the entry between our lookup and our lease.
        const entry = await this.freshEntry(key);
        if (entry) {
          await lease.release();
          return { result: { kind: 'stored', entry, bytes: 0 }, leader: 'deliver' };
        }
      }
      const result = await this.leased.run(key, lease, () =>
        this.d.fetcher.forward(ctx, {
          store: true,
          xCache: 'MISS',
          early,
          mayStore: this.mayStore(token, lease),
          unshareable: (early) => this.releaseWaiters(key, token, lease, early),
        }),
      );
      return { result, leader: 'answered' };
    }
  }

  /**
   * Contract: "Coalesced waiters are released as soon as the leader's answer is known not to
   * be storable; they never wait on the leader's client." Those in this process get the
   * answer's verdict now and fetch their own; the lease becomes a pass marker (or is released
   * for a failure) now, so other processes do the same. The leader streams on to its client.
   */
  private releaseWaiters(key: string, token: FlightToken<Flight>, lease: Lease | undefined, early: FetchResult): void {
    token.release({ result: early, leader: 'answered' });
    if (lease) this.leased.settle(key, lease, early);
  }

  /** A request waiting on its process's flight for the key. */
  private async busy(ctx: Ctx): Promise<Step> {
    const leader = this.flights.joinable(ctx.key!);
    if (!leader) return 'miss';
    const flight = await this.waitFor(leader);
    ctx.outcome = 'miss';
    if (!flight) {
      // The flight outlived every bound we set for it: stop waiting.
      ctx.alone = true;
      return 'miss';
    }
    const shared = flight.result;
    if (shared.kind === 'stored') return (await this.deliverCoalesced(ctx, shared.entry)) ? 'done' : this.entryGone(ctx);
    // Contract: a response that may not be stored "is never handed to the waiters: each
    // fetches its own".
    if (shared.kind === 'not-shareable') {
      ctx.alone = true;
      return 'miss';
    }
    // The flight failed. The backend failed for us as much as for its leader.
    if (this.d.fetcher.staleIfError(ctx)) {
      this.noteFetch(ctx, await this.d.fetcher.serveStale(ctx, 'stale-if-error'));
      return 'done';
    }
    // Its client went away: that says nothing about the backend.
    if (shared.detail === 'client-gone') return 'miss';
    // One of the waiters tries again (the first to get here leads, the others wait on it);
    // a second failure is final, so a failing backend never sees the whole queue.
    if (!ctx.retried) {
      ctx.retried = true;
      return 'miss';
    }

    ctx.err = shared.err;
    ctx.detail = 'coalesced-failure';
    this.d.fetcher.gatewayError(ctx, { store: true, xCache: 'MISS' }, gatewayStatus(shared.err));
    return 'done';
  }

  /** False when the entry (read from the cache, in chunks) turned out to be gone before anything was sent. */
  private async deliverCoalesced(ctx: Ctx, entry: Entry): Promise<boolean> {
    ctx.outcome = 'miss';
    // The flight may have been led by an offload server's request (the loop guard is its
    // own): this one is redirected if it is worth offloading (contract: "The offload loop
    // guard is per request").
    if (this.d.fetcher.offloadStored(ctx, entry, Math.floor((entry.staleAt - this.now()) / 1000))) return true;
    ctx.detail = 'coalesced';
    try {
      ctx.bytes = await deliverEntry(ctx.req, ctx.res, entry, {
        xCache: 'MISS',
        cacheStatus: formatCacheStatus({ fwd: 'miss', detail: 'coalesced' }),
        now: this.now(),
      });
    } catch (err) {
      if (!isEntryGone(err) || ctx.res.headersSent) throw err;
      return false;
    }
    return true;
  }

  private async freshEntry(key: string): Promise<Entry | undefined> {
    const found = await this.d.cache!.lookup(key);
    if (found.kind !== 'found') return undefined;
    return freshness(found.entry, this.now(), this.d.rules.windows) === 'fresh' ? found.entry : undefined;
  }

  /** An answer may be stored unless the key was purged since its fetch began (here, or anywhere: the lease). */
  private mayStore(token: FlightToken, lease: Lease | undefined): () => Promise<boolean> {
    return async () => token.live && (lease ? await lease.held() : true);
  }

  /** A waiter never hangs on its leader: the flight's own bounds, and this one behind them. */
  private waitFor(p: Promise<Flight>): Promise<Flight | undefined> {
    const limit = this.flightWaitMs;
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
    ctx.own = true;
    const body = `${text}\n`;
    ctx.res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    ctx.res.end(ctx.req.method === 'HEAD' ? undefined : body);
    ctx.bytes = ctx.req.method === 'HEAD' ? 0 : Buffer.byteLength(body);
  }

  private internalError(ctx: Ctx, err: unknown): void {
    ctx.err = err;
    ctx.internal = true;
    this.d.logger.error({ err, url: ctx.req.url }, 'request failed inside memfront');
    if (!ctx.res.headersSent) this.synth(ctx, 500, 'Internal Server Error');
    else ctx.res.destroy();
  }

  private finish(ctx: Ctx): void {
    const { req, res } = ctx;
    const ms = performance.now() - ctx.started;
    const status = res.writableFinished ? res.statusCode : res.headersSent ? res.statusCode : 499;
    const bytes = ctx.sent ? bodyBytesSent(res, req.method, ctx.sent) : ctx.bytes;
    const staleIfError = ctx.detail === 'stale-if-error';
    this.d.metrics.request(ctx.outcome, ctx.route, ms / 1000, bytes, res.headersSent ? res.statusCode : 0, ctx.own === true, ctx.tier ?? TIER_L1, staleIfError);
    if (ctx.purge !== undefined) this.d.metrics.purged(ctx.purge, res.headersSent ? res.statusCode : 0);
    if (ctx.err !== undefined && ctx.err !== null && !ctx.internal) this.noteFailure(ctx);
    logRequest(this.d.logger, {
      method: req.method ?? '',
      url: ctx.url,
      status,
      cache: ctx.outcome,
      route: ctx.route,
      ms: Math.round(ms * 100) / 100,
      bytes,
      reqId: ctx.reqId,
      err: ctx.err,
      detail: ctx.detail,
      ip: this.clientAddress(req, ctx.peerIp, ctx.trusted),
      host: req.headers.host,
      ua: req.headers['user-agent'],
      referer: req.headers.referer,
      upstreamMs: ctx.upstreamMs === undefined ? undefined : Math.round(ctx.upstreamMs * 100) / 100,
      ttl: ctx.ttl,
      // A stale-if-error answer comes from the miss path, from the entry the lookup kept.
      age: ctx.age ?? (ctx.outcome === 'stale' && ctx.staleEntry ? ageOf(ctx.staleEntry, this.now()) : undefined),
      purge: ctx.purge,
    });
  }

  /** The client's address for the access line: the peer's, or the one a trusted proxy names. */
  private clientAddress(req: IncomingMessage, peer: string, trusted: boolean): string {
    return trusted ? clientIp(peer, req.headers['x-forwarded-for'], (ip) => this.d.rules.trustedPeer(ip)) : peer;
  }

  /**
   * An upstream failure, in full with its cause and stack, once a second per route and code:
   * with the backend down every request fails, and each request line already names the error.
   */
  private noteFailure(ctx: Ctx): void {
    const e = ctx.err as { code?: string; cause?: { code?: string } };
    const code = e?.cause?.code ?? e?.code ?? 'UNKNOWN';
    const suppressed = this.failureLog.allow(`${ctx.route} ${code}`);
    if (suppressed === undefined) return;
    this.d.logger.warn({ err: ctx.err, route: ctx.route, url: ctx.req.url, suppressed }, 'upstream request failed');
  }
}

// `memfront; hit; ttl=N` for the ttls seen lately: every hit sends one.
const hitStatus = boundedMemo((ttl: number) => formatCacheStatus({ hit: true, ttl }), 4096);

/** The Age an answer from the entry carries (deliver.ts computes the header alike). */
function ageOf(entry: Entry, now: number): number {
  return Math.max(0, Math.floor((now - entry.storedAt) / 1000));
}

/**
 * What a PURGE was for, named also when it is refused (403, 400): tag headers make it a tag
 * purge, an X-Purge-Method regex one a whole-Host purge, anything else a path.
 */
function purgeKind(asked: ReturnType<typeof decidePurge>, headers: IncomingMessage['headers']): PurgeKind {
  if (asked.kind !== 'refused') return asked.kind;
  if (headers['surrogate-key'] !== undefined || headers['cache-tag'] !== undefined) return 'tags';
  return /regex/i.test(String(headers['x-purge-method'] ?? '')) ? 'host' : 'path';
}

function firstValue(v: string | string[] | undefined): string | undefined {
  if (v === undefined) return undefined;
  const s = Array.isArray(v) ? v[0] : v;
  const comma = s.indexOf(',');
  return (comma >= 0 ? s.slice(0, comma) : s).trim();
}


