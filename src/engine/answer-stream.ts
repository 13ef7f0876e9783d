// A miss's answer on its way to the client: the store decision made on its headers, the body
// streamed to the client while it is collected for the cache (or read whole first when the
// client's conditions must be applied from the entry), and the entry stored once it is whole.
// A body that does not arrive whole is never stored and the client's answer is cut off.
//
// Memory (contract: "Slow clients cost bounded memory"): while an answer may still be stored
// it is read at the backend's pace, whatever the client's (it is held whole for the entry
// anyway, at most cache.maxObjectSize); once it may not, the client's pace sets the backend's,
// and what waits for the client is at most SEND_BUFFER. Coalesced waiters are told the moment
// it may not be stored, and a client that goes away does not end a fetch the cache wants.
import { formatCacheStatus } from '../policy/cache-status.js';
import type { StoreDecision } from '../policy/decide-store.js';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import { rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { UpstreamError } from '../errors.js';
import type { MayStore, Stamps } from './cache-writes.js';
import { deliverEntry } from './deliver.js';
import { buildEntry, collect, gzipCoded, isUnstorable, storeDecision } from './entry-build.js';
import { dropEntry, type FetchEnv } from './fetch-env.js';
import type { FetchResult } from './fetch-result.js';
import type { Ctx } from './handler.js';
import { declaredLength, worthOffloading } from './offload.js';
import { answerUnstored } from './unstored-answer.js';
import { endingPast } from './read-within.js';

export interface AnswerOptions {
  store: boolean;
  xCache: 'MISS' | 'BYPASS';
  /** Fixed Cache-Status (bypass); misses compute theirs from the store decision. */
  cacheStatus?: string;
  mayStore?: MayStore;
  /**
   * The generations read before the request went out (CacheWrites.earlyStamps); forward()
   * waits for them before it asks the route.
   */
  early?: Stamps;
  /**
   * Called once the route's answer headers are in, before anything reaches the client (an
   * unsafe method's answer invalidates entries first, so the client's next GET cannot beat it).
   */
  onHeaders?: (status: number, rawHeaders: string[]) => Promise<void>;
  /** Why the expired entry held for this request could not be served stale (its Cache-Status detail). */
  staleRefused?: string;
  /**
   * Told, at most once, the moment the answer is known not to be storable (at its headers,
   * or when its body passes maxObjectSize), with what coalesced waiters should make of it.
   */
  unshareable?: (early: FetchResult) => void;
}

/**
 * What memfront holds, at most (plus the one chunk that crossed it), of an answer it is not
 * keeping for the cache while the client has not taken it; past it the backend is read no
 * further until the client catches up. The same order as nginx's proxy_buffers (64 KB by
 * default), and fixed: it does not follow maxObjectSize.
 */
export const SEND_BUFFER = 256 * 1024;

export interface AnswerHooks {
  /** The 307 to an offload server (fetch.ts). */
  redirect(ctx: Ctx, xCache: 'MISS', cacheStatus: string): FetchResult;
  /** A body cut short before anything was sent: the route's failure answer. */
  failed(ctx: Ctx, err: unknown): Promise<FetchResult>;
}

// Client conditions that make a cacheable miss wait for the whole body, so the stored
// entry can answer them (304/206/416) exactly as a hit would.
const CONDITIONAL = ['range', 'if-none-match', 'if-modified-since'];

export async function answer(env: FetchEnv, ctx: Ctx, up: UpstreamResponse, o: AnswerOptions, hooks: AnswerHooks): Promise<FetchResult> {
  const { req, res } = ctx;
  const now = env.now();
  const target = o.store ? env.offload.targetFor(req) : undefined;
  if (target && worthOffloading(target, up.status, declaredLength(rawHeader(up.rawHeaders, 'content-length')))) {
    // Contract: "the body is not read".
    up.abort();
    return hooks.redirect(ctx, 'MISS', formatCacheStatus({ fwd: 'uri-miss', detail: 'offload' }));
  }
  let decision: StoreDecision = { store: false, reason: 'status' };
  if (o.store) {
    decision = storeDecision(up, env.rules.store, now, ctx.rule?.ttl);
    if (!decision.store) {
      env.metrics.notStored.inc({ reason: decision.reason });
      // Contract: over maxObjectSize (here by Content-Length) "any older entry for its key is
      // deleted, so it is not served again, not even as stale".
      if (decision.reason === 'too-large') env.writes.forget(ctx.key!);
      o.unshareable?.(unshared(up.status, decision.reason));
      // Only a fetch the cache wanted outlives its client: this one is nobody's now.
      if (res.destroyed) return clientGone(up, 0);
    }
  }
  // The counters known before the request (its Host's, the tags its entry had) were read
  // before it went out (o.early): a purge of them from then on invalidates this answer. Tags
  // it did not have before are read as the headers arrive: a purge of one of those sent after
  // the backend made this answer but arriving before its headers is missed, as a Varnish ban
  // misses an object in fetch.
  const stamps = decision.store ? env.writes.stamps(ctx.key!, ctx.host, up, o.early) : undefined;
  const storeTtl = decision.store ? decision.ttl : 0;
  const cacheStatus =
    o.cacheStatus ??
    (decision.store
      ? formatCacheStatus(o.staleRefused ? { fwd: 'stale', stored: true, detail: o.staleRefused } : { fwd: 'miss', stored: true })
      : formatCacheStatus({ fwd: 'uri-miss', detail: decision.reason }));
  const detail = decision.store ? undefined : o.store ? decision.reason : undefined;

  // Conditions are applied from the entry only when the whole body is known to fit;
  // otherwise they are ignored (a 200 is always a valid answer to them).
  const knownLength = rawHeader(up.rawHeaders, 'content-length') !== undefined;
  // A gzip body of known length is read whole first too: it is stored only if it inflates
  // within maxObjectSize (entry-build.ts), and the answer's Cache-Status must say which.
  const needWhole =
    decision.store && (req.method === 'HEAD' || (knownLength && (CONDITIONAL.some((h) => req.headers[h] !== undefined) || gzipCoded(up.rawHeaders))));
  if (needWhole) {
    const body = await collect(endingPast(up, env.rules.store.maxObjectSize), env.rules.store.maxObjectSize);
    if (body === 'incomplete') return hooks.failed(ctx, new UpstreamError('MF_BACKEND_FAILED', 'backend body cut short'));
    if (body !== 'too-large') {
      const entry = await buildEntry(up, body, storeTtl, now, env.compressThreshold(), env.rules.store.maxObjectSize, env.rules.cfg.cache.gzipLevel);
      if (isUnstorable(entry)) return answerUnstored(env, ctx, up, body, o.xCache, entry);
      const saved = env.writes.store(ctx.key!, entry, storeTtl, o.mayStore, stamps);
      const bytes = await deliverEntry(req, res, entry, { xCache: 'MISS', cacheStatus, now });
      return { kind: 'stored', entry, bytes, saved };
    }
    // A HEAD whose GET body grew past maxObjectSize (its transfer stopped there): never ours
    // to store; the headers answer it.
    env.metrics.notStored.inc({ reason: 'too-large' });
    env.writes.forget(ctx.key!);
    o.unshareable?.(unshared(up.status, 'too-large'));
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
  if (head && !decision.store) {
    // A HEAD's answer is its headers: the body of the GET it was fetched with is not
    // wanted, not even to the end of a body that never ends.
    if (o.store) up.abort();
    else up.body.resume();
    res.end();
    return { kind: up.status >= 500 ? 'failed' : 'not-shareable', bytes: 0, detail };
  }
  const limit = env.rules.store.maxObjectSize;
  const chunks: Buffer[] = [];
  let collected = 0;
  let storing = decision.store;
  let sent = 0;
  const whole = await new Promise<boolean>((resolve) => {
    const body = up.body;
    let paused = false;
    const resume = () => {
      paused = false;
      body.resume();
    };
    // Gone while the answer is not kept for the cache: nobody wants the rest of it.
    const onClientGone = () => {
      if (!storing) up.abort();
    };
    res.once('close', onClientGone);
    body.on('data', (chunk: Buffer) => {
      if (storing) {
        collected += chunk.length;
        if (collected > limit) {
          storing = false;
          chunks.length = 0;
          // Found while it streams: the older entry must not outlive it either.
          env.writes.forget(ctx.key!);
          o.unshareable?.(unshared(up.status, 'too-large'));
          if (res.destroyed) return onClientGone();
        } else chunks.push(chunk);
      }
      if (head || res.destroyed) return;
      sent += chunk.length;
      res.write(chunk);
      if (!storing && !paused && res.writableLength > SEND_BUFFER) {
        paused = true;
        body.pause();
        res.once('drain', resume);
      }
    });
    const done = (ok: boolean) => {
      res.off('close', onClientGone);
      resolve(ok);
    };
    body.once('end', () => done(up.complete()));
    body.once('error', () => done(false));
    body.once('close', () => done(up.complete()));
    // Closed before these listeners were attached (while an onHeaders hook was awaited, say):
    // its events are gone, and waiting for them would wait forever.
    if (body.destroyed) done(up.complete());
  });
  if (!whole && res.destroyed && !storing) return { kind: 'failed', bytes: sent, detail: 'client-gone' };
  if (!whole) {
    // A truncated page is never presented as complete: cut the connection.
    env.metrics.backendErrors.inc({ route: ctx.route, code: 'incomplete-body' });
    res.destroy();
    return { kind: 'failed', bytes: sent, err: new UpstreamError('MF_BACKEND_FAILED', 'backend body cut short'), detail: 'incomplete-body' };
  }
  // The client may ask again the moment it has the end: settled() must already cover the
  // write that follows (compressing the entry first takes a trip to the thread pool).
  const release = storing ? env.writes.hold() : undefined;
  res.end();
  if (storing) {
    try {
      const entry = await buildEntry(up, Buffer.concat(chunks, collected), storeTtl, now, env.compressThreshold(), limit, env.rules.cfg.cache.gzipLevel);
      chunks.length = 0;
      if (isUnstorable(entry)) return { ...dropEntry(env, ctx.key!, entry.unstorable), bytes: sent };
      const saved = env.writes.store(ctx.key!, entry, storeTtl, o.mayStore, stamps);
      return { kind: 'stored', entry, bytes: sent, detail, saved };
    } finally {
      release!();
    }
  }
  if (decision.store) env.metrics.notStored.inc({ reason: 'too-large' });
  // A failing backend's answer is not a page others should be handed (coalescing treats
  // it as a failure: one waiter tries again).
  return { kind: up.status >= 500 ? 'failed' : 'not-shareable', bytes: sent, detail };
}

/** What coalesced waiters make of an answer that will not be stored: a failing backend's is a failure. */
function unshared(status: number, reason: string): FetchResult {
  return status >= 500 ? { kind: 'failed', bytes: 0, detail: reason } : { kind: 'not-shareable', bytes: 0, detail: reason };
}

/** The client left before an answer nobody else wants: the transfer is stopped. */
function clientGone(up: UpstreamResponse, bytes: number): FetchResult {
  up.abort();
  return { kind: 'failed', bytes, detail: 'client-gone' };
}
