// Revalidating an expired entry: a 304 renews it without the body crossing again. In the
// background for a stale-while-revalidate answer (no client waits: refresh), and the entry as
// a 304 renews it (renew), which the foreground miss (fetch.ts) answers from.
import { performance } from 'node:perf_hooks';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import { renewAfterNotModified, revalidationHeaders } from '../policy/revalidate.js';
import { TARGETED_FIELDS } from '../policy/targeted.js';
import { entryOf, type Entry } from '../store/entry-codec.js';
import type { BackendClient } from '../upstream/backend-client.js';
import { rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import type { MayStore, Stamps } from './cache-writes.js';
import { withRuleTtl } from '../policy/url-rules.js';
import { buildEntry, collect, isUnstorable, storeDecision } from './entry-build.js';
import { dropEntry, type FetchEnv } from './fetch-env.js';
import { keyForAnswer } from './variants.js';
import type { FetchResult } from './fetch-result.js';
import { LogLimiter } from '../log-limiter.js';

/** A background refresh: what the triggering client's miss would have sent, captured then. */
export interface RefreshRequest {
  key: string;
  path: string;
  host: string;
  headers: Record<string, string | string[]>;
  /** The stale entry being refreshed (its validators make the request conditional). */
  entry: Entry;
  mayStore?: MayStore;
  /** The generations read before the request goes out (CacheWrites.earlyStamps): waited for first. */
  early?: Stamps;
}

export interface Renewed {
  entry: Entry;
  ttl: number;
  reason?: string;
  setCookies: Array<[string, string]>;
}

/** The entry as a 304 renews it: headers updated, lifetime from the 304 or as before. */
export function renew(env: FetchEnv, stale: Entry, rawHeaders: string[], now: number, ruleTtl?: number): Renewed {
  const lines = responseHeadersFromRaw(rawHeaders);
  const r = renewAfterNotModified(stale, lines, env.rules.store, now, targetedLines(rawHeaders));
  // A cache.rules ttl stands for the renewed entry too (url-rules.ts).
  const decision = withRuleTtl(r.decision, ruleTtl);
  const ttl = decision.store ? decision.ttl : 0;
  const entry = entryOf({
    ...stale,
    headers: r.headers,
    etag: r.etag,
    lastModified: r.lastModified,
    storedAt: now,
    staleAt: now + ttl * 1000,
    initialAge: r.initialAge,
    stale: r.stale,
  });
  return {
    entry,
    ttl,
    reason: decision.store ? undefined : decision.reason,
    setCookies: lines.filter(([name]) => /^set-cookie2?$/i.test(name)),
  };
}

/** The raw header lines memfront reads for itself (targeted.ts), which responseHeadersFromRaw drops. */
function targetedLines(raw: string[]): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < raw.length; i += 2) if (TARGETED_FIELDS.has(raw[i].toLowerCase())) out.push([raw[i], raw[i + 1]]);
  return out;
}

/**
 * Refreshes a stale entry with no client waiting: conditional when it has validators (a 304
 * renews it), else fetched whole. A failing backend (error, timeout, 5xx) leaves the entry
 * as it is, to be served while staleIfError allows; an answer that may no longer be stored
 * deletes it.
 */
export async function refresh(
  env: FetchEnv,
  client: BackendClient,
  r: RefreshRequest,
  fromBase: (up: UpstreamResponse) => UpstreamResponse,
): Promise<FetchResult> {
  const validators = revalidationHeaders(r.entry);
  const conditional = Object.keys(validators).length > 0;
  if (r.early) await r.early.catch(() => null);
  env.metrics.backendRequests.inc({ route: 'backend' });
  const asked = performance.now();
  let up: UpstreamResponse;
  try {
    up = fromBase(await client.fetch({ path: r.path, headers: { ...r.headers, ...validators } }));
  } catch (err) {
    env.metrics.upstream('backend', (performance.now() - asked) / 1000);
    return refreshFailed(env, r, 'backend-error', err);
  }
  env.metrics.upstream('backend', (performance.now() - asked) / 1000);
  const now = env.now();
  if (conditional && up.status < 500) env.metrics.revalidations.inc({ result: up.status === 304 ? '304' : '200' });
  if (conditional && up.status === 304) {
    up.body.resume();
    const renewed = renew(env, r.entry, up.rawHeaders, now, env.rules.urlRule(r.path)?.ttl);
    if (renewed.ttl > 0) {
      return { kind: 'stored', entry: renewed.entry, bytes: 0, detail: 'revalidated', saved: env.writes.store(r.key, renewed.entry, renewed.ttl, r.mayStore) };
    }
    return dropEntry(env, r.key, renewed.reason ?? 'zero-ttl');
  }
  if (up.status >= 500) {
    up.abort();
    return refreshFailed(env, r, `fwd-status=${up.status}`);
  }
  if (env.rules.cfg.reproxy.enabled && (rawHeader(up.rawHeaders, 'x-reproxy-url') !== undefined || rawHeader(up.rawHeaders, 'x-reproxy-service') !== undefined)) {
    // A reproxy answer needs the client's request to follow it: the next miss will.
    up.abort();
    return refreshFailed(env, r, 'reproxy');
  }
  // A varying answer goes under its variant's key (variants.ts), whatever key was refreshed.
  const key = await keyForAnswer(env, r.key, up, r.headers, env.rules.urlRule(r.path)?.ttl);
  const decision = storeDecision(up, env.rules.store, now, env.rules.urlRule(r.path)?.ttl);
  if (!decision.store) {
    up.abort();
    return dropEntry(env, key, decision.reason);
  }
  const stamps = env.writes.stamps(key, r.host, up, r.early);
  const body = await collect(up, env.rules.store.maxObjectSize);
  if (body === 'incomplete') {
    env.metrics.backendErrors.inc({ route: 'backend', code: 'incomplete-body' });
    return refreshFailed(env, r, 'incomplete-body');
  }
  if (body === 'too-large') return dropEntry(env, r.key, 'too-large');
  const entry = await buildEntry(up, body, decision.ttl, now, env.compressThreshold(), env.rules.store.maxObjectSize, env.rules.cfg.cache.gzipLevel);
  if (isUnstorable(entry)) return dropEntry(env, key, entry.unstorable);
  const result: FetchResult = { kind: 'stored', entry, bytes: 0, saved: env.writes.store(key, entry, decision.ttl, r.mayStore, stamps) };
  // Stored under another key than the flight's: nobody waiting on it may take it as theirs.
  return key === r.key ? result : { ...result, kind: 'not-shareable' };
}

/** With the backend down every stale key's refresh fails: one line a second per kind. */
const refreshLog = new LogLimiter();

function refreshFailed(env: FetchEnv, r: RefreshRequest, detail: string, err?: unknown): FetchResult {
  if (err !== undefined) noteBackendError(env, 'backend', err);
  const code = (err as { cause?: { code?: string }; code?: string } | undefined)?.cause?.code ?? (err as { code?: string } | undefined)?.code ?? '';
  const suppressed = refreshLog.allow(`${detail} ${code}`);
  if (suppressed !== undefined) env.logger.warn({ err, url: r.path, detail, suppressed }, 'background refresh failed; the stale entry stays');
  return { kind: 'failed', bytes: 0, err, detail };
}

export function noteBackendError(env: FetchEnv, route: string, err: unknown): void {
  const code = (err as { code?: string })?.code ?? 'UNKNOWN';
  const causeCode = (err as { cause?: { code?: string } })?.cause?.code ?? code;
  env.metrics.backendErrors.inc({ route, code: causeCode });
}
