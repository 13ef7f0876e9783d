// What a backend may ask of memfront with X-Reproxy-* headers, and what memfront agrees to
// do: which URLs are tried, which are refused before any connection, which answers are
// taken, and which headers the client sees. Pure: no I/O, no clock.
//
// The headers, after Perlbal and Apache's mod_reproxy:
//   X-Reproxy-URL: URL [URL ...]          try each in turn until one answers 2xx
//   X-Reproxy-Service: NAME               try reproxy.services.NAME with the request's path
//   X-Reproxy-Expected-Size: BYTES        skip a target whose size differs
//   X-Reproxy-Cache-For: SECONDS; H1 H2   remember the URLs (and H1, H2) for Host+URI

import { HOP_BY_HOP } from './forward-headers.js';
import type { Headers } from './headers.js';

/** Limits on what one backend answer can make memfront do. */
export const REPROXY_LIMITS = Object.freeze({
  /** Longer X-Reproxy-URL values are refused whole (502): no real list needs more. */
  maxHeaderLength: 8192,
  /** URLs tried per request; the rest of a longer list is ignored. */
  maxUrls: 10,
  /** X-Reproxy-Cache-For: headers remembered per entry. */
  maxCacheForHeaders: 16,
});

export type Limits = typeof REPROXY_LIMITS;

/** A URL memfront agreed to fetch: connect to `origin`, ask for `path` (pass both on as they are). */
export interface Target {
  origin: string;
  /** Path and query, starting with '/'. */
  path: string;
  /** The URL as text, for logs and messages. */
  href: string;
}

export type Refusal = 'invalid-url' | 'scheme' | 'userinfo' | 'host-not-allowed';
export type TargetCheck = { ok: true; target: Target } | { ok: false; reason: Refusal };

export type UrlList = { ok: true; urls: string[]; ignored: number } | { ok: false; reason: 'too-long' | 'empty' };

/** X-Reproxy-URL: one or more whitespace-separated absolute URLs, at most `maxUrls` tried. */
export function parseUrlList(value: string | undefined, limits: Limits = REPROXY_LIMITS): UrlList {
  if (value === undefined) return { ok: false, reason: 'empty' };
  // Refused whole rather than cut: a cut list could end in half a URL.
  if (value.length > limits.maxHeaderLength) return { ok: false, reason: 'too-long' };
  const all = value.split(/\s+/).filter((u) => u !== '');
  if (all.length === 0) return { ok: false, reason: 'empty' };
  return { ok: true, urls: all.slice(0, limits.maxUrls), ignored: Math.max(0, all.length - limits.maxUrls) };
}

/** Host names are compared as the URL parser spells them: lower case, IPv6 without brackets. */
function normalHost(host: string): string {
  const h = host.trim().toLowerCase();
  return h.startsWith('[') && h.endsWith(']') ? h.slice(1, -1) : h;
}

/** reproxy.allowedHosts as a predicate over a URL's host name (exact names; nothing is resolved). */
export function compileAllowedHosts(hosts: readonly string[]): (hostname: string) => boolean {
  const set = new Set(hosts.map(normalHost));
  return (hostname) => set.has(normalHost(hostname));
}

export interface CheckOptions {
  allowedHost: (hostname: string) => boolean;
  /** Origins trusted without allowedHosts (a reproxy route's literal URL, written by the operator). */
  trustedOrigins?: ReadonlySet<string>;
}

/**
 * Contract: "A URL whose host is not in reproxy.allowedHosts, or whose scheme is not
 * http/https, is never fetched". The URL is parsed once, here, and the fetcher is handed
 * the parsed origin and path, so what was checked is exactly what is connected to.
 */
export function checkTarget(raw: string, o: CheckOptions): TargetCheck {
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return { ok: false, reason: 'invalid-url' };
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return { ok: false, reason: 'scheme' };
  // `http://allowed.example@evil.example/` names evil.example: anything with userinfo is
  // refused outright, since a reader (or a log) may take the wrong part for the host.
  if (u.username !== '' || u.password !== '' || rawAuthority(raw).includes('@')) {
    return { ok: false, reason: 'userinfo' };
  }
  if (!(o.trustedOrigins?.has(u.origin) || o.allowedHost(u.hostname))) return { ok: false, reason: 'host-not-allowed' };
  return { ok: true, target: { origin: u.origin, path: `${u.pathname}${u.search}`, href: u.href } };
}

/** The text between `scheme://` and the path, as written (an empty `@` leaves no username). */
function rawAuthority(raw: string): string {
  const m = /^[a-z][a-z0-9+.-]*:[/\\]*([^/?#\\]*)/i.exec(raw.trim());
  return m ? m[1] : '';
}

/**
 * reproxy.services.NAME: each server asked for the request's own path and query. The
 * servers are the operator's, so no allowedHosts check; a server URL with a path is a prefix.
 */
export function serviceTargets(servers: readonly string[], pathAndQuery: string): Target[] {
  return servers.map((s) => {
    const u = new URL(s);
    const prefix = u.pathname.replace(/\/+$/, '');
    const path = `${prefix}${pathAndQuery}`;
    return { origin: u.origin, path, href: `${u.origin}${path}` };
  });
}

/** X-Reproxy-Expected-Size: a byte count, or nothing to check. */
export function parseExpectedSize(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

export interface CacheFor {
  seconds: number;
  /** Header names whose values (from the backend's answer) are remembered with the URLs. */
  headers: string[];
}

/** X-Reproxy-Cache-For: `SECONDS` or `SECONDS; Header Header ...` (Perlbal's format). */
export function parseCacheFor(value: string | undefined, limits: Limits = REPROXY_LIMITS): CacheFor | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d{1,9})\s*(?:;\s*(.*))?$/.exec(value);
  if (!m) return undefined;
  const seconds = Number(m[1]);
  if (seconds === 0) return undefined;
  const headers = (m[2] ?? '')
    .split(/[\s,]+/)
    .filter((h) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(h))
    .slice(0, limits.maxCacheForHeaders);
  return { seconds, headers };
}

export type Verdict = { take: true } | { take: false; reason: 'status' | 'size-mismatch' };

/**
 * Is this target's answer the one to send? Contract: "each URL is fetched in turn until one
 * answers 2xx". A 416 is final too (Perlbal passes it on: the file is there, the Range is
 * not). With X-Reproxy-Expected-Size, a target holding a file of another size is skipped
 * (a stale replica): its size is Content-Length, or the total of Content-Range for a part.
 */
export function judgeAnswer(status: number, headers: Headers, expectedSize: number | undefined): Verdict {
  const final = (status >= 200 && status < 300) || status === 416;
  if (!final) return { take: false, reason: 'status' };
  if (expectedSize === undefined) return { take: true };
  const size = status === 206 || status === 416 ? rangeTotal(headers['content-range']) : contentLength(headers['content-length']);
  // A 416 without a total says nothing about the size: nothing to compare.
  if (status === 416 && size === undefined) return { take: true };
  return size === expectedSize ? { take: true } : { take: false, reason: 'size-mismatch' };
}

function single(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? (v.length === 1 ? v[0] : undefined) : v;
}

function contentLength(v: string | string[] | undefined): number | undefined {
  const s = single(v);
  return s !== undefined && /^\s*\d{1,15}\s*$/.test(s) ? Number(s) : undefined;
}

function rangeTotal(v: string | string[] | undefined): number | undefined {
  const m = /\/\s*(\d{1,15})\s*$/.exec(single(v) ?? '');
  return m ? Number(m[1]) : undefined;
}

/** Request headers a reproxy target may see; never the client's cookies or credentials. */
const TO_TARGET = ['user-agent', 'accept', 'accept-language', 'accept-encoding', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id'];

export interface TargetRequestInput {
  /** The client's own request headers (for Range). */
  client: Headers;
  /** What the backend was sent (memfront's X-Forwarded-*, normalised Accept-Encoding). */
  forwarded: Record<string, string | string[]>;
  /** Carry the client's Range and If-Range (the client's own method is being used). */
  range: boolean;
}

/**
 * What Perlbal sends a reproxy target: the client's Host (storage and static servers
 * often pick the site by it) and Range; not its cookies or Authorization, which are for
 * the backend alone. No conditionals either: a 304 is not an answer memfront could send on.
 */
export function targetRequestHeaders(i: TargetRequestInput): Record<string, string> {
  const out: Record<string, string> = {};
  // No Host: the fetcher sends the target URL's own. Contract: reproxied, static and MogileFS
  // storage requests "carry the Host of the URL they are sent to, never the client's" (a
  // client must not pick an internal virtual host).
  for (const name of TO_TARGET) {
    const v = i.forwarded[name];
    if (v !== undefined) out[name] = Array.isArray(v) ? v.join(', ') : v;
  }
  if (i.range) {
    const range = single(i.client['range']);
    if (range !== undefined) {
      out['range'] = range;
      const ifRange = single(i.client['if-range']);
      if (ifRange !== undefined) out['if-range'] = ifRange;
    }
  }
  return out;
}

/** Headers that describe the body bytes on the wire: always the reproxied response's own. */
const BODY_FRAMING: ReadonlySet<string> = new Set(['content-length', 'content-range', 'content-encoding', 'transfer-encoding']);

/** reproxy.preserveHeaders as a lower-cased set, without the framing headers nobody may borrow. */
export function compilePreserve(names: readonly string[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const n of names) {
    const lower = n.toLowerCase();
    if (!BODY_FRAMING.has(lower) && !HOP_BY_HOP.has(lower)) out.add(lower);
  }
  return out;
}

/**
 * The client's headers for a reproxied answer (rawHeaders layout). Contract: "Headers named
 * in reproxy.preserveHeaders are kept from the backend's response, the rest come from the
 * reproxied one." A preserved header the backend did not send is taken from the target.
 */
export function mergeHeaders(backendRaw: readonly string[], targetRaw: readonly string[], preserve: ReadonlySet<string>): string[] {
  const fromBackend: string[] = [];
  const sent = new Set<string>();
  for (let i = 0; i + 1 < backendRaw.length; i += 2) {
    const lower = backendRaw[i].toLowerCase();
    if (!preserve.has(lower)) continue;
    sent.add(lower);
    fromBackend.push(backendRaw[i], backendRaw[i + 1]);
  }
  const out: string[] = [];
  for (let i = 0; i + 1 < targetRaw.length; i += 2) {
    if (sent.has(targetRaw[i].toLowerCase())) continue;
    out.push(targetRaw[i], targetRaw[i + 1]);
  }
  return out.concat(fromBackend);
}

/** The headers named by X-Reproxy-Cache-For, from the backend's answer (rawHeaders layout). */
export function pickHeaders(raw: readonly string[], names: readonly string[]): string[] {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    if (wanted.has(raw[i].toLowerCase())) out.push(raw[i], raw[i + 1]);
  }
  return out;
}

/** What a backend answer asks of memfront, read from its headers. */
export type Instruction =
  | { kind: 'none' }
  | { kind: 'urls'; list: UrlList; expectedSize?: number; cacheFor?: CacheFor }
  | { kind: 'service'; name: string; expectedSize?: number };

export function readInstruction(headers: (name: string) => string | undefined, limits: Limits = REPROXY_LIMITS): Instruction {
  const url = headers('x-reproxy-url');
  const expectedSize = parseExpectedSize(headers('x-reproxy-expected-size'));
  // Perlbal looks at the URL list first: with both, the URLs win.
  if (url !== undefined) return { kind: 'urls', list: parseUrlList(url, limits), expectedSize, cacheFor: parseCacheFor(headers('x-reproxy-cache-for'), limits) };
  const service = headers('x-reproxy-service');
  if (service !== undefined) return { kind: 'service', name: service.trim(), expectedSize };
  return { kind: 'none' };
}
