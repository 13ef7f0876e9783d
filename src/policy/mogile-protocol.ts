// The MogileFS tracker line protocol, pure: one request line out, one reply line in.
// No sockets here; mogile-tracker.ts carries these lines over TCP.
//
// Request:  get_paths domain=D&key=K&noverify=1&pathcount=N\r\n
// Replies:  OK paths=2&path1=http%3A...&path2=...\r\n
//           ERR unknown_key unknown_key\r\n
// Arguments are URL-encoded as MogileFS::Backend's _escape_url_string does it, per UTF-8
// byte, so no key can put a CR, LF, '&' or '=' on the wire unescaped and split the line.

export interface GetPathsRequest {
  domain: string;
  key: string;
  /** Ask the tracker not to HEAD-check the paths first: we try them in turn anyway. */
  noverify?: boolean;
  pathcount: number;
}

export type Reply =
  | { ok: true; args: Record<string, string> }
  | { ok: false; code: string; message: string };

/** The tracker never sends a longer reply; a longer one means we are not talking to a tracker. */
export const MAX_REPLY_BYTES = 1 << 20;

// MogileFS::Backend: s/([^a-zA-Z0-9_\,\-.\/\\\: ])/uc sprintf("%%%02x",ord($1))/eg; tr/ /+/;
// The Perl client also leaves '\' alone; we escape it (%5C), which every tracker decodes
// to the same byte and keeps the safe set to the one the contract names.
function isSafeByte(b: number): boolean {
  return (
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x5f || b === 0x2c || b === 0x2d || b === 0x2e || b === 0x2f || b === 0x3a // _ , - . / :
  );
}

const HEX = '0123456789ABCDEF';

/** One argument name or value, escaped for the tracker line. */
export function escapeArg(value: string): string {
  let out = '';
  for (const b of Buffer.from(value, 'utf8')) {
    if (isSafeByte(b)) out += String.fromCharCode(b);
    else if (b === 0x20) out += '+';
    else out += '%' + HEX[b >> 4] + HEX[b & 15];
  }
  return out;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/**
 * Reverses escapeArg: '+' is a space, %XX a byte, and the bytes are UTF-8. One pass, so
 * "%2B" stays a '+' (MogileFS's legacy _unescape_url_string decoded %XX first and then
 * turned that '+' into a space).
 */
export function unescapeArg(text: string): string {
  const src = Buffer.from(text, 'utf8');
  const out = Buffer.allocUnsafe(src.length);
  let n = 0;
  for (let i = 0; i < src.length; i++) {
    const b = src[i];
    if (b === 0x2b) {
      out[n++] = 0x20;
      continue;
    }
    if (b === 0x25 && i + 2 < src.length) {
      const hi = hexValue(src[i + 1]);
      const lo = hexValue(src[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo;
        i += 2;
        continue;
      }
    }
    // A '%' not followed by two hex digits is kept as it is, as the Perl decoder does.
    out[n++] = b;
  }
  return out.subarray(0, n).toString('utf8');
}

/**
 * `a=1&b=2` → { a: '1', b: '2' }; empty pairs skipped, a name without '=' gets ''.
 * Null-prototype, so a tracker-sent name like `__proto__` is just a name.
 */
export function parseArgs(text: string): Record<string, string> {
  const args: Record<string, string> = Object.create(null);
  for (const pair of text.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const name = unescapeArg(eq < 0 ? pair : pair.slice(0, eq));
    args[name] = eq < 0 ? '' : unescapeArg(pair.slice(eq + 1));
  }
  return args;
}

export function encodeArgs(pairs: ReadonlyArray<readonly [string, string]>): string {
  return pairs.map(([k, v]) => `${escapeArg(k)}=${escapeArg(v)}`).join('&');
}

/** The whole request line, `\r\n` included. */
export function encodeGetPaths(r: GetPathsRequest): string {
  const pathcount = Math.max(1, Math.floor(r.pathcount));
  const args = encodeArgs([
    ['domain', r.domain],
    ['key', r.key],
    ['noverify', r.noverify === false ? '0' : '1'],
    ['pathcount', String(pathcount)],
  ]);
  return `get_paths ${args}\r\n`;
}

/**
 * One reply line (with or without its line end) → the tracker's answer, or null when the
 * line is not a tracker reply at all (the caller treats that tracker as failed).
 */
export function parseReply(line: string): Reply | null {
  const text = line.replace(/\r?\n$/, '').replace(/\r$/, '');
  // MogileFS::Backend: /^OK\s+\d*\s*(\S*)/ (old trackers sent a length before the args).
  const ok = /^OK(?:[ \t]+(?:\d+[ \t]+)?(\S*))?[ \t]*$/.exec(text);
  if (ok) return { ok: true, args: parseArgs(ok[1] ?? '') };
  // MogileFS::Backend: /^ERR\s+(\w+)\s*(\S*)/, the text URL-encoded.
  const err = /^ERR[ \t]+(\w+)(?:[ \t]+(\S*))?[ \t]*$/.exec(text);
  if (err) {
    const code = err[1];
    const message = err[2] ? unescapeArg(err[2]) : code;
    return { ok: false, code, message };
  }
  return null;
}

/** Tracker answers never list more paths than this; a larger count is not believed. */
const MAX_PATHS = 1000;

/** path1..pathN of a get_paths reply, in the tracker's order (missing or empty ones skipped). */
export function pathsFrom(args: Record<string, string>): string[] {
  const count = /^\d+$/.test(args.paths ?? '') ? Math.min(Number(args.paths), MAX_PATHS) : 0;
  const paths: string[] = [];
  for (let i = 1; i <= count; i++) {
    const p = args[`path${i}`];
    if (p) paths.push(p);
  }
  return paths;
}
