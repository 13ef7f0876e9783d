// Which cache directives govern memfront's own storing and freshness: a field targeted at
// caches like it (CDN-Cache-Control, Surrogate-Control) when the origin sent one, else
// Cache-Control. What the client gets is not decided here (those fields never reach it).
import { parseCacheControl } from './cache-control.js';
import { isPresent, joinList, type Headers } from './headers.js';

export type ControlSource = 'cdn-cache-control' | 'surrogate-control' | 'cache-control';

export interface Control {
  directives: Map<string, string | true>;
  source: ControlSource;
}

/** The response fields memfront reads for itself and never sends to a client. */
export const TARGETED_FIELDS: ReadonlySet<string> = new Set(['cdn-cache-control', 'surrogate-control']);

/**
 * RFC 9213 2.2: a cache "MUST select the first (in target list order) field with a valid,
 * non-empty value and use its value to determine the caching policy for the response, and
 * it MUST ignore the Cache-Control and Expires header fields in that response, unless no
 * valid, non-empty value is available from the listed header fields." memfront's target list
 * is CDN-Cache-Control, then Surrogate-Control (the Edge Architecture field Varnish honours).
 */
export function effectiveControl(headers: Headers): Control {
  const cdn = parseCacheControl(headers['cdn-cache-control']);
  if (cdn.size > 0) return { directives: cdn, source: 'cdn-cache-control' };
  const surrogate = surrogateControl(headers['surrogate-control']);
  if (surrogate) return { directives: surrogate, source: 'surrogate-control' };
  return { directives: parseCacheControl(headers['cache-control']), source: 'cache-control' };
}

/** Whether Expires may give the lifetime (not when a targeted field governs: RFC 9213 2.2). */
export function expiresApplies(c: Control): boolean {
  return c.source === 'cache-control';
}

/**
 * Edge Architecture 1.0, Surrogate-Control: `max-age=N[+M]` and `no-store` are what memfront
 * honours (the `+M` stale extension is left to RFC 5861's directives), each either untargeted
 * or targeted `;memfront`; directives for other surrogates are not ours. null when no
 * directive memfront honours is present (then Cache-Control governs).
 */
export function surrogateControl(value: string | string[] | undefined): Map<string, string | true> | null {
  if (!isPresent(value)) return null;
  const out = new Map<string, string | true>();
  for (const piece of (joinList(value) ?? '').split(',')) {
    const [directive, target] = piece.split(';').map((s) => s.trim());
    if (target !== undefined && target.toLowerCase() !== 'memfront') continue;
    const eq = directive.indexOf('=');
    const name = (eq === -1 ? directive : directive.slice(0, eq)).trim().toLowerCase();
    if (name === 'no-store' && eq === -1) out.set('no-store', true);
    else if (name === 'max-age' && eq !== -1 && !out.has('max-age')) {
      const m = /^"?(\d+)(?:\+\d+)?"?$/.exec(directive.slice(eq + 1).trim());
      if (m) out.set('max-age', m[1]);
    }
  }
  return out.size > 0 ? out : null;
}
