// The stored form of a cached response: a versioned, self-checking binary envelope.
// Layout: "MFE" | version u8 | header length u32be | header JSON | body bytes.
// The header carries a CRC-32 and the length of the body, so a truncated, foreign or
// garbled value is recognised and treated as a miss instead of being served.
//
// Version 2 (this one) adds what version 1 never had: the generations of the entry's tags
// and Host (tag purge, purge-all), and index items whose body lives in chunks
// (chunked-entry.ts). A version 1 entry could not be purged by tag or Host, and a
// version 1 reader would serve an index item as an empty page, hence the new version.
//
// Version 3 (this one): a gzip entry always says how long it inflates to (`identityLength`,
// found by inflating it once, within cache.maxObjectSize, before it was stored), and whether
// memfront gzipped it (`gzippedHere`: answers in the coding it did not come in get a weak
// ETag). A version 2 gzip body from the backend was never checked to inflate at all.
//
// Decoding also refuses what Node would refuse to send (a status outside 200-599, a header
// name that is not a token, a value with CR, LF or NUL): such an entry can only have been
// planted, and it is a miss like any other unreadable one, never a 500.
import { crc32 } from 'node:zlib';
import { isChunkIndex, type ChunkIndex } from './chunked-entry.js';
import type { StaleRule } from '../policy/freshness.js';

const MAGIC = Buffer.from('MFE', 'latin1');
export const ENTRY_VERSION = 3;
const PREFIX_BYTES = MAGIC.length + 1 + 4;

export interface EntryMeta {
  status: number;
  /** End-to-end response headers as received, in order, repeated ones kept. */
  headers: Array<[string, string]>;
  storedAt: number;   // ms since epoch
  staleAt: number;    // ms since epoch: fresh until then
  /** The body bytes are gzip (stored compressed, or the backend sent them so). */
  gzip: boolean;
  /** Length of the identity body: always set on a gzip entry (checked before it was stored). */
  identityLength?: number;
  /** memfront gzipped this body (it came identity); absent or false: it is stored as it came. */
  gzippedHere?: boolean;
  /**
   * The zlib level memfront gzipped it at (hot-gzip.ts gzips a hot page again, harder).
   * Absent: not gzipped here, or by a memfront that did not say (an older reader ignores it).
   */
  gzipLevel?: number;
  etag?: string;
  lastModified?: string;
  /**
   * How old the response already was when stored (RFC 9111 corrected_initial_age, seconds):
   * the Age sent is this plus the time since storedAt. Absent (older entries): 0. Optional
   * fields keep version 2: an older reader ignores them, a newer one reads their absence.
   */
  initialAge?: number;
  /** What the response said about serving it stale (freshness.ts); absent: the configured windows. */
  stale?: StaleRule;
  /**
   * Generation counters (their cache keys: the Host's and one per tag) and the values they
   * had when the entry was stored (tags.ts): once any has moved, the entry was purged.
   */
  tags?: Record<string, number>;
  /** Set on an index item: the body is not in this value but in these chunks. */
  chunks?: ChunkIndex;
}

export interface Entry extends EntryMeta {
  /** The body; empty on an index item (see `chunks` and `readChunk`). */
  body: Buffer;
  /**
   * On an index item read from the cache: reads chunk `i`, checked against the index;
   * rejects with EntryGone when it is missing or not intact. Never stored.
   */
  readChunk?: (i: number) => Promise<Buffer>;
  /**
   * On an entry read from the cache: deletes it there (and from L1) once it turns out
   * unreadable past decoding (its gzip does not inflate as it says). Never stored.
   */
  discard?: () => void;
}

/**
 * The entry with every property present, in one order (absent ones undefined). The hit path
 * reads the entries of every URL at the same places; entries built by spreads and optional
 * fields came in as many hidden classes as there were URLs, and those reads went megamorphic
 * (V8's --log-ic showed ~90 maps at deliver.ts's reads for 100 URLs). Every Entry that can
 * reach L1 is made here.
 */
export function entryOf(e: Entry): Entry {
  return {
    status: e.status,
    headers: e.headers,
    storedAt: e.storedAt,
    staleAt: e.staleAt,
    gzip: e.gzip,
    identityLength: e.identityLength,
    gzippedHere: e.gzippedHere,
    gzipLevel: e.gzipLevel,
    etag: e.etag,
    lastModified: e.lastModified,
    initialAge: e.initialAge,
    stale: e.stale,
    tags: e.tags,
    chunks: e.chunks,
    body: e.body,
    readChunk: e.readChunk,
    discard: e.discard,
  };
}

export function encodeEntry(entry: Entry): Buffer {
  const { body, readChunk: _reader, discard: _discard, ...meta } = entry;
  const header = Buffer.from(JSON.stringify({ ...meta, bodyLength: body.length, crc: crc32(body) }), 'utf8');
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(ENTRY_VERSION, MAGIC.length);
  prefix.writeUInt32BE(header.length, MAGIC.length + 1);
  return Buffer.concat([prefix, header, body]);
}

/** A memfront entry of an older version: not corrupt, just not ours to read (a miss). */
export function isOlderEntry(value: Buffer | null | undefined): boolean {
  if (!value || value.length < PREFIX_BYTES) return false;
  if (value.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return false;
  return value.readUInt8(MAGIC.length) < ENTRY_VERSION;
}

/** A memfront entry of a newer version (a rolling upgrade): not ours to read, nor to delete. */
export function isNewerEntry(value: Buffer | null | undefined): boolean {
  if (!value || value.length < PREFIX_BYTES) return false;
  if (value.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return false;
  return value.readUInt8(MAGIC.length) > ENTRY_VERSION;
}

/** The entry, or null for anything that is not a whole, intact entry of this version. */
export function decodeEntry(value: Buffer | null | undefined): Entry | null {
  if (!value || value.length < PREFIX_BYTES) return null;
  if (value.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) !== 0) return null;
  if (value.readUInt8(MAGIC.length) !== ENTRY_VERSION) return null;
  const headerLength = value.readUInt32BE(MAGIC.length + 1);
  const bodyStart = PREFIX_BYTES + headerLength;
  if (bodyStart > value.length) return null;
  let meta: EntryMeta & { bodyLength: number; crc: number };
  try {
    meta = JSON.parse(value.toString('utf8', PREFIX_BYTES, bodyStart));
  } catch {
    return null;
  }
  if (!isMeta(meta)) return null;
  const body = value.subarray(bodyStart);
  if (body.length !== meta.bodyLength || crc32(body) !== meta.crc) return null;
  return entryOf({ ...meta, body });
}

function isMeta(m: unknown): m is EntryMeta & { bodyLength: number; crc: number } {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  return (
    Number.isInteger(o.status) &&
    (o.status as number) >= 200 &&
    (o.status as number) <= 599 &&
    Array.isArray(o.headers) &&
    o.headers.every((h) => Array.isArray(h) && h.length === 2 && isFieldName(h[0]) && isFieldValue(h[1])) &&
    typeof o.storedAt === 'number' &&
    typeof o.staleAt === 'number' &&
    typeof o.gzip === 'boolean' &&
    (o.gzippedHere === undefined || typeof o.gzippedHere === 'boolean') &&
    (o.gzipLevel === undefined || (Number.isInteger(o.gzipLevel) && (o.gzipLevel as number) >= 1 && (o.gzipLevel as number) <= 9)) &&
    // A gzip body's inflated length bounds every inflate of it: without one it is not ours.
    (o.identityLength === undefined ? !o.gzip : Number.isSafeInteger(o.identityLength) && (o.identityLength as number) >= 0) &&
    // Sent upstream in revalidations (If-None-Match, If-Modified-Since).
    (o.etag === undefined || isFieldValue(o.etag)) &&
    (o.lastModified === undefined || isFieldValue(o.lastModified)) &&
    Number.isInteger(o.bodyLength) &&
    Number.isInteger(o.crc) &&
    (o.tags === undefined || isGenerations(o.tags)) &&
    (o.initialAge === undefined || (Number.isInteger(o.initialAge) && (o.initialAge as number) >= 0)) &&
    (o.stale === undefined || isStaleRule(o.stale)) &&
    // An index item has no body of its own: its bytes are all in the chunks.
    (o.chunks === undefined || (isChunkIndex(o.chunks) && o.bodyLength === 0))
  );
}

function isGenerations(t: unknown): t is Record<string, number> {
  return typeof t === 'object' && t !== null && !Array.isArray(t) && Object.values(t).every((v) => Number.isInteger(v) && v >= 0);
}

// Node's own checks (checkIsHttpToken, checkInvalidHeaderChar in _http_common): writeHead
// throws on a name or value that fails them.
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
const INVALID_VALUE_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

export function isFieldName(v: unknown): boolean {
  return typeof v === 'string' && TOKEN.test(v);
}

export function isFieldValue(v: unknown): boolean {
  return typeof v === 'string' && !INVALID_VALUE_CHAR.test(v);
}

function isStaleRule(r: unknown): r is StaleRule {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return false;
  const o = r as Record<string, unknown>;
  const seconds = (v: unknown) => v === undefined || (Number.isInteger(v) && (v as number) >= 0);
  return (o.forbid === undefined || o.forbid === 'must-revalidate' || o.forbid === 'proxy-revalidate' || o.forbid === 's-maxage') && seconds(o.swr) && seconds(o.sie);
}
