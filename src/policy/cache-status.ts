// The RFC 9211 Cache-Status header value memfront sends: "why did I get this answer?"

export const CACHE_NAME = 'memfront';

export type ForwardReason = 'miss' | 'uri-miss' | 'bypass' | 'stale' | 'request';

export type CacheStatusInput =
  | { hit: true; ttl: number }
  | { fwd: ForwardReason; stored?: boolean; detail?: string; fwdStatus?: number; ttl?: number };

/**
 * `memfront; hit; ttl=240`, `memfront; fwd=miss; stored`, `memfront; fwd=uri-miss; detail=set-cookie`.
 * RFC 9211 2: hit and stored are booleans (bare when true, left out when false), fwd a
 * token, fwd-status and ttl integers, detail a token or a string.
 */
export function formatCacheStatus(o: CacheStatusInput): string {
  const params: string[] = [CACHE_NAME];
  if ('hit' in o) {
    params.push('hit', `ttl=${integer(o.ttl)}`);
    return params.join('; ');
  }
  params.push(`fwd=${o.fwd}`);
  if (o.fwdStatus !== undefined) params.push(`fwd-status=${integer(o.fwdStatus)}`);
  if (o.stored === true) params.push('stored');
  if (o.ttl !== undefined) params.push(`ttl=${integer(o.ttl)}`);
  if (o.detail !== undefined) params.push(`detail=${sfItem(o.detail)}`);
  return params.join('; ');
}

/** RFC 8941 3.3.1: an Integer; ttl may be negative for a stale answer (RFC 9211 2.7). */
function integer(n: number): string {
  return String(Math.trunc(n));
}

/** A token when it is one (RFC 8941 3.3.4), else an sf-string (3.3.3): printable ASCII, `"` and `\` escaped. */
function sfItem(s: string): string {
  if (/^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*$/.test(s)) return s;
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return `"${printable.replace(/[\\"]/g, '\\$&')}"`;
}
