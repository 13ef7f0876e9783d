// Requests to the backend that no client drives: the background refresh of a stale entry.
// The backend proxy (backend-proxy.ts) works on a client's request and response; here there
// are neither, so an undici pool of its own asks backend.url (or, on an offload server,
// offload.base, as the dispatcher would) with headers the caller already rewrote, and hands
// back the same UpstreamResponse the engine gets from every route.
import type { Pool } from 'undici';
import { loadUndici } from './undici-lazy.js';
import { UpstreamError } from '../errors.js';
import type { UpstreamResponse } from './upstream.js';

export interface BackgroundRequest {
  /** Path and query, as the client sent them. */
  path: string;
  /** Already rewritten (forward-headers.ts), as for a client's miss. */
  headers: Record<string, string | string[]>;
}

// Request-body framing has no place on a bodiless GET (undici refuses some of it outright).
const BODY_FIELDS = ['content-length', 'transfer-encoding', 'expect', 'content-type'];

export class BackendClient {
  /** Made on the first fetch (undici-lazy.ts). */
  private pool?: Promise<Pool>;
  private closed = false;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly offloadHost: string | undefined;

  /**
   * target: backend.url; offloadBase: offload.base when this is an offload server (contract:
   * what would go to backend.url goes there, path appended, Host that of offload.base, with
   * X-Memfront-Offload: 1).
   */
  constructor(target: string, private readonly timeoutMs: number, offloadBase = '') {
    const url = new URL(offloadBase || target);
    this.basePath = offloadBase ? url.pathname.replace(/\/+$/, '') : '';
    this.offloadHost = offloadBase ? url.host : undefined;
    this.origin = url.origin;
  }

  private poolNow(): Promise<Pool> {
    this.pool ??= loadUndici().then(
      ({ Pool }) =>
        new Pool(this.origin, {
          connections: 32,
          // Same meaning as backend.timeoutMs: the wait for headers, and each gap between body bytes.
          headersTimeout: this.timeoutMs,
          bodyTimeout: this.timeoutMs,
          connectTimeout: Math.min(this.timeoutMs, 10_000),
          keepAliveTimeout: 4000,
        }),
    );
    return this.pool;
  }

  async fetch(r: BackgroundRequest): Promise<UpstreamResponse> {
    const headers: Record<string, string | string[]> = { ...r.headers };
    for (const name of BODY_FIELDS) delete headers[name];
    if (this.offloadHost !== undefined) {
      headers.host = this.offloadHost;
      headers['x-memfront-offload'] = '1';
    }
    let res;
    try {
      if (this.closed) throw new Error('closed');
      const pool = await this.poolNow();
      res = await pool.request({
        path: this.basePath + r.path,
        method: 'GET',
        headers,
        // Names as the backend spelled them, repeated fields kept: the entry stores them so.
        responseHeaders: 'raw',
      });
    } catch (err) {
      const code = (err as { code?: string })?.code;
      const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT';
      throw timeout
        ? new UpstreamError('MF_BACKEND_TIMEOUT', `backend sent no response within ${this.timeoutMs} ms`, { cause: err })
        : new UpstreamError('MF_BACKEND_FAILED', `backend request failed${code ? `: ${code}` : ''}`, { cause: err });
    }
    const body = res.body;
    // undici errors the body on a reset, a short Content-Length or a body timeout, so a
    // clean 'end' is a whole body.
    let ended = false;
    body.once('end', () => (ended = true));
    body.on('error', () => {});
    return {
      status: res.statusCode,
      rawHeaders: res.headers as unknown as string[],
      body,
      complete: () => ended,
      abort: () => body.destroy(),
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.pool) await (await this.pool).destroy();
  }
}
