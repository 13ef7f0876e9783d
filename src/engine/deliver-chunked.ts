// Answering a request from an index item: the body is streamed chunk by chunk from the cache
// (never held whole), Range reads only the chunks holding its bytes, and a client that does
// not accept gzip gets a stored gzip body inflated as it streams. What the client sees is
// what deliver.ts sends for an entry held whole; the header rules below mirror it.
//
// The first chunk an answer needs is read before anything is written: if it is missing the
// caller gets EntryGone and makes the request a miss. A chunk missing after that cuts the
// connection, as a backend body cut short does: a wrong or partial page is never presented
// as complete.
import { ageSeconds } from '../policy/freshness.js';
import { TARGETED_FIELDS } from '../policy/targeted.js';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { acceptsGzip } from '../policy/encoding.js';
import { conditionalStatus, parseRange } from '../policy/conditional.js';
import { chunkCount, chunksFor } from '../store/chunked-entry.js';
import type { Entry } from '../store/entry-codec.js';
import type { DeliverInfo } from './deliver.js';
import { openChunks } from './chunks.js';
import { rangeAllowed, setAnswerEtag } from './representation.js';
import { drained } from './drained.js';

// Headers computed per answer; the stored ones by these names are dropped (as in deliver.ts).
const COMPUTED = new Set(['content-length', 'content-encoding', 'transfer-encoding', 'age', 'content-range', 'accept-ranges']);
// RFC 9110 15.4.5: what a 304 carries of the stored response.
const NOT_MODIFIED_KEEP = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified', 'age', 'x-cache', 'cache-status']);

/** Writes the answer from an index item; resolves to the body bytes sent. Rejects with EntryGone before writing anything. */
export async function deliverChunked(req: IncomingMessage, res: ServerResponse, entry: Entry, info: DeliverInfo): Promise<number> {
  const index = entry.chunks!;
  const count = chunkCount(index);
  const headers = storedHeaders(entry, info);
  const cacheableStatus = entry.status === 200;
  const clientGzip = entry.gzip && acceptsGzip(req.headers['accept-encoding']);
  if (cacheableStatus && conditionalStatus({ etag: entry.etag, lastModified: entry.lastModified }, req.headers) === 304) {
    const kept: string[] = [];
    for (let i = 0; i < headers.length; i += 2) if (NOT_MODIFIED_KEEP.has(headers[i].toLowerCase())) kept.push(headers[i], headers[i + 1]);
    setAnswerEtag(kept, entry, clientGzip);
    res.writeHead(304, kept);
    res.end();
    return 0;
  }

  const head = req.method === 'HEAD';
  // Ranges are of the identity body: known without reading it unless the backend sent gzip
  // and never said how long it inflates to; then Range is ignored (RFC 9110 14.2 allows it).
  const identityLength = entry.gzip ? entry.identityLength : index.length;
  // If-Range (representation.ts): a Range for another version or coding gets the whole 200.
  const rangeHeader = cacheableStatus && rangeAllowed(entry, req.headers, clientGzip) ? req.headers.range : undefined;
  if (rangeHeader !== undefined && identityLength !== undefined) {
    const range = parseRange(rangeHeader, identityLength);
    if (range !== null) setAnswerEtag(headers, entry, false);
    if (range === 'unsatisfiable') {
      headers.push('Content-Range', `bytes */${identityLength}`, 'Content-Length', '0');
      res.writeHead(416, headers);
      res.end();
      return 0;
    }
    if (range !== null) {
      const length = range.end - range.start + 1;
      headers.push('Accept-Ranges', 'bytes', 'Content-Range', `bytes ${range.start}-${range.end}/${identityLength}`, 'Content-Length', String(length));
      if (head) {
        res.writeHead(206, headers);
        res.end();
        return 0;
      }
      let bytes: AsyncIterable<Buffer>;
      if (!entry.gzip) {
        // Only the chunks holding the range are read.
        const span = chunksFor(index, range.start, range.end);
        bytes = slice(await openChunks(entry, span.first, span.last), span.skip, length);
      } else {
        // Inflating starts at the beginning, and stops reading chunks once the range is out.
        bytes = slice(inflate(await openChunks(entry, 0, count - 1)), range.start, length);
      }
      res.writeHead(206, headers);
      return pump(res, bytes);
    }
  }

  let length: number | undefined;
  let inflating = false;
  setAnswerEtag(headers, entry, clientGzip);
  if (clientGzip) {
    headers.push('Content-Encoding', 'gzip');
    length = index.length;
  } else if (entry.gzip) {
    inflating = true;
    length = entry.identityLength;
  } else {
    length = index.length;
  }
  // A stored 200's own Content-Range is an end-to-end header: its whole answers carry it.
  const storedRange = entry.headers.find(([name]) => name.toLowerCase() === 'content-range');
  if (storedRange) headers.push('Content-Range', storedRange[1]);
  if (cacheableStatus) headers.push('Accept-Ranges', 'bytes');
  // Without a known identity length the answer is sent chunked (Node frames it).
  if (length !== undefined) headers.push('Content-Length', String(length));
  if (head) {
    res.writeHead(entry.status, headers);
    res.end();
    return 0;
  }
  const chunks = await openChunks(entry, 0, count - 1);
  res.writeHead(entry.status, headers);
  return pump(res, inflating ? inflate(chunks) : chunks);
}

/** The stored headers as deliver.ts sends them, with Age, X-Cache and Cache-Status. */
function storedHeaders(entry: Entry, info: DeliverInfo): string[] {
  const headers: string[] = [];
  let hasVary = false;
  for (const [name, value] of entry.headers) {
    const lower = name.toLowerCase();
    if (COMPUTED.has(lower) || TARGETED_FIELDS.has(lower)) continue;
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
  headers.push('Age', String(ageSeconds(entry.storedAt, info.now, entry.initialAge)));
  headers.push('X-Cache', info.xCache, 'Cache-Status', info.cacheStatus);
  if (info.extra) for (const [k, v] of info.extra) headers.push(k, v);
  return headers;
}

/**
 * Writes the bytes as they come, waiting whenever the client is behind; ends the answer when
 * they are all out, or cuts the connection when they cannot be (a chunk gone, a client gone).
 */
async function pump(res: ServerResponse, bytes: AsyncIterable<Buffer>): Promise<number> {
  let sent = 0;
  try {
    for await (const buf of bytes) {
      if (res.destroyed) return sent;
      sent += buf.length;
      if (!res.write(buf)) await drained(res);
    }
  } catch {
    res.destroy();
    return sent;
  }
  res.end();
  return sent;
}

/** `take` bytes of the stream, after skipping `skip`; stops reading once they are out. */
async function* slice(bytes: AsyncIterable<Buffer>, skip: number, take: number): AsyncGenerator<Buffer> {
  for await (let buf of bytes) {
    if (take <= 0) return;
    if (skip >= buf.length) {
      skip -= buf.length;
      continue;
    }
    buf = buf.subarray(skip, Math.min(buf.length, skip + take));
    skip = 0;
    take -= buf.length;
    yield buf;
    if (take <= 0) return;
  }
}

/** The stored gzip inflated as it streams: one chunk in, its output out, the next chunk read only when needed. */
async function* inflate(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  // One chunk at a time from the source (Readable.from would otherwise read 16 ahead).
  const source = Readable.from(chunks, { objectMode: true, highWaterMark: 1 });
  const gunzip = zlib.createGunzip();
  source.on('error', (err) => gunzip.destroy(err));
  source.pipe(gunzip);
  try {
    for await (const out of gunzip) yield out as Buffer;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}
