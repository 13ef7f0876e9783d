// Memcached's classic text protocol, the part memfront uses: the requests as bytes and a
// reader that turns the bytes coming back into replies. Pure: no sockets, no timers.
//
// Why it exists beside memjs: memcached's proxies (twemproxy, mcrouter) forward only this
// protocol, not the binary one memjs speaks. Why the reader is shaped as it is: a value of
// up to the item size (1 MB and more) arrives in many socket reads, and it is joined once,
// when whole (not at all when one read holds it), never re-copied per read.

/** Reply lines are short (a VALUE line: a key of at most 250 bytes and three numbers). */
const MAX_LINE = 1024;
const CRLF = Buffer.from('\r\n');
/** After a value's bytes: its CRLF, then the END line of a single-key get. */
const VALUE_TRAILER = Buffer.from('\r\nEND\r\n');
const EMPTY = Buffer.alloc(0);

export type TextReply =
  /** A get/gets that found the key; cas only from gets. */
  | { kind: 'value'; value: Buffer; cas: string | undefined }
  /** A get/gets that did not. */
  | { kind: 'end' }
  /** A one-word answer: STORED, NOT_STORED, EXISTS, NOT_FOUND, DELETED, TOUCHED, OK. */
  | { kind: 'status'; status: string }
  /** incr's new value (decimal, up to 64 bits). */
  | { kind: 'number'; value: string }
  | { kind: 'version'; version: string }
  /** ERROR, CLIENT_ERROR …, SERVER_ERROR …: memcached (or a proxy) refused this request. */
  | { kind: 'error'; message: string };

const STATUSES = new Set(['STORED', 'NOT_STORED', 'EXISTS', 'NOT_FOUND', 'DELETED', 'TOUCHED', 'OK']);
const END: TextReply = { kind: 'end' };

// Keys: the text protocol separates words by spaces and ends lines at CRLF, so a key may hold
// neither, nor any control byte. Such keys (the binary protocol allows them) are sent
// base64url-encoded behind a marker, and so is any key that itself starts with the marker,
// which keeps the mapping one-to-one. memfront's own keys (prefix + digest) never need it.
const KEY_MARKER = '~b64~';
const PLAIN_KEY = /^[\x21-\x7e]+$/;

/** The key as the text protocol carries it. */
export function textKey(key: string): string {
  if (PLAIN_KEY.test(key) && !key.startsWith(KEY_MARKER)) return key;
  return KEY_MARKER + Buffer.from(key).toString('base64url');
}

export const getRequest = (key: string): string => `get ${key}\r\n`;
export const getsRequest = (key: string): string => `gets ${key}\r\n`;
export const deleteRequest = (key: string): string => `delete ${key}\r\n`;
export const incrRequest = (key: string, by: number | bigint): string => `incr ${key} ${by}\r\n`;
export const FLUSH_REQUEST = 'flush_all\r\n';

export type StorageCommand = 'set' | 'add' | 'cas';

/**
 * A storage request as three pieces to write in order (the value is not copied): the command
 * line, the value, CRLF. `cas` is the unique from gets, for the cas command only.
 */
export function storageRequest(command: StorageCommand, key: string, value: Buffer, exptime: number, cas?: string): [string, Buffer, Buffer] {
  const tail = command === 'cas' ? ` ${cas}` : '';
  return [`${command} ${key} 0 ${exptime} ${value.length}${tail}\r\n`, value, CRLF];
}

/** Reads one reply line that is not part of a value. */
export function parseLine(line: string): TextReply | { kind: 'value-header'; bytes: number; cas: string | undefined } | undefined {
  if (line.startsWith('VALUE ')) {
    // VALUE <key> <flags> <bytes> [<cas unique>]
    const words = line.split(' ');
    if (words.length !== 4 && words.length !== 5) return undefined;
    const bytes = Number(words[3]);
    if (!Number.isSafeInteger(bytes) || bytes < 0) return undefined;
    return { kind: 'value-header', bytes, cas: words[4] };
  }
  if (line === 'END') return END;
  if (STATUSES.has(line)) return { kind: 'status', status: line };
  if (/^\d+$/.test(line)) return { kind: 'number', value: line };
  if (line.startsWith('VERSION ')) return { kind: 'version', version: line.slice(8) };
  if (line === 'ERROR' || line.startsWith('ERROR ') || line.startsWith('CLIENT_ERROR') || line.startsWith('SERVER_ERROR')) {
    return { kind: 'error', message: line };
  }
  return undefined;
}

/**
 * Turns the bytes of a connection into replies, in order. push() each read as it comes;
 * each whole reply goes to onReply. A malformed stream goes to onError once, and the
 * reader stops (the connection cannot be trusted to be in step any more).
 */
export class ReplyReader {
  /** The start of a line not yet ended (a few bytes at most). */
  private partial: Buffer = EMPTY;
  /** While a value is arriving: its header, and the reads holding it so far. */
  private bytes = -1;
  private cas: string | undefined;
  private parts: Buffer[] = [];
  private have = 0;
  private failed = false;

  constructor(
    private readonly onReply: (reply: TextReply) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let rest = chunk;
    while (!this.failed && rest.length > 0) {
      rest = this.bytes >= 0 ? this.readValue(rest) : this.readLine(rest);
    }
  }

  private readLine(chunk: Buffer): Buffer {
    let line: string;
    let consumed: number;
    if (this.partial.length === 0) {
      const end = chunk.indexOf(CRLF);
      if (end < 0) {
        if (chunk.length > MAX_LINE) return this.fail('an overlong reply line');
        this.partial = Buffer.from(chunk);
        return EMPTY;
      }
      line = chunk.toString('latin1', 0, end);
      consumed = end + 2;
    } else {
      // A line split between reads: join only its few bytes, not the read that ends it.
      const joined = Buffer.concat([this.partial, chunk.subarray(0, MAX_LINE)]);
      const end = joined.indexOf(CRLF);
      if (end < 0) {
        if (joined.length > MAX_LINE) return this.fail('an overlong reply line');
        this.partial = joined;
        return EMPTY;
      }
      line = joined.toString('latin1', 0, end);
      consumed = end + 2 - this.partial.length;
      this.partial = EMPTY;
    }
    const reply = parseLine(line);
    if (reply === undefined) return this.fail(`an unreadable reply: ${line.slice(0, 80)}`);
    if (reply.kind === 'value-header') {
      this.bytes = reply.bytes;
      this.cas = reply.cas;
      this.parts = [];
      this.have = 0;
    } else {
      this.onReply(reply);
    }
    return chunk.subarray(consumed);
  }

  /** Collects reads until the value and its trailer are whole, then hands the value on. */
  private readValue(chunk: Buffer): Buffer {
    const need = this.bytes + VALUE_TRAILER.length;
    this.parts.push(chunk);
    this.have += chunk.length;
    if (this.have < need) return EMPTY;
    const parts = this.parts;
    // The common case, a value that came in one read: a view of it, no copy at all.
    const value = parts.length === 1 ? chunk.subarray(0, this.bytes) : Buffer.concat(parts, this.bytes);
    if (!trailerAt(parts, this.bytes)) return this.fail('a value not followed by END');
    const cas = this.cas;
    this.bytes = -1;
    this.cas = undefined;
    this.parts = [];
    const leftover = this.have - need;
    this.have = 0;
    this.onReply({ kind: 'value', value, cas });
    return chunk.subarray(chunk.length - leftover);
  }

  private fail(message: string): Buffer {
    this.failed = true;
    this.onError(message);
    return EMPTY;
  }
}

/** Whether the bytes at `offset` of the parts (taken as one) are CRLF END CRLF. */
function trailerAt(parts: Buffer[], offset: number): boolean {
  let i = 0;
  let at = offset;
  for (const part of parts) {
    if (at >= part.length) {
      at -= part.length;
      continue;
    }
    for (; at < part.length && i < VALUE_TRAILER.length; at++, i++) {
      if (part[at] !== VALUE_TRAILER[i]) return false;
    }
    if (i === VALUE_TRAILER.length) return true;
    at = 0;
  }
  return false;
}
