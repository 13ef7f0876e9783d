// The backend route: a client's request forwarded to backend.url (or another target: the
// offload base) through an undici Pool per origin, its answer handed to the engine as a plain
// UpstreamResponse (status, rawHeaders as the backend spelled them, the body as a stream whose
// completeness can be asked).
//
// Why undici and not http-proxy (README, library choices): measured with callgrind, a request
// forwarded through http-proxy and node:http's client cost memfront 653k instructions on the
// main thread, through undici 370k (a bare undici Pool server: 302k). We use undici's
// dispatch API with a handler of our own, so the answer's raw headers are taken once, as they
// came, and no promise, AbortSignal or async resource is made per request.
//
// What this file guarantees:
// - every request body is framed here: its own Content-Length (undici checks the body
//   against it), or chunked for one that came chunked; bodiless methods never carry one (the
//   engine refused those bodies with 400 before this point: request-admission.ts). Request
//   headers undici refuses (framing, connection options, Expect) are never handed to it;
// - backend.timeoutMs bounds the wait for the answer's headers from the moment the request is
//   asked for (a wait for a pooled connection included), and each gap between body bytes;
// - a client that goes away before the answer (cancel) or after (abort) ends the backend
//   request, and the connection with it when the answer is not read to its end;
// - a body cut short (reset, short Content-Length, body timeout) errors the stream and
//   complete() stays false, so it is never stored.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import type { Dispatcher, Pool } from 'undici';
import { UpstreamError } from '../errors.js';
import { upstreamFraming } from '../policy/request-admission.js';
import { loadUndici } from './undici-lazy.js';
import type { UpstreamResponse } from './upstream.js';

export interface BackendRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The headers the backend should see (already rewritten). */
  headers: Record<string, string | string[]>;
  /** Method to use instead of the client's (HEAD misses are fetched as GET). */
  method?: string;
  /** Path and query to request instead of the client's. */
  path?: string;
  /** Another target than backend.url (offload base, static server); its Host is sent. */
  target?: string;
}

/**
 * Never handed to undici: it frames the body itself (and refuses transfer-encoding, upgrade,
 * keep-alive and expect outright); connection options are this hop's, not the client's.
 */
const FRAMING = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'expect', 'te', 'trailer', 'proxy-connection']);

/** Where a target's requests go: its pool, the path its URL carries, its Host. */
interface Origin {
  pool: Pool | undefined;
  /** Made by the first request (undici is loaded then: undici-lazy.ts). */
  making: Promise<Pool> | undefined;
  basePath: string;
  host: string;
}

const kPending = Symbol('memfront.backendPending');
type Tagged = IncomingMessage & { [kPending]?: Forward };

export class BackendProxy {
  private readonly origins = new Map<string, Origin>();
  private readonly main: Origin;
  private closed = false;

  constructor(private readonly target: string, private readonly timeoutMs: number) {
    this.main = this.origin(target);
  }

  fetch(r: BackendRequest): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      if (this.closed) {
        reject(new UpstreamError('MF_BACKEND_FAILED', 'backend request failed: closed'));
        return;
      }
      const o = r.target === undefined ? this.main : this.origin(r.target);
      const req = r.req as Tagged;
      const f = new Forward(req, resolve, reject, this.timeoutMs);
      req[kPending] = f;
      let opts: Dispatcher.DispatchOptions;
      try {
        opts = this.options(r, o);
      } catch (err) {
        f.fail(err);
        return;
      }
      if (o.pool) o.pool.dispatch(opts, f);
      else {
        this.poolFor(o).then(
          (pool) => (f.settled ? undefined : pool.dispatch(opts, f)),
          (err: unknown) => f.fail(err),
        );
      }
    });
  }

  /** Cancel a request still waiting for headers (the client went away). */
  cancel(req: IncomingMessage): void {
    (req as Tagged)[kPending]?.fail(new UpstreamError('MF_BACKEND_FAILED', 'client went away'));
  }

  close(): void {
    this.closed = true;
    for (const o of this.origins.values()) {
      if (o.pool) void o.pool.destroy().catch(() => {});
      else void o.making?.then((p) => p.destroy()).catch(() => {});
    }
  }

  private origin(target: string): Origin {
    let o = this.origins.get(target);
    if (o === undefined) {
      const url = new URL(target);
      // http-proxy's rule: the target's path, then the request's.
      o = { pool: undefined, making: undefined, basePath: url.pathname.replace(/\/+$/, ''), host: url.host };
      this.origins.set(target, o);
      const origin = url.origin;
      o.making = loadUndici().then(({ Pool }) => {
        const pool = new Pool(origin, {
          connections: 512,
          // backend.timeoutMs is Forward's own timer: from the moment the request is asked for
          // until its headers, then each gap between body bytes. undici's own run on a timer
          // wheel of ~0.5 s ticks (a 300 ms bound fired after 1.5 s): off.
          headersTimeout: 0,
          bodyTimeout: 0,
          connectTimeout: Math.min(this.timeoutMs, 10_000),
          keepAliveTimeout: 4000,
        });
        o!.pool = pool;
        return pool;
      });
      // A failure shows on the first fetch; nothing waits on it before.
      o.making.catch(() => {});
    }
    return o;
  }

  private poolFor(o: Origin): Promise<Pool> {
    return o.pool ? Promise.resolve(o.pool) : o.making!;
  }

  private options(r: BackendRequest, o: Origin): Dispatcher.DispatchOptions {
    const req = r.req;
    const method = r.method ?? req.method ?? 'GET';
    const headers: Record<string, string | string[]> = {};
    for (const name in r.headers) if (!FRAMING.has(name)) headers[name] = r.headers[name];
    if (r.target !== undefined) headers.host = o.host;
    let body: AsyncIterable<Buffer> | undefined;
    // Bodies of GET/HEAD/OPTIONS/DELETE/TRACE were refused before this (400), and the method
    // sent instead of HEAD (GET) carries none either.
    const framing = r.method === undefined ? upstreamFraming(req.headers) : ({ kind: 'none' } as const);
    if (framing.kind === 'length') {
      headers['content-length'] = framing.length;
      if (framing.length !== '0') body = bodyOf(req);
    } else if (framing.kind === 'chunked') {
      // No length given to undici: it sends the body chunked.
      body = bodyOf(req);
    }
    // undici takes any (async) iterable as a body; its types list only streams.
    return { path: o.basePath + (r.path ?? req.url ?? '/'), method: method as Dispatcher.HttpMethod, headers, body: body as unknown as Readable | undefined };
  }
}

/**
 * The client's body as an iterable, not the request stream itself: undici destroys a stream
 * body when the backend request fails, and the client must still get its 502.
 */
async function* bodyOf(req: IncomingMessage): AsyncIterable<Buffer> {
  for await (const chunk of req) yield chunk as Buffer;
}

/** One forwarded request: undici's handler, the timer for its headers, and its answer. */
class Forward implements Dispatcher.DispatchHandler {
  settled = false;
  private abortFn: ((err?: Error) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private body: Readable | undefined;
  private resumeFn: (() => void) | undefined;
  private ended = false;
  private status = 0;

  constructor(
    private readonly req: Tagged,
    private resolve: ((r: UpstreamResponse) => void) | undefined,
    private reject: ((e: unknown) => void) | undefined,
    private readonly timeoutMs: number,
  ) {
    // Waiting for headers is bounded from the start, including a wait for a pooled connection;
    // then the same timer bounds each gap between body bytes.
    this.timer = setTimeout(() => this.timedOut(), timeoutMs);
  }

  private timedOut(): void {
    if (!this.settled) {
      this.fail(new UpstreamError('MF_BACKEND_TIMEOUT', `backend sent no response within ${this.timeoutMs} ms`));
      return;
    }
    if (this.body === undefined || this.ended) return;
    const err = new UpstreamError('MF_BACKEND_TIMEOUT', `backend idle for ${this.timeoutMs} ms`);
    this.abortFn?.(err);
    this.body.destroy(err);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortFn = abort;
    if (this.settled) abort(new Error('cancelled'));
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void): boolean {
    // 1xx: undici handles 100-continue itself; memfront passes no interim answer on.
    if (statusCode < 200) return true;
    if (this.settled) {
      this.abortFn?.(new Error('cancelled'));
      return false;
    }
    this.settled = true;
    this.status = statusCode;
    this.timer!.refresh();
    this.req[kPending] = undefined;
    const raw: string[] = new Array(rawHeaders.length);
    for (let i = 0; i < rawHeaders.length; i++) raw[i] = rawHeaders[i].toString('latin1');
    this.resumeFn = resume;
    const body = new Readable({ read: () => this.resumeFn!() });
    // Errors show through complete() and the engine's own listeners; never as an uncaught event.
    body.on('error', noop);
    this.body = body;
    const resolve = this.resolve!;
    this.resolve = this.reject = undefined;
    resolve({
      status: statusCode,
      rawHeaders: raw,
      body,
      complete: () => this.ended,
      abort: () => this.abort(),
    });
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.timer!.refresh();
    return this.body!.push(chunk);
  }

  onComplete(): void {
    this.ended = true;
    clearTimeout(this.timer);
    this.body?.push(null);
  }

  onError(err: Error): void {
    // A 204 or 304 has no body whatever its Content-Length says (RFC 9110 8.6; Node's own
    // server sends one on a 204 when asked to): undici calls the missing bytes a mismatch.
    if (this.body && !this.ended && (this.status === 204 || this.status === 304) && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH') {
      this.onComplete();
      return;
    }
    if (this.body) {
      clearTimeout(this.timer);
      if (!this.ended) this.body.destroy(err);
      return;
    }
    this.fail(err);
  }

  /** Before the headers: the promise rejects (timeout, cancel, undici's error). */
  fail(err: unknown): void {
    if (this.settled) return;
    this.settled = true;
    clearTimeout(this.timer);
    this.req[kPending] = undefined;
    this.abortFn?.(err instanceof Error ? err : new Error(String(err)));
    const reject = this.reject!;
    this.resolve = this.reject = undefined;
    reject(upstreamError(err));
  }

  private abort(): void {
    clearTimeout(this.timer);
    if (!this.ended) this.abortFn?.(new Error('aborted'));
    this.body?.destroy();
  }
}

function upstreamError(err: unknown): UpstreamError {
  if (err instanceof UpstreamError) return err;
  const code = (err as { code?: string })?.code;
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT') {
    return new UpstreamError('MF_BACKEND_TIMEOUT', `backend sent no response in time${code ? `: ${code}` : ''}`, { cause: err });
  }
  return new UpstreamError('MF_BACKEND_FAILED', `backend request failed${code ? `: ${code}` : ''}`, { cause: err });
}

function noop(): void {}
