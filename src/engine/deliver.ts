// Answering a request from a cache entry: representation choice (stored gzip as-is, or
// inflated), conditionals (304), Range (206/416) and HEAD. Used by hits, stale answers and
// misses that had to be fetched whole before the client's conditions could be applied.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Entry } from '../store/entry-codec.js';
import { acceptsGzip as parseAcceptsGzip } from '../policy/encoding.js';
import { boundedMemo } from '../memo.js';
import { conditionalStatus, parseRange } from '../policy/conditional.js';
import { ageSeconds } from '../policy/freshness.js';
import { TARGETED_FIELDS } from '../policy/targeted.js';
import { deliverChunked } from './deliver-chunked.js';

const gunzipAsync = promisify(zlib.gunzip);

// Clients send a handful of distinct Accept-Encoding values; parsing one per answer showed in profiles.
const gzipVerdict = boundedMemo(parseAcceptsGzip, 256);

function acceptsGzip(v: string | string[] | undefined): boolean {
  return typeof v === 'string' ? gzipVerdict(v) : parseAcceptsGzip(v);
}
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

/**
 * What an entry's answers share, worked out once per entry object (an L1 entry serves many
 * requests): the stored headers filtered and Vary-adjusted, the 304 subset, the inflated body
 * for identity clients of a gzip-stored entry, and the last full header list of a plain 200
 * for each representation (Age and Cache-Status change once a second at most, so most
 * answers reuse it as it is).
 */
interface Prepared {
  base: string[];
  /** A stored 200's own Content-Range (an end-to-end header), sent on its whole answers. */
  storedRange?: string;
  notModified: string[];
  identity?: Buffer;
  inflating?: Promise<Buffer>;
  gzipHead?: Head;
  identityHead?: Head;
}

interface Head {
  age: string;
  xCache: string;
  cacheStatus: string;
  headers: string[];
}

const prepared = new WeakMap<Entry, Prepared>();

function prepare(entry: Entry): Prepared {
  let p = prepared.get(entry);
  if (p) return p;
  const base: string[] = [];
  const notModified: string[] = [];
  let hasVary = false;
  let storedRange: string | undefined;
  for (const [name, value] of entry.headers) {
    const lower = name.toLowerCase();
    // Contract: the targeted fields (RFC 9213) are memfront's own: never sent to a client.
    if (TARGETED_FIELDS.has(lower)) continue;
    if (COMPUTED.has(lower)) {
      if (lower === 'content-range' && storedRange === undefined) storedRange = value;
      continue;
    }
    let v = value;
    if (lower === 'vary') {
      hasVary = true;
      // Gzip and identity share one entry: caches downstream must know the answer varies.
      if (entry.gzip && !/accept-encoding/i.test(value)) v = `${value}, Accept-Encoding`;
    }
    base.push(name, v);
    if (NOT_MODIFIED_KEEP.has(lower)) notModified.push(name, v);
  }
  if (entry.gzip && !hasVary) {
    base.push('Vary', 'Accept-Encoding');
    notModified.push('Vary', 'Accept-Encoding');
  }
  p = { base, notModified, storedRange };
  prepared.set(entry, p);
  return p;
}

export async function identityBody(entry: Entry): Promise<Buffer> {
  return identityNow(entry) ?? inflateLater(entry);
}

/** The identity body when it is at hand or cheap to make here; undefined when it takes the thread pool. */
function identityNow(entry: Entry): Buffer | undefined {
  if (!entry.gzip) return entry.body;
  const p = prepare(entry);
  if (p.identity) return p.identity;
  if (entry.body.length <= SYNC_INFLATE_LIMIT) return (p.identity = zlib.gunzipSync(entry.body));
  return undefined;
}

function inflateLater(entry: Entry): Promise<Buffer> {
  const p = prepare(entry);
  // Concurrent identity clients of one large entry share one inflate.
  p.inflating ??= gunzipAsync(entry.body).then((b) => (p.identity = b));
  return p.inflating;
}

/** Writes the whole answer; resolves to the number of body bytes sent. */
export async function deliverEntry(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): Promise<number> {
  // An index item: its body is streamed from its chunks (may reject with EntryGone, see chunks.ts).
  if (entry.chunks) return deliverChunked(req, res, entry, info);
  const sent = deliverNow(req, res, entry, info);
  if (sent !== undefined) return sent;
  await inflateLater(entry);
  return deliverNow(req, res, entry, info)!;
}

/**
 * deliverEntry without waiting: writes the whole answer and returns the body bytes sent, or
 * returns undefined having written nothing when the answer needs the entry's chunks or a
 * large inflate first.
 */
export function deliverNow(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): number | undefined {
  if (entry.chunks) return undefined;
  const p = prepare(entry);
  const h = req.headers;
  const cacheableStatus = entry.status === 200;
  const head = req.method === 'HEAD';
  const conditional = cacheableStatus && (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined);
  const rangeHeader = cacheableStatus ? h.range : undefined;

  if (!conditional && rangeHeader === undefined && !info.extra) {
    // The common answer: a plain 200 (or the stored status) with a header list kept per entry.
    const gzip = entry.gzip && acceptsGzip(h['accept-encoding']);
    const body = gzip ? entry.body : identityNow(entry);
    if (body === undefined) return undefined;
    const age = ageOf(entry, info.now);
    let last = gzip ? p.gzipHead : p.identityHead;
    if (!last || last.age !== age || last.xCache !== info.xCache || last.cacheStatus !== info.cacheStatus) {
      const ours = ['Age', age, 'X-Cache', info.xCache, 'Cache-Status', info.cacheStatus];
      if (gzip) ours.push('Content-Encoding', 'gzip');
      if (p.storedRange !== undefined) ours.push('Content-Range', p.storedRange);
      if (cacheableStatus) ours.push('Accept-Ranges', 'bytes');
      ours.push('Content-Length', String(body.length));
      last = { age, xCache: info.xCache, cacheStatus: info.cacheStatus, headers: p.base.concat(ours) };
      if (gzip) p.gzipHead = last;
      else p.identityHead = last;
    }
    res.writeHead(entry.status, last.headers);
    res.end(head ? undefined : body);
    return head ? 0 : body.length;
  }

  const ours = ['Age', ageOf(entry, info.now), 'X-Cache', info.xCache, 'Cache-Status', info.cacheStatus];
  if (info.extra) for (const [k, v] of info.extra) ours.push(k, v);

  if (conditional && conditionalStatus({ etag: entry.etag, lastModified: entry.lastModified }, h) === 304) {
    res.writeHead(304, p.notModified.concat(ours));
    res.end();
    return 0;
  }

  if (rangeHeader !== undefined) {
    const identity = identityNow(entry);
    if (identity === undefined) return undefined;
    const range = parseRange(rangeHeader, identity.length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, p.base.concat(ours, ['Content-Range', `bytes */${identity.length}`, 'Content-Length', '0']));
      res.end();
      return 0;
    }
    if (range !== null) {
      const slice = identity.subarray(range.start, range.end + 1);
      res.writeHead(
        206,
        p.base.concat(ours, ['Accept-Ranges', 'bytes', 'Content-Range', `bytes ${range.start}-${range.end}/${identity.length}`, 'Content-Length', String(slice.length)]),
      );
      res.end(head ? undefined : slice);
      return head ? 0 : slice.length;
    }
  }

  let body: Buffer | undefined;
  if (entry.gzip && acceptsGzip(h['accept-encoding'])) {
    body = entry.body;
    ours.push('Content-Encoding', 'gzip');
  } else {
    body = identityNow(entry);
    if (body === undefined) return undefined;
  }
  if (p.storedRange !== undefined) ours.push('Content-Range', p.storedRange);
  if (cacheableStatus) ours.push('Accept-Ranges', 'bytes');
  ours.push('Content-Length', String(body.length));
  res.writeHead(entry.status, p.base.concat(ours));
  res.end(head ? undefined : body);
  return head ? 0 : body.length;
}

function ageOf(entry: Entry, now: number): string {
  // RFC 9111 5.1 and 4.2.3: the age it arrived with plus its time here (freshness.ts).
  return String(ageSeconds(entry.storedAt, now, entry.initialAge));
}
