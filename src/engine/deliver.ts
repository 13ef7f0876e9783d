// Answering a request from a cache entry: representation choice (stored gzip as-is, or
// inflated), conditionals (304), Range (206/416) and HEAD. Used by hits, stale answers and
// misses that had to be fetched whole before the client's conditions could be applied.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Entry } from '../store/entry-codec.js';
import { acceptsGzip } from '../policy/encoding.js';
import { conditionalStatus, parseRange } from '../policy/conditional.js';

const gunzipAsync = promisify(zlib.gunzip);
/** Below this, inflating on the event loop is cheaper than a trip to the thread pool. */
const SYNC_INFLATE_LIMIT = 64 * 1024;

// Headers we compute per answer; the stored ones by these names are dropped.
const COMPUTED = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'age', 'content-range', 'accept-ranges']);
// RFC 9110 15.4.5: what a 304 carries of the stored response.
const NOT_MODIFIED_KEEP = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified']);

export interface DeliverInfo {
  xCache: 'HIT' | 'MISS' | 'STALE';
  cacheStatus: string;
  now: number;
  /** Extra response headers (e.g. a debug header). */
  extra?: Array<[string, string]>;
}

export async function identityBody(entry: Entry): Promise<Buffer> {
  if (!entry.gzip) return entry.body;
  if (entry.body.length <= SYNC_INFLATE_LIMIT) return zlib.gunzipSync(entry.body);
  return gunzipAsync(entry.body);
}

/** Writes the whole answer; resolves to the number of body bytes sent. */
export async function deliverEntry(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): Promise<number> {
  const headers: string[] = [];
  let hasVary = false;
  for (const [name, value] of entry.headers) {
    const lower = name.toLowerCase();
    if (COMPUTED.has(lower)) continue;
    if (lower === 'vary') {
      hasVary = true;
      // Gzip and identity share one entry: caches downstream must know the answer varies.
      if (entry.gzip && !/accept-encoding/i.test(value)) {
        headers.push(name, `${value}, Accept-Encoding`);
        continue;
      }
    }
    headers.push(name, value);
  }
  if (entry.gzip && !hasVary) headers.push('Vary', 'Accept-Encoding');
  headers.push('Age', String(Math.max(0, Math.floor((info.now - entry.storedAt) / 1000))));
  headers.push('X-Cache', info.xCache, 'Cache-Status', info.cacheStatus);
  if (info.extra) for (const [k, v] of info.extra) headers.push(k, v);

  const cacheableStatus = entry.status === 200;
  if (cacheableStatus && conditionalStatus({ etag: entry.etag, lastModified: entry.lastModified }, req.headers) === 304) {
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) {
      const lower = headers[i].toLowerCase();
      if (NOT_MODIFIED_KEEP.has(lower) || lower === 'age' || lower === 'x-cache' || lower === 'cache-status') kept.push(headers[i], headers[i + 1]);
    }
    res.writeHead(304, kept);
    res.end();
    return 0;
  }

  const head = req.method === 'HEAD';
  const rangeHeader = cacheableStatus ? req.headers.range : undefined;
  if (rangeHeader !== undefined) {
    const identity = await identityBody(entry);
    const range = parseRange(rangeHeader, identity.length);
    if (range === 'unsatisfiable') {
      headers.push('Content-Range', `bytes */${identity.length}`, 'Content-Length', '0');
      res.writeHead(416, headers);
      res.end();
      return 0;
    }
    if (range !== null) {
      const slice = identity.subarray(range.start, range.end + 1);
      headers.push('Accept-Ranges', 'bytes', 'Content-Range', `bytes ${range.start}-${range.end}/${identity.length}`, 'Content-Length', String(slice.length));
      res.writeHead(206, headers);
      res.end(head ? undefined : slice);
      return head ? 0 : slice.length;
    }
  }

  let body: Buffer;
  if (entry.gzip && acceptsGzip(req.headers['accept-encoding'])) {
    body = entry.body;
    headers.push('Content-Encoding', 'gzip');
  } else {
    body = await identityBody(entry);
  }
  if (cacheableStatus) headers.push('Accept-Ranges', 'bytes');
  headers.push('Content-Length', String(body.length));
  res.writeHead(entry.status, headers);
  res.end(head ? undefined : body);
  return head ? 0 : body.length;
}
