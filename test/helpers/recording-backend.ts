// A raw TCP backend that records every byte it receives, per connection, and answers the
// requests it can frame (keep-alive, pipelined, in order). Written on net, not node:http, so
// nothing between the wire and the test fixes or hides what arrived: a smuggled second
// request inside one connection is visible as bytes and as a second parsed request.
//
// And a raw-socket client: exact bytes out, every byte back, parsed into responses.
import net from 'node:net';
import { listenOn } from './listen.js';

export interface RecordedRequest {
  /** Connection number (1, 2, ...) and position on it (0, 1, ...). */
  conn: number;
  index: number;
  method: string;
  target: string;
  version: string;
  /** Header fields in order, names as sent. */
  headers: Array<[string, string]>;
  /** The head as received, request line to the empty line. */
  head: string;
  /** The body, as framed (Content-Length or chunked; none otherwise). */
  body: Buffer;
  /** All values of one header (case-insensitive). */
  all(name: string): string[];
  /** The first value of one header, or undefined. */
  header(name: string): string | undefined;
}

export interface RecordedConnection {
  id: number;
  /** Every byte received on it, in order. */
  raw: Buffer;
  requests: RecordedRequest[];
  closed: boolean;
  socket: net.Socket;
}

export interface Reply {
  status?: number;
  reason?: string;
  /** Fields in order; repeated names allowed. Content-Length is added for `body` unless given or `chunked`. */
  headers?: Array<[string, string | number]> | Record<string, string | number>;
  body?: Buffer | string;
  /** Send the body with Transfer-Encoding: chunked. */
  chunked?: boolean;
  /** Wait this long before answering. */
  delayMs?: number;
  /** Exact bytes to write instead of a built response. */
  raw?: Buffer | string;
  /** Write the head, then hand the socket over: the writer sends the body and calls done() (or closes). */
  write?: (socket: net.Socket, done: () => void) => void;
  /** Close the connection after this response. */
  close?: boolean;
  /** Never answer (and stop answering this connection). */
  hang?: boolean;
}

export type Responder = (req: RecordedRequest, conn: RecordedConnection) => Reply | Promise<Reply>;

export interface RecordingBackend {
  port: number;
  url: string;
  /** "127.0.0.1:port" */
  hostPort: string;
  connections: RecordedConnection[];
  /** Every parsed request since the last reset(), in arrival order across connections. */
  requests(): RecordedRequest[];
  /** Every byte received since the last reset(), all connections concatenated (latin1 text). */
  allBytes(): string;
  /** The responder for requests whose path (without query) is `path`; `*` is the fallback. */
  on(path: string, r: Responder): void;
  /**
   * Start recording afresh. Connections stay open: one that was open before and carries bytes
   * afterwards (a pooled keep-alive connection) is listed again, with only its new bytes in
   * allBytes(); its `raw` and `requests` keep everything, so positions on it stay meaningful.
   */
  reset(): void;
  close(): Promise<void>;
}

/** An echo: a cacheable 200 whose body names what arrived (method, target, headers). */
export function reflect(extra: Record<string, string | number> = {}): Responder {
  return (req) => {
    const body = `${req.method} ${req.target}\n${req.headers.map(([n, v]) => `${n}: ${v}`).join('\n')}\nbody=${req.body.toString('latin1')}\n`;
    return { status: 200, headers: { 'Content-Type': 'text/plain', 'Cache-Control': 'public, max-age=300', ...extra }, body };
  };
}

export async function startRecordingBackend(routes: Record<string, Responder> = {}, host = '127.0.0.1'): Promise<RecordingBackend> {
  const table = new Map<string, Responder>(Object.entries(routes));
  /** Every connection ever, with where its bytes stood at the last reset and whether it has been used since. */
  const everyConn: Array<{ conn: RecordedConnection; mark: number; active: boolean }> = [];
  let all: RecordedRequest[] = [];
  let ids = 0;
  const sockets = new Set<net.Socket>();

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on('error', () => {});
    const conn: RecordedConnection = { id: ++ids, raw: Buffer.alloc(0), requests: [], closed: false, socket };
    const slot = { conn, mark: 0, active: true };
    everyConn.push(slot);
    let pending = Buffer.alloc(0);
    let queue: Promise<void> = Promise.resolve();
    let dead = false;
    socket.on('close', () => {
      conn.closed = true;
      sockets.delete(socket);
    });
    socket.on('data', (d: Buffer) => {
      conn.raw = Buffer.concat([conn.raw, d]);
      slot.active = true;
      pending = Buffer.concat([pending, d]);
      for (;;) {
        const parsed = parseRequest(pending);
        if (!parsed) break;
        pending = pending.subarray(parsed.used);
        const req = makeRequest(conn.id, conn.requests.length, parsed);
        conn.requests.push(req);
        all.push(req);
        queue = queue.then(async () => {
          if (dead || socket.destroyed) return;
          const path = req.target.replace(/^[a-z]+:\/\/[^/]*/i, '').split('?')[0];
          const responder = table.get(path) ?? table.get('*') ?? reflect();
          let reply: Reply;
          try {
            reply = await responder(req, conn);
          } catch {
            reply = { status: 500, body: 'responder threw' };
          }
          if (reply.hang) {
            dead = true;
            return;
          }
          if (reply.delayMs) await new Promise((r) => setTimeout(r, reply.delayMs));
          if (socket.destroyed) return;
          await writeReply(socket, req, reply);
          if (reply.close) {
            dead = true;
            socket.end();
          }
        });
      }
    });
  });
  server.maxConnections = 10_000;
  const port = await listenOn(server, host);
  return {
    port,
    url: `http://${host}:${port}`,
    hostPort: `${host}:${port}`,
    get connections() {
      return everyConn.filter((c) => c.active).map((c) => c.conn);
    },
    requests: () => all,
    allBytes: () =>
      everyConn
        .filter((c) => c.active)
        .map((c) => c.conn.raw.toString('latin1', c.mark))
        .join(''),
    on: (path, r) => void table.set(path, r),
    reset: () => {
      for (const c of everyConn) {
        c.mark = c.conn.raw.length;
        c.active = false;
      }
      all = [];
    },
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

function writeReply(socket: net.Socket, req: RecordedRequest, reply: Reply): Promise<void> {
  return new Promise((resolve) => {
    if (reply.raw !== undefined) {
      socket.write(reply.raw, () => resolve());
      return;
    }
    const status = reply.status ?? 200;
    const fields: Array<[string, string]> = Array.isArray(reply.headers)
      ? reply.headers.map(([n, v]) => [n, String(v)])
      : Object.entries(reply.headers ?? {}).map(([n, v]) => [n, String(v)]);
    const has = (n: string) => fields.some(([k]) => k.toLowerCase() === n);
    const body = reply.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(reply.body) ? reply.body : Buffer.from(reply.body);
    if (!reply.write) {
      if (reply.chunked) {
        if (!has('transfer-encoding')) fields.push(['Transfer-Encoding', 'chunked']);
      } else if (!has('content-length') && !has('transfer-encoding')) fields.push(['Content-Length', String(body.length)]);
    }
    const head = `HTTP/1.1 ${status} ${reply.reason ?? 'X'}\r\n${fields.map(([n, v]) => `${n}: ${v}\r\n`).join('')}\r\n`;
    socket.write(head, 'latin1');
    if (reply.write) {
      reply.write(socket, () => resolve());
      return;
    }
    if (req.method === 'HEAD' || status === 204 || status === 304) return resolve();
    if (reply.chunked) {
      if (body.length > 0) socket.write(`${body.length.toString(16)}\r\n`);
      if (body.length > 0) socket.write(body);
      if (body.length > 0) socket.write('\r\n');
      socket.write('0\r\n\r\n', () => resolve());
    } else socket.write(body, () => resolve());
  });
}

interface ParsedRequest {
  used: number;
  head: string;
  method: string;
  target: string;
  version: string;
  headers: Array<[string, string]>;
  body: Buffer;
}

/** One request from the start of buf, or null when it is not all here yet. Lenient: an upstream test fake. */
export function parseRequest(buf: Buffer): ParsedRequest | null {
  // Skip stray empty lines between requests (RFC 9112 2.2).
  let start = 0;
  while (start + 1 < buf.length && buf[start] === 13 && buf[start + 1] === 10) start += 2;
  const end = buf.indexOf('\r\n\r\n', start);
  if (end === -1) return null;
  const head = buf.toString('latin1', start, end + 4);
  const lines = head.slice(0, -4).split('\r\n');
  const [method = '', target = '', version = ''] = lines[0].split(' ');
  const headers: Array<[string, string]> = [];
  for (const line of lines.slice(1)) {
    const c = line.indexOf(':');
    if (c === -1) headers.push([line, '']);
    else headers.push([line.slice(0, c), line.slice(c + 1).trim()]);
  }
  const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
  let pos = end + 4;
  const te = get('transfer-encoding').join(',').toLowerCase();
  if (te.includes('chunked')) {
    const parts: Buffer[] = [];
    for (;;) {
      const nl = buf.indexOf('\r\n', pos);
      if (nl === -1) return null;
      const size = parseInt(buf.toString('latin1', pos, nl).split(';')[0].trim(), 16);
      if (Number.isNaN(size)) {
        pos = nl + 2;
        break;
      }
      if (size === 0) {
        // Trailers until an empty line.
        let p = nl + 2;
        for (;;) {
          const t = buf.indexOf('\r\n', p);
          if (t === -1) return null;
          if (t === p) {
            pos = t + 2;
            break;
          }
          p = t + 2;
        }
        break;
      }
      if (buf.length < nl + 2 + size + 2) return null;
      parts.push(buf.subarray(nl + 2, nl + 2 + size));
      pos = nl + 2 + size + 2;
    }
    return { used: pos, head, method, target, version, headers, body: Buffer.concat(parts) };
  }
  const cl = get('content-length');
  const n = cl.length ? Number(cl[0]) : 0;
  if (buf.length < pos + n) return null;
  return { used: pos + n, head, method, target, version, headers, body: Buffer.from(buf.subarray(pos, pos + n)) };
}

function makeRequest(conn: number, index: number, p: ParsedRequest): RecordedRequest {
  return {
    conn,
    index,
    method: p.method,
    target: p.target,
    version: p.version,
    headers: p.headers,
    head: p.head,
    body: p.body,
    all: (name) => p.headers.filter(([k]) => k.toLowerCase() === name.toLowerCase()).map(([, v]) => v),
    header: (name) => p.headers.find(([k]) => k.toLowerCase() === name.toLowerCase())?.[1],
  };
}

// ---- the raw client

export interface RawResponse {
  status: number;
  headers: Array<[string, string]>;
  body: Buffer;
  header(name: string): string | undefined;
  all(name: string): string[];
  /** The body arrived as framed (false: the connection ended first). */
  complete: boolean;
}

export interface RawResult {
  raw: Buffer;
  responses: RawResponse[];
  /** The server closed (or reset) the connection before the deadline. */
  closed: boolean;
  timedOut: boolean;
  ms: number;
}

export interface RawOptions {
  host?: string;
  /** Resolve once this many responses are complete (default 1). */
  responses?: number;
  /** Methods of the requests sent, in order, so HEAD responses are parsed without a body. */
  methods?: string[];
  timeoutMs?: number;
  /** Bytes written in pieces with this pause between them. */
  pieces?: Array<Buffer | string>;
  pauseMs?: number;
}

/** Sends exact bytes on a fresh connection; resolves with what came back. */
export function rawRequest(port: number, bytes: Buffer | string, opts: RawOptions = {}): Promise<RawResult> {
  const want = opts.responses ?? 1;
  const timeoutMs = opts.timeoutMs ?? 3000;
  const t0 = performance.now();
  return new Promise((resolve) => {
    const socket = net.connect(port, opts.host ?? '127.0.0.1');
    let raw = Buffer.alloc(0);
    let done = false;
    let closed = false;
    let timedOut = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ raw, responses: parseResponses(raw, opts.methods ?? []), closed, timedOut, ms: performance.now() - t0 });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      finish();
    }, timeoutMs);
    socket.on('error', () => {
      closed = true;
      finish();
    });
    socket.on('close', () => {
      closed = true;
      finish();
    });
    socket.on('data', (d: Buffer) => {
      raw = Buffer.concat([raw, d]);
      const got = parseResponses(raw, opts.methods ?? []);
      if (got.filter((r) => r.complete).length >= want) finish();
    });
    socket.on('connect', async () => {
      if (opts.pieces) {
        for (const p of opts.pieces) {
          if (socket.destroyed) return;
          socket.write(p);
          await new Promise((r) => setTimeout(r, opts.pauseMs ?? 20));
        }
      } else socket.write(bytes);
    });
  });
}

/** Responses parsed from a byte stream (the last may be incomplete). */
export function parseResponses(buf: Buffer, methods: string[] = []): RawResponse[] {
  const out: RawResponse[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const end = buf.indexOf('\r\n\r\n', pos);
    if (end === -1) break;
    const lines = buf.toString('latin1', pos, end).split('\r\n');
    const status = Number(lines[0].split(' ')[1]);
    const headers: Array<[string, string]> = [];
    for (const line of lines.slice(1)) {
      const c = line.indexOf(':');
      if (c !== -1) headers.push([line.slice(0, c), line.slice(c + 1).trim()]);
    }
    const all = (n: string) => headers.filter(([k]) => k.toLowerCase() === n.toLowerCase()).map(([, v]) => v);
    const mk = (body: Buffer, complete: boolean): RawResponse => ({ status, headers, body, complete, all, header: (n) => all(n)[0] });
    let p = end + 4;
    const method = methods[out.length] ?? 'GET';
    if (method === 'HEAD' || status === 204 || status === 304 || (status >= 100 && status < 200)) {
      if (status >= 100 && status < 200) {
        pos = p;
        continue;
      }
      out.push(mk(Buffer.alloc(0), true));
      pos = p;
      continue;
    }
    if (all('transfer-encoding').join(',').toLowerCase().includes('chunked')) {
      const parts: Buffer[] = [];
      let complete = false;
      for (;;) {
        const nl = buf.indexOf('\r\n', p);
        if (nl === -1) break;
        const size = parseInt(buf.toString('latin1', p, nl), 16);
        if (Number.isNaN(size)) break;
        if (size === 0) {
          const t = buf.indexOf('\r\n\r\n', nl);
          if (t === -1) break;
          p = t + 4;
          complete = true;
          break;
        }
        if (buf.length < nl + 2 + size + 2) {
          parts.push(buf.subarray(nl + 2, Math.min(buf.length, nl + 2 + size)));
          p = buf.length;
          break;
        }
        parts.push(buf.subarray(nl + 2, nl + 2 + size));
        p = nl + 2 + size + 2;
      }
      out.push(mk(Buffer.concat(parts), complete));
      if (!complete) break;
      pos = p;
      continue;
    }
    const cl = all('content-length');
    if (cl.length) {
      const n = Number(cl[0]);
      const complete = buf.length >= p + n;
      out.push(mk(Buffer.from(buf.subarray(p, Math.min(buf.length, p + n))), complete));
      if (!complete) break;
      pos = p + n;
      continue;
    }
    // Delimited by close: complete only once the caller saw the end.
    out.push(mk(Buffer.from(buf.subarray(p)), false));
    break;
  }
  return out;
}

/** A request as bytes: method, target, header lines (CRLF added), optional raw body. */
export function req(method: string, target: string, headers: Array<string>, body: string | Buffer = ''): Buffer {
  return Buffer.concat([Buffer.from(`${method} ${target} HTTP/1.1\r\n${headers.map((h) => h + '\r\n').join('')}\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}

/**
 * A Reply.write that streams `total` bytes (Infinity: until the peer goes) of one repeated
 * piece, with backpressure, so the fake holds nothing. `chunked`: framed as chunks (the head
 * must then say Transfer-Encoding: chunked); else raw bytes (Content-Length in the head).
 */
export function streamBody(total: number, o: { chunked?: boolean; piece?: Buffer; onWrite?: (bytes: number) => void } = {}): (socket: net.Socket, done: () => void) => void {
  const piece = o.piece ?? Buffer.alloc(64 * 1024, 'x');
  return (socket, done) => {
    let left = total;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      done();
    };
    socket.once('close', finish);
    const pump = () => {
      while (left > 0 && !socket.destroyed) {
        const n = Math.min(left, piece.length);
        left -= n;
        const bytes = n === piece.length ? piece : piece.subarray(0, n);
        let ok: boolean;
        if (o.chunked) {
          socket.write(`${n.toString(16)}\r\n`);
          socket.write(bytes);
          ok = socket.write('\r\n');
        } else ok = socket.write(bytes);
        o.onWrite?.(n);
        if (!ok) return void socket.once('drain', pump);
      }
      if (socket.destroyed) return finish();
      if (o.chunked) socket.write('0\r\n\r\n', finish);
      else finish();
    };
    pump();
  };
}
