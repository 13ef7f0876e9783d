// The stored form of a cached response: a versioned, self-checking binary envelope.
// Layout: "MFE" | version u8 | header length u32be | header JSON | body bytes.
// The header carries a CRC-32 and the length of the body, so a truncated, foreign or
// garbled value is recognised and treated as a miss instead of being served.
import { crc32 } from 'node:zlib';

const MAGIC = Buffer.from('MFE', 'latin1');
export const ENTRY_VERSION = 1;
const PREFIX_BYTES = MAGIC.length + 1 + 4;

export interface EntryMeta {
  status: number;
  /** End-to-end response headers as received, in order, repeated ones kept. */
  headers: Array<[string, string]>;
  storedAt: number;   // ms since epoch
  staleAt: number;    // ms since epoch: fresh until then
  /** The body bytes are gzip (stored compressed, or the backend sent them so). */
  gzip: boolean;
  /** Length of the identity body, when known (always when we compressed it ourselves). */
  identityLength?: number;
  etag?: string;
  lastModified?: string;
  /** Surrogate keys and the generations they had when stored (tag purge). */
  tags?: Record<string, number>;
}

export interface Entry extends EntryMeta {
  body: Buffer;
}

export function encodeEntry(entry: Entry): Buffer {
  const { body, ...meta } = entry;
  const header = Buffer.from(JSON.stringify({ ...meta, bodyLength: body.length, crc: crc32(body) }), 'utf8');
  const prefix = Buffer.allocUnsafe(PREFIX_BYTES);
  MAGIC.copy(prefix, 0);
  prefix.writeUInt8(ENTRY_VERSION, MAGIC.length);
  prefix.writeUInt32BE(header.length, MAGIC.length + 1);
  return Buffer.concat([prefix, header, body]);
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
  const { bodyLength: _l, crc: _c, ...rest } = meta;
  return { ...rest, body };
}

function isMeta(m: unknown): m is EntryMeta & { bodyLength: number; crc: number } {
  if (typeof m !== 'object' || m === null) return false;
  const o = m as Record<string, unknown>;
  return (
    Number.isInteger(o.status) &&
    Array.isArray(o.headers) &&
    o.headers.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === 'string' && typeof h[1] === 'string') &&
    typeof o.storedAt === 'number' &&
    typeof o.staleAt === 'number' &&
    typeof o.gzip === 'boolean' &&
    Number.isInteger(o.bodyLength) &&
    Number.isInteger(o.crc)
  );
}
