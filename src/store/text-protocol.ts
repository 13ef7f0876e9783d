// Memcached's classic text protocol, the part memfront uses: the requests as bytes and a
// reader that turns the bytes coming back into replies. Pure: no sockets, no timers.
//
// Why it exists beside memjs: memcached's proxies (twemproxy, mcrouter) forward only this
// protocol, not the binary one memjs speaks. Why the reader is shaped as it is: a value of
// up to the item size (1 MB and more) arrives in many socket reads; it is copied once, into a
// buffer allocated at its VALUE line, as the reads come (none kept, no join at the end); a
// value that came whole in one read is a view of it, or a copy where a view would keep much
// more memory alive than the value itself.

/** Reply lines are short (a VALUE line: a key of at most 250 bytes and three numbers). */
const MAX_LINE = 1024;
const CRLF = Buffer.from('\r\n');
/** After a value's bytes: its CRLF, then the END line of a single-key get. */
const VALUE_TRAILER = Buffer.from('\r\nEND\r\n');
const EMPTY = Buffer.alloc(0);
/**
 * Larger VALUE lines are taken as a stream out of step: memcached's items stop at 1 GB (its
 * -I maximum), and the buffer for one is allocated when its VALUE line comes.
 */
const MAX_VALUE = 1024 * 1024 * 1024;
/** How much more than its own size a value read as a view may keep alive (its reply lines, a few small replies). */
const VIEW_SLACK = 4096;

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
export const touchRequest = (key: string, exptime: number): string => `touch ${key} ${exptime}\r\n`;
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
  /**
   * While a value that did not come whole in one read is arriving: the buffer it is copied
   * into as the reads come (allocated once, at its VALUE line), how much of it is filled, and
   * how much of the trailer after it has been seen.
   */
  private value: Buffer | undefined;
  private filled = 0;
  private trailerSeen = 0;
  private cas: string | undefined;
  private failed = false;

  constructor(
    private readonly onReply: (reply: TextReply) => void,
    private readonly onError: (message: string) => void,
  ) {}

  push(chunk: Buffer): void {
    let at = 0;
    while (!this.failed && at < chunk.length) {
      at = this.value !== undefined ? this.readValue(chunk, at) : this.readLine(chunk, at);
    }
  }

  /** Reads one line from `at`; the offset after it (the end of the chunk when it is not whole). */
  private readLine(chunk: Buffer, at: number): number {
    let line: string;
    let next: number;
    if (this.partial.length === 0) {
      const end = chunk.indexOf(CRLF, at);
      if (end < 0) {
        if (chunk.length - at > MAX_LINE) return this.fail('an overlong reply line');
        // A copy: a view would keep the whole read alive until the line's end comes.
        this.partial = Buffer.from(chunk.subarray(at));
        return chunk.length;
      }
      line = chunk.toString('latin1', at, end);
      next = end + 2;
    } else {
      // A line split between reads: join only its few bytes, not the read that ends it.
      const joined = Buffer.concat([this.partial, chunk.subarray(at, at + MAX_LINE)]);
      const end = joined.indexOf(CRLF);
      if (end < 0) {
        if (joined.length > MAX_LINE) return this.fail('an overlong reply line');
        this.partial = joined;
        return chunk.length;
      }
      line = joined.toString('latin1', 0, end);
      next = at + end + 2 - this.partial.length;
      this.partial = EMPTY;
    }
    const reply = parseLine(line);
    if (reply === undefined) return this.fail(`an unreadable reply: ${line.slice(0, 80)}`);
    if (reply.kind !== 'value-header') {
      this.onReply(reply);
      return next;
    }
    if (reply.bytes > MAX_VALUE) return this.fail(`a value of ${reply.bytes} bytes`);
    const end = next + reply.bytes;
    if (chunk.length - end >= VALUE_TRAILER.length) {
      // The common case for values up to tens of KB: the value and its trailer in this read.
      if (!chunk.subarray(end, end + VALUE_TRAILER.length).equals(VALUE_TRAILER)) return this.fail('a value not followed by END');
      this.onReply({ kind: 'value', value: ownValue(chunk, next, end), cas: reply.cas });
      return end + VALUE_TRAILER.length;
    }
    // Not whole in this read: one buffer of the value's size, filled as the reads come, so
    // each byte is copied once and no read is kept (allocUnsafeSlow: its own memory, not a
    // slice of Node's shared pool that other buffers would keep alive with it).
    this.value = Buffer.allocUnsafeSlow(reply.bytes);
    this.filled = 0;
    this.trailerSeen = 0;
    this.cas = reply.cas;
    return next;
  }

  /** Copies what `chunk` holds of the value arriving, then checks its trailer; the offset after what was used. */
  private readValue(chunk: Buffer, at: number): number {
    const value = this.value!;
    if (this.filled < value.length) {
      const n = Math.min(value.length - this.filled, chunk.length - at);
      chunk.copy(value, this.filled, at, at + n);
      this.filled += n;
      at += n;
    }
    for (; at < chunk.length && this.trailerSeen < VALUE_TRAILER.length; at++, this.trailerSeen++) {
      if (chunk[at] !== VALUE_TRAILER[this.trailerSeen]) return this.fail('a value not followed by END');
    }
    if (this.trailerSeen < VALUE_TRAILER.length) return at;
    const cas = this.cas;
    this.value = undefined;
    this.cas = undefined;
    this.onReply({ kind: 'value', value, cas });
    return at;
  }

  private fail(message: string): number {
    this.failed = true;
    this.value = undefined;
    this.onError(message);
    // push() reads nothing more once failed.
    return Infinity;
  }
}

/**
 * A value that came whole in one read, bytes start..end of it. A view when the value is most
 * of the read's memory; otherwise a copy of its own: a view keeps all of that memory alive for
 * as long as the value lives (in L1, for instance), and a small value in a read that carried
 * other replies with it (pipelined gets) would keep them all.
 */
function ownValue(chunk: Buffer, start: number, end: number): Buffer {
  const bytes = end - start;
  if (chunk.buffer.byteLength <= 2 * bytes + VIEW_SLACK) return chunk.subarray(start, end);
  const own = Buffer.allocUnsafeSlow(bytes);
  chunk.copy(own, 0, start, end);
  return own;
}
