// Cache keys: one entry per method class, scheme, host, path and meaningful query,
// hashed so any URL fits memcached's key rules (<= 250 bytes, no whitespace or control bytes).

import { createHash } from 'node:crypto';

/** Bump when the key material changes, so old entries are simply never found again. */
export const KEY_VERSION = 'p2';
/** The version of tag-generation keys (see tagKey). */
export const TAG_KEY_VERSION = 't1';

export interface KeyRequest {
  method: string;
  scheme: string;
  host: string;
  url: string;
}

export interface KeyOptions {
  keyPrefix: string;
  ignoreQueryParam: (name: string) => boolean;
}

/**
 * Contract: "Keys are built from the method class, scheme, host, path and the query with
 * ignoreQueryParams removed and the rest sorted. Any key fits memcached's limits."
 * The fields are joined with a line feed, which none of them can hold (Node's parser refuses
 * it in a request target and in a header value): no two different (host, path, query) share
 * material, whatever a Host holds (a `Host: site/foo` with `/bar` is not `/foo/bar`).
 */
export function cacheKey(req: KeyRequest, opts: KeyOptions): string {
  const scheme = req.scheme.toLowerCase();
  return keyOf(req.method, scheme, req.host, normalizeUrl(req.url, opts.ignoreQueryParam), opts.keyPrefix);
}

/** The key of an already normalised path and query (normalizeUrl). */
export function keyOf(method: string, scheme: string, host: string, normalizedUrl: string, keyPrefix: string): string {
  const material = `${methodClass(method)}\n${scheme}\n${normalizeHost(host, scheme)}\n${normalizedUrl}`;
  return `${keyPrefix}${KEY_VERSION}:${digest(material)}`;
}

/**
 * The key of a tag's generation counter for one host (contract: tags purge "every entry of
 * that Host"). The host is lower-cased and a default port dropped, as in cache keys.
 */
export function tagKey(prefix: string, host: string, tag: string): string {
  const h = host.toLowerCase().replace(/:(80|443)?$/, '');
  return `${prefix}${TAG_KEY_VERSION}:${digest(`${h} ${tag}`)}`;
}

/**
 * GET and HEAD share entries (a HEAD is answered from the GET's headers), and PURGE
 * addresses them ("the key is normalised as for GET"); other methods never use the cache.
 */
export function methodClass(method: string): string {
  return method === 'HEAD' || method === 'PURGE' ? 'GET' : method;
}

/** Host names are case-insensitive and a default port names the same origin (RFC 9110 4.2.3). */
export function normalizeHost(host: string, scheme: string): string {
  const h = host.trim().toLowerCase();
  const m = /^(.*):(\d*)$/.exec(h);
  // Only a trailing port after the host part: "[::1]" alone has colons but no port.
  if (!m || (m[1].includes(':') && !m[1].startsWith('['))) return h;
  const port = m[2];
  const isDefault = port === '' || (scheme === 'http' && port === '80') || (scheme === 'https' && port === '443');
  return isDefault ? m[1] : h;
}

/**
 * Path plus normalised query: the key's material and, for a request that uses the cache, the
 * target sent upstream (so a parameter left out of the key never reaches the backend). The
 * path is kept byte for byte as sent; the query loses ignored parameters and empty pieces and
 * is sorted by name only, so `a=1&b=2` and `b=2&a=1` share one entry while repeated names
 * keep their order (`id=2&id=1` is not `id=1&id=2`: PHP takes the last, Express an array).
 * Only `&` separates pieces, so `utm_source=x;lang=evil` is one ignored piece and goes whole.
 * Pieces keep their encoding as sent.
 */
export function normalizeUrl(url: string, ignoreQueryParam: (name: string) => boolean): string {
  // A fragment is never part of the target (RFC 9110 7.1); absolute-form carries its own authority.
  let rest = url.split('#', 1)[0];
  const abs = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?]*/.exec(rest);
  if (abs) rest = rest.slice(abs[0].length);
  const q = rest.indexOf('?');
  let path = q === -1 ? rest : rest.slice(0, q);
  if (path === '') path = '/';
  if (q === -1) return path;

  const pieces = rest
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      return { name: eq === -1 ? p : p.slice(0, eq), value: eq === -1 ? null : p.slice(eq + 1), raw: p };
    })
    .filter((p) => !ignoreQueryParam(decodeName(p.name)));
  if (pieces.length === 0) return path;
  // Code-unit order, not localeCompare: keys must be the same on every machine. The sort is
  // stable, so repeated names stay in the order sent.
  pieces.sort((a, b) => cmp(a.name, b.name));
  return `${path}?${pieces.map((p) => p.raw).join('&')}`;
}

/** `utm%5Fsource` and `utm_source` are one parameter to the backend, so to the ignore list too. */
function decodeName(name: string): string {
  try {
    return decodeURIComponent(name.replace(/\+/g, ' '));
  } catch {
    return name;
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function digest(material: string): string {
  return createHash('sha256').update(material, 'utf8').digest('base64url');
}
