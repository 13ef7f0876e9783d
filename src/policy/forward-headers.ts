// Header rewriting between client, memfront and backend: what the backend may see, and which
// backend headers may reach a client or the cache.

import { BlockList, isIP } from 'node:net';
import { ConfigError } from '../errors.js';
import { boundedMemo } from '../memo.js';
import { listMembers, type Headers } from './headers.js';
import { upstreamFraming } from './request-admission.js';

/** RFC 9110 7.6.1: connection-specific fields a proxy must not forward, plus the legacy ones. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Contract: the client's conditional and Range headers are not forwarded for a cacheable miss. */
const CONDITIONALS: ReadonlySet<string> = new Set([
  'if-none-match',
  'if-modified-since',
  'if-match',
  'if-unmodified-since',
  'if-range',
  'range',
]);

/**
 * Client-sent headers no upstream ever sees, from trustedProxies too: frameworks rebuild the
 * URL, scheme, port, host or method from them (Rack, Symfony, Laravel, Express overrides), so
 * each is an input the cache key does not hold: one request would make a page (a redirect
 * loop, a page built for another scheme) that every visitor then gets. A denylist, not an
 * allowlist: the request headers a backend legitimately reads (Accept-Language, a device
 * header set by a front end, X-Requested-With) are many and site-specific, and Vary is how a
 * backend says it read one; these are the ones no client may set at all.
 * Contract: "Forwarded, X-Original-URL, X-Rewrite-URL", "X-Forwarded-Scheme, X-Forwarded-Ssl,
 * X-Forwarded-Port, X-Forwarded-Prefix, X-Forwarded-Server, X-Host, X-HTTP-Method-Override,
 * X-HTTP-Method, X-Method-Override and X-Original-Method", "X-Reproxy-* headers are removed
 * before any route sees the request", and only memfront says X-Proxy-Capabilities.
 */
const CLIENT_FORBIDDEN: ReadonlySet<string> = new Set([
  'forwarded',
  'x-original-url',
  'x-rewrite-url',
  'x-original-method',
  'x-original-host',
  'x-host',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
  'x-proxy-capabilities',
]);

function isClientForbidden(name: string): boolean {
  // Every X-Forwarded-* but the three memfront sets itself (FORWARDING, below).
  return CLIENT_FORBIDDEN.has(name) || name.startsWith('x-reproxy-') || (name.startsWith('x-forwarded-') && !FORWARDING.has(name));
}

/** Set by memfront itself below, from the peer or from a trusted proxy. */
const FORWARDING: ReadonlySet<string> = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host']);

/**
 * A predicate over peer addresses for a list of CIDRs (`10.0.0.0/8`, `::1/128`, or a bare
 * address). IPv4-mapped IPv6 peers (`::ffff:10.1.2.3`, as Node reports them on a dual-stack
 * socket) match IPv4 ranges. A bad entry throws a ConfigError naming it.
 */
export function compileCidrs(cidrs: string[]): (ip: string) => boolean {
  // The common case (no trusted proxies) costs nothing per request.
  if (cidrs.length === 0) return () => false;
  const list = new BlockList();
  for (const cidr of cidrs) {
    const m = /^([^/]+?)(?:\/(\d{1,3}))?$/.exec(cidr.trim());
    const family = m ? isIP(m[1]) : 0;
    if (!m || family === 0) throw new ConfigError(`invalid CIDR "${cidr}"`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    const max = family === 4 ? 32 : 128;
    const prefix = m[2] === undefined ? max : Number(m[2]);
    if (prefix > max) throw new ConfigError(`invalid CIDR "${cidr}": prefix above /${max}`);
    try {
      list.addSubnet(m[1], prefix, type);
    } catch (cause) {
      throw new ConfigError(`invalid CIDR "${cidr}"`, { cause });
    }
  }
  // Peers are few (load balancers, the proxies in front): BlockList.check builds a
  // SocketAddress per call, so each peer's verdict is kept.
  return boundedMemo(matches, 1024);

  function matches(ip: string): boolean {
    const addr = stripZone(ip);
    const family = isIP(addr);
    if (family === 0) return false;
    if (list.check(addr, family === 4 ? 'ipv4' : 'ipv6')) return true;
    // Either spelling of a mapped address matches either kind of rule.
    const v4 = unmapIPv4(addr);
    return v4 !== addr && list.check(v4, 'ipv4');
  }
}

/** `::ffff:1.2.3.4` → `1.2.3.4`, so the backend sees the address the client has. */
export function unmapIPv4(ip: string): string {
  const m = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  return m ? m[1] : ip;
}

function stripZone(ip: string): string {
  const pct = ip.indexOf('%');
  return pct === -1 ? ip : ip.slice(0, pct);
}

export interface ForwardContext {
  peerIp: string;
  /** the peer is in trustedProxies */
  trusted: boolean;
  scheme: 'http' | 'https';
  /** the Host the client asked for */
  host: string;
  /** a cacheable miss: fetch the whole response, apply the client's conditions afterwards */
  stripConditionals: boolean;
  /** reproxy.enabled */
  reproxyCapable: boolean;
}

const NONE: ReadonlySet<string> = new Set();

/** The fields a Connection header names, lower-cased; never Host. */
function connectionNamed(value: string | string[]): ReadonlySet<string> {
  const named = new Set(listMembers(value).map((n) => n.toLowerCase()));
  named.delete('host');
  return named;
}

// Peers are few: the last one's spelling for the backend is kept (a regex per request otherwise).
let lastPeerIp = '';
let lastPeer = '';
function backendPeer(ip: string): string {
  if (ip !== lastPeerIp) {
    lastPeer = unmapIPv4(stripZone(ip));
    lastPeerIp = ip;
  }
  return lastPeer;
}

/** The headers of the request memfront sends to the backend (contract: "What the backend sees"). */
export function backendRequestHeaders(headers: Headers, ctx: ForwardContext): Record<string, string | string[]> {
  // RFC 9110 7.6.1: a proxy removes every field the Connection header names. Host stays:
  // the backend needs it to pick the site, and "Connection: host" is an attack, not a hop.
  // Per forwarded request (every logged-in one): no Set unless the client named fields.
  const named = headers['connection'] === undefined ? NONE : connectionNamed(headers['connection']);

  const out: Record<string, string | string[]> = {};
  for (const rawName in headers) {
    const value = headers[rawName];
    if (value === undefined) continue;
    const name = rawName.toLowerCase();
    if (HOP_BY_HOP.has(name) || named.has(name) || isClientForbidden(name) || FORWARDING.has(name)) continue;
    if (ctx.stripConditionals && CONDITIONALS.has(name)) continue;
    out[name] = Array.isArray(value) ? [...value] : value;
  }
  if (out['host'] === undefined && ctx.host !== '') out['host'] = ctx.host;
  // A body that came chunked goes on chunked, framed by us (request-admission.ts): Node
  // frames a body itself only for some methods, and never one whose framing we removed.
  if (upstreamFraming(headers).kind === 'chunked') {
    delete out['content-length'];
    out['transfer-encoding'] = 'chunked';
  }

  // Contract: X-Forwarded-For is "the client address, appended to an incoming value only when
  // the peer is in trustedProxies"; X-Forwarded-Proto/-Host replace client-sent ones unless trusted.
  // A forwarded-hop header named in Connection was meant for this hop only, so it is not kept.
  const incoming = (name: string): string | undefined => {
    if (!ctx.trusted || named.has(name)) return undefined;
    const v = listMembers(headers[name]).join(', ');
    return v === '' ? undefined : v;
  };
  const peer = backendPeer(ctx.peerIp);
  const xff = incoming('x-forwarded-for');
  out['x-forwarded-for'] = xff === undefined ? peer : `${xff}, ${peer}`;
  out['x-forwarded-proto'] = incoming('x-forwarded-proto') ?? ctx.scheme;
  out['x-forwarded-host'] = incoming('x-forwarded-host') ?? ctx.host;

  // Contract: "The proxy adds X-Proxy-Capabilities: reproxy-file when reproxy.enabled."
  if (ctx.reproxyCapable) out['x-proxy-capabilities'] = 'reproxy-file';
  return out;
}

/** Backend headers meant for memfront alone: reproxy instructions and purge tags. */
function isBackendPrivate(name: string): boolean {
  // Contract: Surrogate-Key and Cache-Tag tag the entry; "neither header is ever sent to a client".
  // RFC 9213 (CDN-Cache-Control) and Surrogate-Control: memfront's own directives; the
  // contract: "Neither reaches a client from a hit or a miss".
  return name.startsWith('x-reproxy-') || name === 'surrogate-key' || name === 'cache-tag' || name === 'cdn-cache-control' || name === 'surrogate-control';
}

/**
 * End-to-end headers from a backend response's rawHeaders ([name, value, name, value, ...]),
 * in order, with their original case and repetitions (two Set-Cookie stay two), minus
 * hop-by-hop fields, those named in Connection (RFC 9110 7.6.1) and memfront's private ones.
 * Stored "byte for byte" (contract), so case and order survive a round trip through the cache.
 */
export function responseHeadersFromRaw(rawHeaders: string[]): Array<[string, string]> {
  // Every forwarded answer passes here: each name is lowered once, and a set of the names
  // Connection lists is made only for an answer that has the field.
  const lowers = new Array<string>(rawHeaders.length >> 1);
  let named: Set<string> | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = (lowers[i >> 1] = rawHeaders[i].toLowerCase());
    if (lower === 'connection') {
      for (const n of listMembers(rawHeaders[i + 1])) (named ??= new Set()).add(n.toLowerCase());
    }
  }
  const out: Array<[string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = lowers[i >> 1];
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || isBackendPrivate(lower)) continue;
    out.push([rawHeaders[i], rawHeaders[i + 1]]);
  }
  return out;
}
