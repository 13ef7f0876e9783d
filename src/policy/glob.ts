// Name matching for cache.sessionCookies and cache.ignoreQueryParams: `*` is the only wildcard.

/**
 * One predicate for a list of patterns. Contract: "`*` is a wildcard"; everything else is
 * literal and case-sensitive, as cookie names are (RFC 6265 5.4 compares names exactly).
 */
export function compileGlobs(patterns: string[]): (name: string) => boolean {
  const exact = new Set<string>();
  const wild: string[] = [];
  for (const p of patterns) {
    if (p.includes('*')) wild.push(p.split('*').map(escapeRegExp).join('.*'));
    else exact.add(p);
  }
  if (wild.length === 0) return (name) => exact.has(name);
  // `s` so a wildcard also spans odd bytes; anchored so `utm_*` does not match `xutm_a`.
  const re = new RegExp(`^(?:${wild.join('|')})$`, 's');
  return (name) => exact.has(name) || re.test(name);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}
