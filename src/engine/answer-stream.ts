// A miss's answer on its way to the client: the store decision made on its headers, the body
// streamed to the client while it is collected for the cache (or read whole first when the
// client's conditions must be applied from the entry), and the entry stored once it is whole.
// A body that does not arrive whole is never stored and the client's answer is cut off.
import { formatCacheStatus } from '../policy/cache-status.js';
import type { StoreDecision } from '../policy/decide-store.js';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import { rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { UpstreamError } from '../errors.js';
import type { MayStore } from './cache-writes.js';
import { deliverEntry } from './deliver.js';
import { buildEntry, collect, gzipCoded, isUnstorable, storeDecision } from './entry-build.js';
import { dropEntry, type FetchEnv } from './fetch-env.js';
import type { FetchResult } from './fetch-result.js';
import type { Ctx } from './handler.js';
import { declaredLength, worthOffloading } from './offload.js';
import { answerUnstored } from './unstored-answer.js';

export interface AnswerOptions {
  store: boolean;
  xCache: 'MISS' | 'BYPASS';
  /** Fixed Cache-Status (bypass); misses compute theirs from the store decision. */
  cacheStatus?: string;
  mayStore?: MayStore;
  /**
   * Called once the route's answer headers are in, before anything reaches the client (an
   * unsafe method's answer invalidates entries first, so the client's next GET cannot beat it).
   */
  onHeaders?: (status: number, rawHeaders: string[]) => Promise<void>;
  /** Why the expired entry held for this request could not be served stale (its Cache-Status detail). */
  staleRefused?: string;
}

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
    decision = storeDecision(up, env.rules.store, now);
    if (!decision.store) env.metrics.notStored.inc({ reason: decision.reason });
    // Contract: over maxObjectSize (here by Content-Length) "any older entry for its key is
    // deleted, so it is not served again, not even as stale".
    if (!decision.store && decision.reason === 'too-large') env.writes.forget(ctx.key!);
  }
  // Read as the headers arrive: a purge from here on moves the counters past what the entry
  // records. One sent after the backend made this answer but arriving before its headers is
  // missed, as a Varnish ban misses an object in fetch.
  const stamps = decision.store ? env.writes.stamps(ctx.key!, ctx.host, up) : undefined;
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
    const body = await collect(up, env.rules.store.maxObjectSize);
    if (body === 'incomplete') return hooks.failed(ctx, new UpstreamError('MF_BACKEND_FAILED', 'backend body cut short'));
    if (body !== 'too-large') {
      const entry = await buildEntry(up, body, storeTtl, now, env.compressThreshold(), env.rules.store.maxObjectSize);
      if (isUnstorable(entry)) return answerUnstored(env, ctx, up, body, o.xCache, entry);
      const saved = env.writes.store(ctx.key!, entry, storeTtl, o.mayStore, stamps);
      const bytes = await deliverEntry(req, res, entry, { xCache: 'MISS', cacheStatus, now });
      return { kind: 'stored', entry, bytes, saved };
    }
    // A HEAD whose GET body grew past maxObjectSize: never ours to store; the headers answer it.
    env.metrics.notStored.inc({ reason: 'too-large' });
    env.writes.forget(ctx.key!);
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
  const limit = env.rules.store.maxObjectSize;
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
          env.writes.forget(ctx.key!);
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
      const entry = await buildEntry(up, Buffer.concat(chunks, collected), storeTtl, now, env.compressThreshold(), limit);
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
