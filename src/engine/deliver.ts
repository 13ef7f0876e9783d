// Answering a request from a cache entry: representation choice (stored gzip as-is, or
// inflated), conditionals (304), Range (206/416) and HEAD. Used by hits, stale answers and
// misses that had to be fetched whole before the client's conditions could be applied.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Entry } from '../store/entry-codec.js';
import { acceptsGzip as parseAcceptsGzip } from '../policy/encoding.js';
import { boundedMemo } from '../memo.js';
import { conditionalStatus, parseRange } from '../policy/conditional.js';
import { ageSeconds } from '../policy/freshness.js';
import { TARGETED_FIELDS } from '../policy/targeted.js';
import { deliverChunked } from './deliver-chunked.js';
import { EntryGone } from './chunks.js';
import { IDENTITY_COPY_LIMIT, SYNC_INFLATE_LIMIT, inflateAsync, inflateSlices, inflateSync } from './gzip-body.js';
import { answerEtag, rangeAllowed, receivedGzip } from './representation.js';
import { sendSlices } from './send-slices.js';
import { endWithHead, headEnding, httpDate, serialiseHead } from './wire-head.js';
import { isFieldName, isFieldValue } from '../store/entry-codec.js';

// Clients send a handful of distinct Accept-Encoding values; parsing one per answer showed in profiles.
const gzipVerdict = boundedMemo(parseAcceptsGzip, 256);

function acceptsGzip(v: string | string[] | undefined): boolean {
  return typeof v === 'string' ? gzipVerdict(v) : parseAcceptsGzip(v);
}

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
 * requests): the stored headers filtered and Vary-adjusted, and the 304 subset, for each
 * representation (they differ in the ETag when memfront changed one's coding); the inflated
 * body for identity clients of a gzip-stored entry, when small enough to keep; and the last
 * full header list of a plain 200 for each representation (Age and Cache-Status change once
 * a second at most, so most answers reuse it as it is).
 */
interface Prepared {
  gzipBase: string[];
  identityBase: string[];
  gzipNotModified: string[];
  identityNotModified: string[];
  /** What the identity body is long: the entry says so for a gzip body (checked before it was stored). */
  identityLength: number;
  /** A stored 200's own Content-Range (an end-to-end header), sent on its whole answers. */
  storedRange?: string;
  identity?: Buffer;
  inflating?: Promise<void>;
  /** Its gzip body does not inflate as the entry says: never answered from again. */
  unreadable: boolean;
  /** Every stored field passes Node's checks, so its head may be serialised here (wire-head.ts). */
  wireSafe: boolean;
  gzipHead?: Head;
  identityHead?: Head;
}

interface Head {
  age: string;
  xCache: string;
  cacheStatus: string;
  headers: string[];
  /** The body length its Content-Length says. */
  length: number;
  /** The same serialised (wire-head.ts), for a Date and a head ending, when a prepared write was possible; and in bytes. */
  wire?: string;
  wireBytes?: Buffer;
  wireDate?: string;
  wireEnding?: string;
}

const prepared = new WeakMap<Entry, Prepared>();

function prepare(entry: Entry): Prepared {
  let p = prepared.get(entry);
  if (p) return p;
  const identityBase: string[] = [];
  const identityNotModified: string[] = [];
  // Only a gzip entry has a second representation; for the others both are the one list.
  const gzipBase: string[] = entry.gzip ? [] : identityBase;
  const gzipNotModified: string[] = entry.gzip ? [] : identityNotModified;
  let hasVary = false;
  let storedRange: string | undefined;
  let wireSafe = true;
  for (const [name, value] of entry.headers) {
    // Decoded entries were checked so (entry-codec.ts); one this process built from a response was not.
    if (!isFieldName(name) || !isFieldValue(value)) wireSafe = false;
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
    const keep = NOT_MODIFIED_KEEP.has(lower);
    const identityValue = lower === 'etag' ? answerEtag(v, entry, false) : v;
    identityBase.push(name, identityValue);
    if (keep) identityNotModified.push(name, identityValue);
    if (entry.gzip) {
      const gzipValue = lower === 'etag' ? answerEtag(v, entry, true) : v;
      gzipBase.push(name, gzipValue);
      if (keep) gzipNotModified.push(name, gzipValue);
    }
  }
  if (entry.gzip && !hasVary) {
    for (const list of [gzipBase, identityBase, gzipNotModified, identityNotModified]) list.push('Vary', 'Accept-Encoding');
  }
  const identityLength = entry.gzip ? (entry.identityLength ?? -1) : entry.body.length;
  // A gzip entry that does not say how long it inflates to cannot be inflated within a bound.
  p = { gzipBase, identityBase, gzipNotModified, identityNotModified, identityLength, unreadable: identityLength < 0, storedRange, wireSafe };
  prepared.set(entry, p);
  return p;
}

/**
 * `entry` replaces `before`, the same body gzipped again (hot-gzip.ts, which inflated it as
 * `identity`): when identity clients were answered from a copy of `before`'s, `entry` gets
 * that copy at once rather than another inflate.
 */
export function carryIdentity(before: Entry, entry: Entry, identity: Buffer): void {
  if (prepared.get(before)?.identity === undefined) return;
  const p = prepare(entry);
  if (entry.gzip && !p.unreadable && identity.length === p.identityLength && p.identityLength <= IDENTITY_COPY_LIMIT) p.identity = identity;
}

/** The identity body when it is at hand or cheap to make here; undefined when it takes the thread pool, or streaming, or cannot be had. */
function identityNow(entry: Entry, p: Prepared): Buffer | undefined {
  if (!entry.gzip) return entry.body;
  if (p.identity || p.unreadable || p.identityLength > SYNC_INFLATE_LIMIT) return p.identity;
  const identity = inflateSync(entry.body, p.identityLength);
  if (identity === null) unreadable(entry, p);
  else p.identity = identity;
  return p.identity;
}

/** Makes the identity copy of an entry small enough to keep, in the thread pool (concurrent clients share one inflate). */
function inflateLater(entry: Entry, p: Prepared): Promise<void> {
  p.inflating ??= inflateAsync(entry.body, p.identityLength).then((identity) => {
    if (identity === null) unreadable(entry, p);
    else p.identity = identity;
  });
  return p.inflating;
}

/**
 * Contract: "An entry that fails to inflate on a hit is an unreadable entry": a miss, deleted
 * from the cache (through the hook its reader left on it) so the next request stores it anew.
 */
function unreadable(entry: Entry, p: Prepared): void {
  if (p.unreadable) return;
  p.unreadable = true;
  p.identity = undefined;
  entry.discard?.();
}

/** Writes the whole answer; resolves to the number of body bytes sent. Rejects with EntryGone having written nothing when the entry turns out unreadable. */
export async function deliverEntry(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): Promise<number> {
  // An index item: its body is streamed from its chunks (may reject with EntryGone, see chunks.ts).
  if (entry.chunks) return deliverChunked(req, res, entry, info);
  const sent = deliverNow(req, res, entry, info);
  if (sent !== undefined) return sent;
  const p = prepare(entry);
  if (!p.unreadable && p.identityLength <= IDENTITY_COPY_LIMIT) {
    await inflateLater(entry, p);
    const now = deliverNow(req, res, entry, info);
    if (now !== undefined) return now;
  }
  const streamed = p.unreadable ? undefined : answer(req, res, entry, info, true);
  if (streamed === undefined) throw new EntryGone(`the gzip body of a cached entry does not inflate to its ${entry.identityLength} bytes`);
  try {
    return await streamed;
  } catch (err) {
    throw new EntryGone('the gzip body of a cached entry does not inflate', { cause: err });
  }
}

/**
 * deliverEntry without waiting: writes the whole answer and returns the body bytes sent, or
 * returns undefined having written nothing when the answer needs the entry's chunks, an
 * inflate that takes the thread pool, or the entry is unreadable.
 */
export function deliverNow(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): number | undefined {
  return answer(req, res, entry, info, false) as number | undefined;
}

/**
 * The answer from an entry held whole. With `stream`, an identity body not at hand is
 * inflated as it is sent (a promise of the bytes sent, rejecting before anything is written
 * when the body does not begin to inflate); without, such an answer is left unwritten.
 */
function answer(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo, stream: boolean): number | Promise<number> | undefined {
  if (entry.chunks) return undefined;
  const p = prepare(entry);
  if (p.unreadable) return undefined;
  const h = req.headers;
  const cacheableStatus = entry.status === 200;
  const head = req.method === 'HEAD';
  const conditional = cacheableStatus && (h['if-none-match'] !== undefined || h['if-modified-since'] !== undefined);
  let rangeHeader = cacheableStatus ? h.range : undefined;

  if (!conditional && rangeHeader === undefined && !info.extra) {
    // The common answer: a plain 200 (or the stored status) with a header list kept per entry.
    const gzip = entry.gzip && acceptsGzip(h['accept-encoding']);
    const age = ageOf(entry, info.now);
    let last = gzip ? p.gzipHead : p.identityHead;
    if (!last || last.age !== age || last.xCache !== info.xCache || last.cacheStatus !== info.cacheStatus) {
      const ours = ['Age', age, 'X-Cache', info.xCache, 'Cache-Status', info.cacheStatus];
      if (gzip) ours.push('Content-Encoding', 'gzip');
      if (p.storedRange !== undefined) ours.push('Content-Range', p.storedRange);
      if (cacheableStatus) ours.push('Accept-Ranges', 'bytes');
      const length = gzip ? entry.body.length : p.identityLength;
      ours.push('Content-Length', String(length));
      last = { age, xCache: info.xCache, cacheStatus: info.cacheStatus, headers: (gzip ? p.gzipBase : p.identityBase).concat(ours), length };
      if (gzip) p.gzipHead = last;
      else p.identityHead = last;
    }
    const body = head ? undefined : gzip ? entry.body : identityNow(entry, p);
    if (head || body !== undefined) {
      endPlain(res, entry.status, last, p, body, info.now);
      return body?.length ?? 0;
    }
    return sendIdentity(res, entry, p, entry.status, last.headers, head, 0, p.identityLength, stream);
  }

  const gzip = entry.gzip && acceptsGzip(h['accept-encoding']);
  const ours = ['Age', ageOf(entry, info.now), 'X-Cache', info.xCache, 'Cache-Status', info.cacheStatus];
  if (info.extra) for (const [k, v] of info.extra) ours.push(k, v);

  if (conditional && conditionalStatus({ etag: entry.etag, lastModified: entry.lastModified }, h) === 304) {
    res.writeHead(304, (gzip ? p.gzipNotModified : p.identityNotModified).concat(ours));
    res.end();
    return 0;
  }

  // Contract: "a Range whose If-Range does not match the entry gets the whole 200".
  if (rangeHeader !== undefined && !rangeAllowed(entry, h, gzip)) rangeHeader = undefined;
  if (rangeHeader !== undefined) {
    // Ranges are of the identity bytes, whatever the client accepts.
    const length = p.identityLength;
    const range = parseRange(rangeHeader, length);
    if (range === 'unsatisfiable') {
      res.writeHead(416, p.identityBase.concat(ours, ['Content-Range', `bytes */${length}`, 'Content-Length', '0']));
      res.end();
      return 0;
    }
    if (range !== null) {
      const take = range.end - range.start + 1;
      const headers = p.identityBase.concat(ours, ['Accept-Ranges', 'bytes', 'Content-Range', `bytes ${range.start}-${range.end}/${length}`, 'Content-Length', String(take)]);
      return sendIdentity(res, entry, p, 206, headers, head, range.start, take, stream);
    }
  }

  if (p.storedRange !== undefined) ours.push('Content-Range', p.storedRange);
  if (cacheableStatus) ours.push('Accept-Ranges', 'bytes');
  if (gzip) {
    ours.push('Content-Encoding', 'gzip', 'Content-Length', String(entry.body.length));
    res.writeHead(entry.status, p.gzipBase.concat(ours));
    res.end(head ? undefined : entry.body);
    return head ? 0 : entry.body.length;
  }
  ours.push('Content-Length', String(p.identityLength));
  return sendIdentity(res, entry, p, entry.status, p.identityBase.concat(ours), head, 0, p.identityLength, stream);
}

/**
 * Writes an identity answer, bytes [start, start + take) of the identity body: from the body
 * or its kept inflated copy when at hand; else, with `stream`, inflated as it is sent. undefined
 * when it wrote nothing (the body is not at hand and may not be streamed, or is unreadable).
 */
function sendIdentity(
  res: ServerResponse,
  entry: Entry,
  p: Prepared,
  status: number,
  headers: string[],
  head: boolean,
  start: number,
  take: number,
  stream: boolean,
): number | Promise<number> | undefined {
  if (head) {
    res.writeHead(status, headers);
    res.end();
    return 0;
  }
  const identity = identityNow(entry, p);
  if (identity !== undefined) {
    res.writeHead(status, headers);
    res.end(take === identity.length ? identity : identity.subarray(start, start + take));
    return take;
  }
  // Too large to keep an inflated copy of: inflated for this answer alone, as the client reads.
  if (!stream || p.unreadable || p.identityLength <= IDENTITY_COPY_LIMIT) return undefined;
  return sendSlices(res, status, headers, inflateSlices(entry.body, p.identityLength, start, take), () => unreadable(entry, p));
}

/**
 * Ends a plain answer with the body (none for HEAD): its head serialised here (wire-head.ts)
 * when this response is the plain keep-alive case and the entry's fields were checked, else by
 * Node's writeHead.
 */
function endPlain(res: ServerResponse, status: number, last: Head, p: Prepared, body: Buffer | undefined, now: number): void {
  const ending = p.wireSafe ? headEnding(res) : undefined;
  if (ending === undefined) {
    res.writeHead(status, last.headers);
    res.end(body);
    return;
  }
  const date = httpDate(now);
  if (last.wire === undefined || last.wireDate !== date || last.wireEnding !== ending) {
    last.wire = serialiseHead(status, last.headers, date, ending);
    last.wireBytes = undefined;
    last.wireDate = date;
    last.wireEnding = ending;
  }
  // The socket write frames the body by this Content-Length alone: only a body of that length goes there.
  const direct = body !== undefined && body.length === last.length;
  if (direct) last.wireBytes ??= Buffer.from(last.wire, 'latin1');
  endWithHead(res, status, last.wire, body, direct ? last.wireBytes : undefined);
}

function ageOf(entry: Entry, now: number): string {
  // RFC 9111 5.1 and 4.2.3: the age it arrived with plus its time here (freshness.ts).
  return String(ageSeconds(entry.storedAt, now, entry.initialAge));
}
