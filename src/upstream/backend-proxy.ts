// The backend route: requests proxied to backend.url through http-proxy, with its known
// defects handled here so the engine sees a plain UpstreamResponse:
// - without an agent it opens a connection per request: we give it a keep-alive agent;
// - it forwards the client's hop-by-hop headers: the caller hands us rewritten headers;
// - a client that goes away after sending its request is not noticed ('aborted' only fires
//   mid-body): the engine calls abort(), which destroys the backend request;
// - with selfHandleResponse the status and headers are the caller's to write (rawHeaders);
// - a body cut short is only visible through `complete`, which the engine checks.
import http from 'node:http';
import https from 'node:https';
import httpProxy from 'http-proxy';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { UpstreamError } from '../errors.js';
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
  /** Another target than backend.url (offload base, static server). */
  target?: string;
}

interface Pending {
  resolve(r: UpstreamResponse): void;
  reject(e: unknown): void;
  proxyReq?: http.ClientRequest;
  settled: boolean;
  timer?: NodeJS.Timeout;
}

export class BackendProxy {
  private readonly proxy: httpProxy;
  private readonly pending = new WeakMap<IncomingMessage, Pending>();
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;

  constructor(private readonly target: string, private readonly timeoutMs: number) {
    const agentOpts = { keepAlive: true, maxSockets: 512, maxFreeSockets: 64, scheduling: 'lifo' as const };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(agentOpts);
    this.proxy = httpProxy.createProxyServer({ selfHandleResponse: true, xfwd: false, ws: false });
    this.proxy.on('proxyReq', (proxyReq, req) => this.onProxyReq(proxyReq, req));
    this.proxy.on('proxyRes', (proxyRes, req) => this.onProxyRes(proxyRes, req));
    // A client socket already gone when the backend errored: http-proxy skips the callback.
    this.proxy.on('econnreset', (err, req) => this.fail(req, err));
  }

  fetch(r: BackendRequest): Promise<UpstreamResponse> {
    return new Promise((resolve, reject) => {
      const p: Pending = { resolve, reject, settled: false };
      this.pending.set(r.req, p);
      // Waiting for headers is bounded from the start, including a wait for a pooled socket.
      p.timer = setTimeout(() => {
        const err = new UpstreamError('MF_BACKEND_TIMEOUT', `backend sent no response within ${this.timeoutMs} ms`);
        p.proxyReq?.destroy(err);
        this.fail(r.req, err);
      }, this.timeoutMs);
      const target = r.target ?? this.target;
      // http-proxy copies req.headers and req.url into the outgoing request synchronously:
      // hand it the rewritten ones for that moment, and put the client's back after.
      const savedHeaders = r.req.headers;
      r.req.headers = r.headers as http.IncomingHttpHeaders;
      const savedUrl = r.req.url;
      if (r.path !== undefined) r.req.url = r.path;
      this.proxy.web(r.req, r.res, {
        target,
        agent: target.startsWith('https:') ? this.httpsAgent : this.httpAgent,
        method: r.method,
        changeOrigin: r.target !== undefined,
      } as httpProxy.ServerOptions, (err) => this.fail(r.req, err));
      r.req.url = savedUrl;
      r.req.headers = savedHeaders;
    });
  }

  close(): void {
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
    this.proxy.close();
  }

  private onProxyReq(proxyReq: http.ClientRequest, req: IncomingMessage): void {
    const p = this.pending.get(req);
    if (!p) return;
    p.proxyReq = proxyReq;
    if (p.settled) {
      proxyReq.destroy();
      return;
    }
    // Socket inactivity covers both the wait for headers and each gap between body bytes.
    proxyReq.setTimeout(this.timeoutMs, () => {
      proxyReq.destroy(new UpstreamError('MF_BACKEND_TIMEOUT', `backend idle for ${this.timeoutMs} ms`));
    });
  }

  private onProxyRes(proxyRes: IncomingMessage, req: IncomingMessage): void {
    const p = this.pending.get(req);
    if (!p || p.settled) {
      proxyRes.destroy();
      return;
    }
    p.settled = true;
    clearTimeout(p.timer);
    const proxyReq = p.proxyReq;
    p.resolve({
      status: proxyRes.statusCode ?? 502,
      rawHeaders: proxyRes.rawHeaders,
      body: proxyRes,
      complete: () => proxyRes.complete,
      abort: () => {
        proxyRes.destroy();
        proxyReq?.destroy();
      },
    });
  }

  private fail(req: IncomingMessage, err: unknown): void {
    const p = this.pending.get(req);
    if (!p || p.settled) return;
    p.settled = true;
    clearTimeout(p.timer);
    p.proxyReq?.destroy();
    const code = (err as { code?: string })?.code;
    p.reject(err instanceof UpstreamError ? err : new UpstreamError('MF_BACKEND_FAILED', `backend request failed${code ? `: ${code}` : ''}`, { cause: err }));
  }

  /** Cancel a request still waiting for headers (the client went away). */
  cancel(req: IncomingMessage): void {
    this.fail(req, new UpstreamError('MF_BACKEND_FAILED', 'client went away'));
  }
}
