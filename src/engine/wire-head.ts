// A response head serialised by memfront and handed to Node's ServerResponse as if its own
// writeHead had stored it. writeHead checks every header name and value with two regular
// expressions and joins them into the head on every call: on a hit that is the same dozen
// fields each time (measured with callgrind: about an eighth of a 10 KB hit's main-thread
// instructions). A hit's fields are the entry's, checked once per entry against the same rules
// (deliver.ts), and memfront's own, so its head is built once per entry, representation and
// second (deliver.ts keeps it), and each hit only hands it over.
//
// Node keeps everything else: the response is still a ServerResponse, ended with end(), so
// keep-alive, pipelining order (a response waits for the one before it), HEAD, backpressure and
// errors are its own. What Node adds to a head it stores (Date, the connection fields) is added
// here alike; only the plain case is taken (an HTTP/1.1 keep-alive response with nothing set on
// it yet and no per-socket request limit), and anything else goes through writeHead as before.
// test/unit/wire-head.test.ts compares the bytes of both ways on the Node it runs on.
//
// When the response is the one its socket is serving now (nothing queued before it, nothing
// written yet, its write and end not wrapped by a counter), head and body go to the socket in
// one writev of two buffers, and end() only finishes the response. end(body) would take the
// head as a string and the body through OutgoingMessage's buffering, write_ and _send, and add
// an empty chunk: measured on a bare Node server with a memfront-like head, 100 distinct 10 KB
// bodies, 50 connections, 8 paired rounds, 1.09-1.23x the requests/s and 0.80-0.91x the user
// CPU of end(body) with the same prepared head (docs/bench.md).
import { STATUS_CODES, ServerResponse, type IncomingMessage } from 'node:http';

/** The fields of a ServerResponse its writeHead sets and reads (Node 20 to 24). */
interface Internals {
  _header: string | null;
  _headerSent: boolean;
  _removedConnection: boolean;
  _keepAliveTimeout?: number;
  _defaultKeepAlive?: boolean;
  _maxRequestsPerSocket?: number;
  maxRequestsOnConnectionReached?: boolean;
  shouldKeepAlive: boolean;
  useChunkedEncodingByDefault: boolean;
  chunkedEncoding: boolean;
  sendDate: boolean;
  outputData: unknown[];
}

/** The socket field Node's server sets to the response it is serving. */
interface SocketInternals {
  _httpMessage?: unknown;
}

const nodeWrite = ServerResponse.prototype.write;
const nodeEnd = ServerResponse.prototype.end;

/** Whether this Node's ServerResponse has the shape the prepared write relies on; if not, writeHead always. */
export const PREPARED_WRITES = checkShape();

function checkShape(): boolean {
  try {
    const req = { method: 'GET', httpVersionMajor: 1, httpVersionMinor: 1, headers: {} } as unknown as IncomingMessage;
    const r = new ServerResponse(req) as unknown as Internals & { _storeHeader?: unknown };
    return typeof r._storeHeader === 'function' && r._header === null && r._headerSent === false && r._removedConnection === false &&
      typeof r.shouldKeepAlive === 'boolean' && r.useChunkedEncodingByDefault === true && r.chunkedEncoding === false && r.sendDate === true &&
      Array.isArray(r.outputData) && r.outputData.length === 0;
  } catch {
    return false;
  }
}

let keepAliveTimeout = -1;
let keepAliveFields = '';

/**
 * What Node's _storeHeader would end this response's head with (its connection fields and the
 * blank line), or undefined when the response is not the plain keep-alive case.
 */
export function headEnding(res: ServerResponse): string | undefined {
  if (!PREPARED_WRITES) return undefined;
  const r = res as unknown as Internals;
  if (r._header !== null || r._removedConnection || !r.shouldKeepAlive || !r.useChunkedEncodingByDefault || r.chunkedEncoding || !r.sendDate) return undefined;
  if (r.maxRequestsOnConnectionReached === true || (r._maxRequestsPerSocket ?? 0) > 0) return undefined;
  // Node sends no header set on the response before writeHead merges them; here there may be none.
  if (res.getHeaderNames().length > 0) return undefined;
  const timeout = r._keepAliveTimeout && r._defaultKeepAlive !== false ? r._keepAliveTimeout : 0;
  if (timeout !== keepAliveTimeout) {
    keepAliveTimeout = timeout;
    keepAliveFields = `Connection: keep-alive\r\n${timeout ? `Keep-Alive: timeout=${Math.floor(timeout / 1000)}\r\n` : ''}\r\n`;
  }
  return keepAliveFields;
}

let dateSecond = -1;
let dateValue = '';

/** The Date field's value for `now` (ms), as Node's utcDate() gives it (made once a second). */
export function httpDate(now: number): string {
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(second * 1000).toUTCString();
  }
  return dateValue;
}

/**
 * The head as Node would store it for writeHead(status, headers): the status line, the fields
 * in order, Date when they have none (Node's sendDate), then `ending` (headEnding()). The
 * fields must already pass Node's checks (a token name, a value without control characters).
 */
export function serialiseHead(status: number, headers: readonly string[], date: string, ending: string): string {
  let head = `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'unknown'}\r\n`;
  let hasDate = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name.length === 4 && name.toLowerCase() === 'date') hasDate = true;
    head += `${name}: ${headers[i + 1]}\r\n`;
  }
  if (!hasDate) head += `Date: ${date}\r\n`;
  return head + ending;
}

/**
 * Ends `res` with a head from serialiseHead (built with this response's headEnding()) and the
 * body (none for HEAD: Node drops a body it must not send). What writeHead + end(body) would do.
 * `headBytes` is the same head in latin1, as Node would encode it: given with a body, the two
 * are written to the socket directly when the response owns it. Returns whether they were.
 */
export function endWithHead(res: ServerResponse, status: number, head: string, body: Buffer | undefined, headBytes?: Buffer): boolean {
  const r = res as unknown as Internals;
  res.statusCode = status;
  res.statusMessage = STATUS_CODES[status] ?? 'unknown';
  r._header = head;
  const socket = res.socket;
  if (
    body !== undefined && headBytes !== undefined && socket !== null && (socket as SocketInternals)._httpMessage === res &&
    socket.writable && r.outputData.length === 0 && res.write === nodeWrite && res.end === nodeEnd
  ) {
    // Sent as far as end() can tell: it writes nothing more, and finishes the response once
    // the socket has taken these bytes (at once when the kernel took them all).
    r._headerSent = true;
    socket.cork();
    socket.write(headBytes);
    socket.write(body);
    socket.uncork();
    res.end();
    return true;
  }
  r._headerSent = false;
  res.end(body);
  return false;
}
