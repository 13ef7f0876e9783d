// Conditional requests and Range, applied to a stored entry (RFC 9110 13 and 14).

import { firstValue, joinList, type Headers } from './headers.js';
import { parseHttpDate } from './http-date.js';

export interface Validators {
  etag?: string;
  lastModified?: string;
}

/**
 * 304 when the client's copy is current, else null (serve the entry). Only for GET/HEAD,
 * which is all that reaches a stored entry.
 */
export function conditionalStatus(validators: Validators, reqHeaders: Headers): 304 | null {
  const inm = joinList(reqHeaders['if-none-match']);
  // RFC 9110 13.2.2 step 3: with If-None-Match present, If-Modified-Since is not evaluated.
  if (inm !== undefined && inm.trim() !== '') {
    // RFC 9110 13.1.2: "*" is false when a current representation exists — we hold one.
    if (inm.trim() === '*') return 304;
    // RFC 9110 13.1.2: "A recipient MUST use the weak comparison function".
    if (validators.etag === undefined) return null;
    const ours = opaqueTag(validators.etag.trim());
    if (ours === null) return null;
    return parseEntityTags(inm).includes(ours) ? 304 : null;
  }

  // RFC 9110 13.1.3: IMS applies to GET/HEAD when the field value is a valid HTTP-date
  // ("A recipient MUST ignore ... if the received field value is not a valid HTTP-date,
  // or if the field value has more than one member"); dates have one-second precision.
  const imsValue = reqHeaders['if-modified-since'];
  if (imsValue === undefined || (Array.isArray(imsValue) && imsValue.length !== 1)) return null;
  const ims = parseHttpDate(firstValue(imsValue));
  const lm = parseHttpDate(validators.lastModified);
  if (ims === null || lm === null) return null;
  return Math.floor(lm / 1000) <= Math.floor(ims / 1000) ? 304 : null;
}

/** Opaque parts of the entity-tags in a list (commas may sit inside a tag: etagc allows them). */
function parseEntityTags(list: string): string[] {
  const tags: string[] = [];
  for (const m of list.matchAll(/(?:W\/)?"([^"]*)"/g)) tags.push(m[1]);
  return tags;
}

/** Weak comparison ignores the W/ prefix (RFC 9110 8.8.3.2). */
function opaqueTag(etag: string): string | null {
  const m = /^(?:W\/)?"([^"]*)"$/.exec(etag);
  return m ? m[1] : null;
}

/**
 * Contract ("Representations and validators"): when memfront changes a body's coding (gzips
 * what came identity, or inflates what came gzip) the answer's ETag is weak, so that a strong
 * ETag always names one byte sequence (RFC 9110 8.8.1: a strong validator changes with every
 * change to the representation data, and a content coding is one).
 */
export function weakened(etag: string): string {
  return etag.startsWith('W/') ? etag : `W/${etag}`;
}

/**
 * May a Range be answered with a part of the representation whose validators are `current`
 * (RFC 9110 13.1.5)? True without If-Range. With one, only when it names exactly this
 * representation: an entity-tag by the strong comparison (RFC 9110 8.8.3.2: both strong, the
 * same opaque tag; a weak tag never matches), or an HTTP-date exactly equal to its
 * Last-Modified. Anything else, malformed or repeated included, means "send it all" (200):
 * splicing the bytes of two versions is the one answer that must never happen.
 * The caller leaves `lastModified` out when a date cannot tell which representation the
 * client holds (two codings share one Last-Modified).
 */
export function ifRangeHolds(ifRange: string | string[] | undefined, current: Validators): boolean {
  if (ifRange === undefined) return true;
  if (Array.isArray(ifRange)) {
    if (ifRange.length !== 1) return false;
    ifRange = ifRange[0];
  }
  const v = ifRange.trim();
  if (v.startsWith('"') || v.startsWith('W/')) {
    if (!/^"[^"]*"$/.test(v) || current.etag === undefined) return false;
    return current.etag.trim() === v;
  }
  const date = parseHttpDate(v);
  const lm = parseHttpDate(current.lastModified);
  return date !== null && lm !== null && date === lm;
}

export type RangeResult = { start: number; end: number } | 'unsatisfiable' | null;

/**
 * One byte range of a representation of `length` bytes, inclusive (RFC 9110 14.1.2).
 * null means "ignore Range, send the whole 200": absent, malformed, another unit, or several
 * ranges (RFC 9110 14.2: a server MAY ignore Range; we do not build multipart/byteranges).
 * 'unsatisfiable' (416) when the first position is past the end or a suffix is zero (14.1.3).
 */
export function parseRange(range: string | undefined, length: number): RangeResult {
  if (range === undefined) return null;
  const eq = range.indexOf('=');
  if (eq === -1) return null;
  // RFC 9110 14.1: range units are case-insensitive.
  if (range.slice(0, eq).trim().toLowerCase() !== 'bytes') return null;
  const specs = range.slice(eq + 1).split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return null;
  const m = /^(\d*)\s*-\s*(\d*)$/.exec(specs[0]);
  if (!m || (m[1] === '' && m[2] === '')) return null;

  if (m[1] === '') {
    // suffix-range: the last N bytes; "-0" is never satisfiable.
    const n = Number(m[2]);
    if (n === 0) return 'unsatisfiable';
    // A zero-length representation has no bytes to give: send it whole.
    if (length === 0) return null;
    return { start: Math.max(0, length - n), end: length - 1 };
  }
  const start = Number(m[1]);
  const last = m[2] === '' ? Infinity : Number(m[2]);
  // RFC 9110 14.1.1: last-pos < first-pos makes the ranges-specifier invalid: ignore it.
  if (last < start) return null;
  if (start >= length) return 'unsatisfiable';
  return { start, end: Math.min(last, length - 1) };
}
