// Is this request anonymous and cacheable, or does it bypass the cache (and why)?

import type { Headers } from './headers.js';

export type BypassReason = 'method' | 'authorization' | 'session-cookie';
export type RequestClass = { cacheable: true } | { cacheable: false; reason: BypassReason };

export interface RequestRules {
  sessionCookie: (name: string) => boolean;
}

export function classifyRequest(req: { method: string; headers: Headers }, rules: RequestRules): RequestClass {
  // Contract: "Only anonymous GET and HEAD requests use the cache." Methods are
  // case-sensitive (RFC 9110 9.1), so `get` is not GET.
  if (req.method !== 'GET' && req.method !== 'HEAD') return { cacheable: false, reason: 'method' };

  // Contract: anonymous means "no Authorization header" — any value, even empty.
  if (req.headers['authorization'] !== undefined) return { cacheable: false, reason: 'authorization' };

  // Contract: "... and no cookie whose name matches cache.sessionCookies".
  if (someCookieName(req.headers['cookie'], rules.sessionCookie)) {
    return { cacheable: false, reason: 'session-cookie' };
  }
  return { cacheable: true };
}

/**
 * The cookie names in a Cookie header (RFC 6265 5.4: `name=value` pairs joined by "; ").
 * Repeated headers (an array) are all read; values may contain `=`; spacing and empty
 * pieces are tolerated. A piece without `=` is taken as a name: PHP and others read
 * `PHPSESSID` alone as that cookie, and over-detecting a session only costs a bypass.
 */
export function parseCookieNames(header: string | string[] | undefined): string[] {
  const names: string[] = [];
  someCookieName(header, (name) => (names.push(name), false));
  return names;
}

/**
 * Whether `test` holds for one of the header's cookie names (parseCookieNames' names, in
 * order, up to the first that passes), without building the list: every request that
 * carries cookies asks this, hits included.
 */
export function someCookieName(header: string | string[] | undefined, test: (name: string) => boolean): boolean {
  if (header === undefined) return false;
  if (typeof header === 'string') return someNameIn(header, test);
  for (const line of header) if (someNameIn(line, test)) return true;
  return false;
}

function someNameIn(line: string, test: (name: string) => boolean): boolean {
  // The next `=` is looked for once and kept while the pieces before it are read: a header of
  // many pieces without one is still read in one pass, not once per piece.
  let nextEq = -1;
  let start = 0;
  for (;;) {
    let end = line.indexOf(';', start);
    if (end === -1) end = line.length;
    if (nextEq !== Infinity && nextEq < start) {
      nextEq = line.indexOf('=', start);
      if (nextEq === -1) nextEq = Infinity;
    }
    const name = line.slice(start, Math.min(nextEq, end)).trim();
    if (name !== '' && test(name)) return true;
    if (end === line.length) return false;
    start = end + 1;
  }
}
