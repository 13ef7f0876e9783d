// Cache-Control parsing (RFC 9111 5.2), tolerant of what real backends send.

// RFC 9110 5.6.2: a directive name is a token.
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * Directives by lower-cased name (RFC 9111 5.2: names are case-insensitive); a directive with
 * an argument maps to its unquoted value, one without to `true`. Repeated header lines are
 * one list (RFC 9110 5.3). For a repeated directive the first occurrence wins (RFC 9111 4.2.1
 * allows "either the first occurrence ... or stale"). Garbage pieces are skipped, not fatal.
 */
export function parseCacheControl(value: string | string[] | undefined): Map<string, string | true> {
  const out = new Map<string, string | true>();
  if (value === undefined) return out;
  const text = typeof value === 'string' ? value : value.join(',');
  for (const piece of splitOutsideQuotes(text)) {
    const eq = piece.indexOf('=');
    const name = (eq === -1 ? piece : piece.slice(0, eq)).trim().toLowerCase();
    if (!TOKEN.test(name) || out.has(name)) continue;
    out.set(name, eq === -1 ? true : unquote(piece.slice(eq + 1).trim()));
  }
  return out;
}

/**
 * A delta-seconds argument (RFC 9111 1.2.2), quoted or not (RFC 9111 5.2: recipients accept
 * both forms). null when invalid; the caller treats invalid freshness as stale (RFC 9111 4.2.1).
 * Values beyond 2^31 are 2^31, as 1.2.2 requires.
 */
export function deltaSeconds(arg: string | true | undefined): number | null {
  if (typeof arg !== 'string' || !/^\d+$/.test(arg)) return null;
  return Math.min(Number(arg), 2147483648);
}

/** Commas inside a quoted-string (e.g. private="set-cookie, x-a") do not split directives. */
function splitOutsideQuotes(text: string): string[] {
  const parts: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted && c === '\\' && i + 1 < text.length) {
      cur += c + text[++i];
      continue;
    }
    if (c === '"') quoted = !quoted;
    if (c === ',' && !quoted) {
      parts.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  parts.push(cur);
  return parts;
}

function unquote(v: string): string {
  if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) {
    return v.slice(1, -1).replace(/\\(.)/g, '$1');
  }
  return v;
}
