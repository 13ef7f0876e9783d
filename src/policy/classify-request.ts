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
  const cookie = req.headers['cookie'];
  if (cookie !== undefined && parseCookieNames(cookie).some(rules.sessionCookie)) {
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
  if (header === undefined) return [];
  const lines = typeof header === 'string' ? [header] : header;
  const names: string[] = [];
  for (const line of lines) {
    for (const piece of line.split(';')) {
      const eq = piece.indexOf('=');
      const name = (eq === -1 ? piece : piece.slice(0, eq)).trim();
      if (name !== '') names.push(name);
    }
  }
  return names;
}
