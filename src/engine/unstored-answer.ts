// A whole body read in order to be stored that turned out not to be storable once in (its
// gzip does not inflate, or inflates past cache.maxObjectSize): the client gets it as it
// came, the older entry for its key goes (it must not outlive its replacement), and it is
// never handed to waiters.
import { formatCacheStatus } from '../policy/cache-status.js';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { Unstorable } from './entry-build.js';
import { dropEntry, type FetchEnv } from './fetch-env.js';
import type { FetchResult } from './fetch-result.js';
import type { Ctx } from './handler.js';

/**
 * Answers with the backend's status, headers and body as received (the client's conditions
 * and Range are not applied: a 200 is always a valid answer to them), with
 * `Cache-Status: memfront; fwd=uri-miss; detail=<why>`.
 */
export function answerUnstored(env: FetchEnv, ctx: Ctx, up: UpstreamResponse, body: Buffer, xCache: string, why: Unstorable): FetchResult {
  const result = dropEntry(env, ctx.key!, why.unstorable);
  const flat: string[] = [];
  for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) if (k.toLowerCase() !== 'content-length') flat.push(k, v);
  flat.push('Content-Length', String(body.length));
  flat.push('X-Cache', xCache, 'Cache-Status', formatCacheStatus({ fwd: 'uri-miss', detail: why.unstorable }));
  ctx.res.writeHead(up.status, flat);
  const head = ctx.req.method === 'HEAD';
  ctx.res.end(head ? undefined : body);
  return { ...result, bytes: head ? 0 : body.length };
}
