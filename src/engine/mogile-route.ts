// The `to: "mogile"` place: the key from the route's template, its paths from the trackers
// (remembered for mogile.memoTtlMs by MogileTrackers), then the paths in turn as reproxy URLs
// are tried (client's method and Range, first 2xx streamed, pooled connections).
//
// Contract: unknown key 404, another ERR 502, no tracker answering 503. An unknown key, a key
// with no path, and paths none of which answers are "not there" (a fallback may take over);
// the tracker's own trouble is an error and never falls back.
import { PassThrough } from 'node:stream';
import type { Logger } from 'pino';
import { UpstreamError } from '../errors.js';
import { checkTarget, type Target } from '../policy/reproxy-rules.js';
import { substitute, type RouteDecision } from '../policy/route-match.js';
import type { MogileTrackers } from '../upstream/mogile-tracker.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { DispatchRequest, RouteHelpers } from './dispatch.js';
import type { FileSource, StepResult } from './file-routes.js';

/**
 * How long the 404 for an unknown key may be cached (seconds): a file uploaded a moment
 * later must not stay missing for cache.defaultTtl.
 */
export const UNKNOWN_KEY_MAX_AGE = 10;

/** Tracker paths are the operator's storage nodes: trusted whatever reproxy.allowedHosts says. */
const anyHost = () => true;

export class MogileRoute implements FileSource {
  constructor(
    private readonly trackers: MogileTrackers,
    private readonly domain: string,
    private readonly logger: Logger,
  ) {}

  async serve(d: DispatchRequest, decision: RouteDecision, helpers: RouteHelpers): Promise<StepResult> {
    const template = decision.route?.route.key;
    // `$1` is the raw, still percent-encoded path text (contract): keys are the URL's spelling.
    const key = template === undefined ? '' : substitute(template, decision.groups);
    // No file has the empty key; the trackers need not be asked.
    if (key === '') return unknownKey();
    // Throws MF_TRACKER_UNAVAILABLE when no tracker answers: a 503, never a fallback.
    const result = await this.trackers.getPaths(this.domain, key);
    if (result.kind === 'unknown-key') return unknownKey();
    if (result.kind === 'error') {
      // Contract: "a tracker that answers is final"; its ERR is a 502.
      throw new UpstreamError('MF_TRACKER_ERROR', `MogileFS tracker answered ERR ${result.code} (${result.message}) for key ${JSON.stringify(key)} in domain ${JSON.stringify(this.domain)}`);
    }

    const targets: Target[] = [];
    const skipped: string[] = [];
    for (const path of result.paths) {
      const check = checkTarget(path, { allowedHost: anyHost });
      if (check.ok) targets.push(check.target);
      else skipped.push(`${path} → ${check.reason}`);
    }
    if (skipped.length > 0) this.logger.warn({ url: d.req.url, key, skipped }, 'MogileFS path not usable (not an http(s) URL)');
    if (targets.length === 0) {
      return notThere('no-paths', new UpstreamError('MF_REPROXY_FAILED', `MogileFS key ${JSON.stringify(key)} has no usable path`));
    }

    // One target at a time, so a failed path is known even when a later one serves.
    const failures: string[] = [];
    let lastError: unknown;
    for (const target of targets) {
      try {
        const response = await helpers.serveFrom([target]);
        // Contract/issue: remembered paths are forgotten "when a path fails".
        if (failures.length > 0) this.forgetFailed(d, key, failures, lastError);
        return { kind: 'served', response };
      } catch (err) {
        if (helpers.signal.aborted) throw err;
        lastError = err;
        failures.push(target.href);
      }
    }
    this.forgetFailed(d, key, failures, lastError);
    const message = `MogileFS key ${JSON.stringify(key)}: no path answered (${failures.join(', ')})`;
    return notThere('no-path-answered', new UpstreamError('MF_REPROXY_FAILED', message, { cause: lastError }));
  }

  private forgetFailed(d: DispatchRequest, key: string, failed: string[], err: unknown): void {
    this.trackers.forget(this.domain, key);
    this.logger.warn({ err, url: d.req.url, key, failed }, 'MogileFS path failed; its paths are asked for again next time');
  }
}

function unknownKey(): StepResult {
  return { kind: 'not-there', why: 'unknown-key', last: async () => notFound() };
}

function notThere(why: 'no-paths' | 'no-path-answered', err: UpstreamError): StepResult {
  return { kind: 'not-there', why, last: () => Promise.reject(err) };
}

/** Contract: "Unknown key: 404", cacheable briefly (UNKNOWN_KEY_MAX_AGE). */
function notFound(): UpstreamResponse {
  const body = Buffer.from('Not Found\n');
  const stream = new PassThrough();
  let ended = false;
  stream.once('end', () => (ended = true));
  stream.end(body);
  return {
    status: 404,
    rawHeaders: [
      'Content-Type', 'text/plain; charset=utf-8',
      'Content-Length', String(body.length),
      'Cache-Control', `max-age=${UNKNOWN_KEY_MAX_AGE}`,
    ],
    body: stream,
    complete: () => ended,
    abort: () => stream.destroy(),
  };
}
