// A fake CMS backend on node:http for the demo, benches and tests: WordPress-like pages,
// cookies, a binary image, a slow page and a feed (see cms-routes.ts), counting every request.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cmsAnswer } from './cms-routes.js';

export interface CmsBackendOptions {
  port?: number;      // default 0 (any free port)
  host?: string;      // default 127.0.0.1
  renderMs?: number;  // added to every response, as a page render would be; default 0
  pages?: number;     // how many /post/<n> exist; default 500
}

export interface CmsBackend {
  port: number;
  url: string;
  hits: () => number;
  close(): Promise<void>;
}

export async function startCmsBackend(opts: CmsBackendOptions = {}): Promise<CmsBackend> {
  const host = opts.host ?? '127.0.0.1';
  const renderMs = opts.renderMs ?? 0;
  const pages = opts.pages ?? 500;
  let hits = 0;
  const timers = new Set<NodeJS.Timeout>();

  function answer(req: IncomingMessage, res: ServerResponse): void {
    hits++;
    const path = new URL(req.url ?? '/', 'http://cms.invalid').pathname;
    const a = cmsAnswer(path, req.headers.cookie, pages);
    const send = () => {
      res.writeHead(a.status, { ...a.headers, 'Content-Length': String(a.body.length), Date: new Date().toUTCString() });
      res.end(req.method === 'HEAD' ? undefined : a.body);
    };
    const wait = renderMs + a.delayMs;
    if (wait <= 0) return send();
    const timer = setTimeout(() => {
      timers.delete(timer);
      send();
    }, wait);
    timers.add(timer);
    // A client that gives up on /slow should not keep the render (or close()) waiting.
    res.on('close', () => {
      clearTimeout(timer);
      timers.delete(timer);
    });
  }

  const server = createServer((req, res) => {
    // Drain any request body (POST to a page is answered like GET, as WordPress would).
    req.resume();
    answer(req, res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  return {
    port,
    url: `http://${urlHost}:${port}`,
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
