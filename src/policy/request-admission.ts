// Whether memfront takes a request at all, decided on what Node's parser handed over and
// before any route or cache sees it (contract: "Hostile input"). Pure.
//
// - Host is a host: a reg-name, IPv4 or bracketed IPv6 literal with an optional port of
//   digits, and exactly one Host field (RFC 9112 3.2: "A server MUST respond with a 400 ...
//   to any HTTP/1.1 request message that ... contains more than one Host header field line
//   or a Host header field with an invalid field value"). A Host holding `/` would otherwise
//   put one path's page under another's key.
// - A body where the method defines none: GET, HEAD, OPTIONS, DELETE, TRACE (and CONNECT)
//   with Content-Length > 0 or any Transfer-Encoding are refused. Node writes such a body to
//   the upstream without framing of its own, and whatever it holds would be read there as a
//   second request memfront never saw (request smuggling). A body that belongs is framed by
//   memfront (upstreamFraming).
import type { IncomingHttpHeaders } from 'node:http';

export type Admission = { ok: true } | { ok: false; status: 400; reason: 'bad-host' | 'duplicate-host' | 'request-body' };

const BODYLESS = new Set(['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE', 'CONNECT']);

// RFC 3986 3.2.2: reg-name (unreserved / pct-encoded / sub-delims), IPv4 (a reg-name too) or
// IP-literal; RFC 9110 4.2.3 / 7.2: then `:` and digits. Of the sub-delims, none that could
// end a path or a key field matters to us beyond `/ \ ? # @` and whitespace, which are out.
const HOST = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=%]+|\[[0-9A-Fa-f:.]+\])(?::\d{0,5})?$/;

export function validHost(host: string): boolean {
  return host.length <= 255 && HOST.test(host);
}

export function admitRequest(method: string, headers: IncomingHttpHeaders, rawHeaders: readonly string[]): Admission {
  const host = headers.host;
  // An HTTP/1.0 request may come without Host (Node already refuses an HTTP/1.1 one).
  if (host !== undefined && !validHost(host)) return { ok: false, status: 400, reason: 'bad-host' };
  if (host !== undefined && countField(rawHeaders, 'host') > 1) return { ok: false, status: 400, reason: 'duplicate-host' };
  if (hasBody(headers) && BODYLESS.has(method)) return { ok: false, status: 400, reason: 'request-body' };
  return { ok: true };
}

/** Content-Length above 0, or any Transfer-Encoding (Node refuses the two together). */
export function hasBody(headers: IncomingHttpHeaders): boolean {
  if (headers['transfer-encoding'] !== undefined) return true;
  const cl = headers['content-length'];
  return cl !== undefined && cl !== '0';
}

export type Framing = { kind: 'none' } | { kind: 'length'; length: string } | { kind: 'chunked' };

/**
 * How the request's body is framed upstream: its own Content-Length, or chunked for one that
 * came chunked. Never left to the upstream library's default for the method.
 */
export function upstreamFraming(headers: IncomingHttpHeaders): Framing {
  if (headers['transfer-encoding'] !== undefined) return { kind: 'chunked' };
  const cl = headers['content-length'];
  if (cl !== undefined) return { kind: 'length', length: cl };
  return { kind: 'none' };
}

function countField(raw: readonly string[], lower: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length === lower.length && name.toLowerCase() === lower) n++;
  }
  return n;
}
