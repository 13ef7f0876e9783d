// Content-coding negotiation for stored gzip bodies, and which bodies are worth gzipping.

import { listMembers } from './headers.js';

/**
 * Does the client accept gzip (RFC 9110 12.5.3)? Codings are case-insensitive and `x-gzip`
 * is gzip (RFC 9110 8.4.1.3). An explicit gzip with q=0 refuses, even if `*` would allow it;
 * otherwise `*` with q>0 counts. No header, an empty one, or `identity` alone: identity only
 * (RFC 9110 allows any coding without the header, but curl and friends then get bytes
 * they cannot read).
 */
export function acceptsGzip(acceptEncoding: string | string[] | undefined): boolean {
  let explicit: boolean | null = null;
  let star = false;
  for (const member of listMembers(acceptEncoding)) {
    const [codingPart, ...params] = member.split(';');
    const coding = codingPart.trim().toLowerCase();
    const q = weight(params);
    if (coding === 'gzip' || coding === 'x-gzip') explicit = (explicit ?? true) && q > 0;
    else if (coding === '*') star = q > 0;
  }
  return explicit ?? star;
}

/**
 * The coding a response body is stored in, from its Content-Encoding field lines (as many as
 * came), or null when it may not be stored. Contract ("What is stored can be served"): one
 * with more than one Content-Encoding field, or any coding other than gzip, is not stored;
 * identity counts as none, and x-gzip is gzip (RFC 9110 8.4.1.3). Two fields are refused even
 * when each is fine: a body coded twice is not gzip, and proxies disagree on which one counts.
 */
export function storedCoding(fields: readonly string[]): 'identity' | 'gzip' | null {
  if (fields.length === 0) return 'identity';
  if (fields.length > 1) return null;
  const codings = fields[0]
    .split(',')
    .map((c) => c.trim().toLowerCase())
    .filter((c) => c !== '' && c !== 'identity');
  if (codings.length === 0) return 'identity';
  return codings.length === 1 && (codings[0] === 'gzip' || codings[0] === 'x-gzip') ? 'gzip' : null;
}

/** The q parameter (RFC 9110 12.4.2); absent = 1, unreadable = 0 (refusing is the safe misreading). */
function weight(params: string[]): number {
  for (const p of params) {
    const eq = p.indexOf('=');
    if (eq === -1 || p.slice(0, eq).trim().toLowerCase() !== 'q') continue;
    const q = Number(p.slice(eq + 1).trim());
    return Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0;
  }
  return 1;
}

const COMPRESSIBLE = new Set([
  'application/javascript',
  'application/x-javascript',
  'application/ecmascript',
  'application/json',
  'application/xml',
  'application/x-www-form-urlencoded',
  'application/wasm',
  'application/vnd.ms-fontobject',
  'application/x-font-ttf',
  'application/x-font-otf',
  'application/x-sh',
  'application/graphql',
  'font/ttf',
  'font/otf',
  'font/collection',
  'image/bmp',
  'image/x-icon',
  'image/vnd.microsoft.icon',
  'image/svg+xml',
]);

/** Streams, not documents: gzip would only add latency. */
const NOT_COMPRESSIBLE = new Set(['text/event-stream']);

/**
 * Worth storing gzipped: text, JSON, JavaScript, XML (and any +json/+xml type, e.g. SVG, RSS),
 * uncompressed fonts and icons. Not images, audio, video, archives, woff/woff2 or anything
 * unknown: they are compressed already, and gzip would cost CPU for nothing.
 */
export function isCompressible(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const type = contentType.split(';', 1)[0].trim().toLowerCase();
  if (NOT_COMPRESSIBLE.has(type)) return false;
  if (type.startsWith('text/') && type.length > 5) return true;
  if (COMPRESSIBLE.has(type)) return true;
  return /^[a-z0-9.+-]+\/[a-z0-9.!#$&^_+-]+\+(json|xml)$/.test(type);
}
