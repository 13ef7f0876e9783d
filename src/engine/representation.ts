// One entry, two representations: its gzip bytes and its identity bytes. Which coding the
// body came in decides which answers carry the stored ETag as it is, and If-Range is judged
// against the representation a Range is cut from (always the identity one).
import { ifRangeHolds, weakened } from '../policy/conditional.js';
import type { Headers } from '../policy/headers.js';
import type { Entry } from '../store/entry-codec.js';

type Coded = Pick<Entry, 'gzip' | 'gzippedHere'>;

/** The body came from upstream gzip-coded (else identity, whether or not memfront gzipped it since). */
export function receivedGzip(entry: Coded): boolean {
  return entry.gzip && entry.gzippedHere !== true;
}

/** The ETag an answer in this coding carries: weak when memfront changed the coding the body came in. */
export function answerEtag(etag: string, entry: Coded, answerGzip: boolean): string {
  return answerGzip === receivedGzip(entry) ? etag : weakened(etag);
}

/** The same, in a flat header list (name, value, ...), in place. */
export function setAnswerEtag(headers: string[], entry: Coded, answerGzip: boolean): void {
  if (!entry.gzip) return;
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].length === 4 && headers[i].toLowerCase() === 'etag') headers[i + 1] = answerEtag(headers[i + 1], entry, answerGzip);
  }
}

/**
 * May this request's Range be answered from the entry (If-Range, RFC 9110 13.1.5)? A Range is
 * cut from the identity bytes, so the tag is compared with the identity answer's. A date
 * cannot say which coding the client's first part came in, so it counts only for a client
 * that is always answered identity; one that accepts gzip gets the whole 200 instead.
 */
export function rangeAllowed(entry: Pick<Entry, 'gzip' | 'gzippedHere' | 'etag' | 'lastModified'>, req: Headers, clientGzip: boolean): boolean {
  const ifRange = req['if-range'];
  if (ifRange === undefined) return true;
  return ifRangeHolds(ifRange, {
    etag: entry.etag === undefined ? undefined : answerEtag(entry.etag, entry, false),
    lastModified: entry.gzip && clientGzip ? undefined : entry.lastModified,
  });
}
