// Stale answers: whether the request's expired entry may stand in for a failed backend, and
// the answer made from it.
import { formatCacheStatus } from '../policy/cache-status.js';
import { verdict, type StaleForbidden, type StaleWindows } from '../policy/freshness.js';
import { isEntryGone } from './chunks.js';
import { deliverEntry } from './deliver.js';
import { gatewayError } from './gateway.js';
import type { FetchResult } from './fetch-result.js';
import type { Ctx } from './handler.js';

/** Whether the request's expired entry may be served because the backend failed. */
export function mayServeStale(ctx: Ctx, now: number, windows: StaleWindows): boolean {
  const e = ctx.staleEntry;
  if (!e) return false;
  const state = verdict(e, now, windows).state;
  return state === 'stale-while-revalidate' || state === 'stale-if-error';
}

/**
 * Why the request's expired entry may not stand in for a failed backend at all (its response
 * said must-revalidate, proxy-revalidate or s-maxage): the Cache-Status detail of the
 * backend's own error then. Undefined when there is no such entry or nothing forbids it.
 */
export function staleForbidden(ctx: Ctx, now: number, windows: StaleWindows): StaleForbidden | undefined {
  const e = ctx.staleEntry;
  return e ? verdict(e, now, windows).forbidden : undefined;
}

export async function serveStale(ctx: Ctx, now: number, detail: string, fwdStatus?: number): Promise<FetchResult> {
  let bytes: number;
  try {
    bytes = await deliverEntry(ctx.req, ctx.res, ctx.staleEntry!, {
      xCache: 'STALE',
      cacheStatus: formatCacheStatus({ fwd: 'stale', fwdStatus, detail }),
      now,
    });
  } catch (err) {
    if (!isEntryGone(err) || ctx.res.headersSent) throw err;
    // Its chunks are gone too: nothing left to answer with but the backend's failure.
    ctx.staleEntry = undefined;
    gatewayError(ctx, { store: true, xCache: 'MISS' }, 502);
    return { kind: 'failed', bytes: 0, err, detail: 'chunk-missing' };
  }
  return { kind: 'failed', bytes, outcome: 'stale', detail: 'stale-if-error' };
}
