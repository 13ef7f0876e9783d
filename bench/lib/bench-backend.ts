// The bench's CMS backend, as its own process: the demo CMS's pages (cms-routes.ts) after a
// render delay, plus what a measurement needs from the origin:
//   POST /__bench/update?path=/post/7   the page changes (a revision marker in body and ETag)
//   GET  /__bench/stats                 {"requests": n, "bytes": n}: what the CMS rendered
//   POST /__bench/reset                 counters to 0, every page back to its first revision
// /__bench/* requests are not counted. Run as:
//   node dist/bench/lib/bench-backend.js --pages 997 [--render-ms 20] [--port 0]
// It prints its port on stdout once listening and exits when stdin closes or on SIGTERM.

import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cmsAnswer } from '../../demo/cms-routes.js';
import { revised } from './page-revision.js';
import { flagValue, numberFlag } from './cli-flags.js';

const argv = process.argv.slice(2);
const pages = numberFlag(argv, 'pages', 500);
const renderMs = numberFlag(argv, 'render-ms', 20);
const port = numberFlag(argv, 'port', 0);
const host = flagValue(argv, 'host') ?? '127.0.0.1';

let requests = 0;
let bytes = 0;
const revisions = new Map<string, number>();

function control(req: IncomingMessage, res: ServerResponse, url: URL): void {
  const json = (status: number, value: unknown) => {
    const body = JSON.stringify(value);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  if (url.pathname === '/__bench/stats') return json(200, { requests, bytes });
  if (url.pathname === '/__bench/reset' && req.method === 'POST') {
    requests = 0;
    bytes = 0;
    revisions.clear();
    return json(200, { ok: true });
  }
  if (url.pathname === '/__bench/update' && req.method === 'POST') {
    const path = url.searchParams.get('path');
    if (!path) return json(400, { error: 'path wanted' });
    const revision = (revisions.get(path) ?? 0) + 1;
    revisions.set(path, revision);
    return json(200, { path, revision });
  }
  json(404, { error: 'unknown control path' });
}

const server = createServer((req, res) => {
  req.resume();
  const url = new URL(req.url ?? '/', 'http://bench.invalid');
  if (url.pathname.startsWith('/__bench/')) return control(req, res, url);
  requests++;
  const a = revised(cmsAnswer(url.pathname, req.headers.cookie, pages), revisions.get(url.pathname) ?? 0);
  const send = () => {
    res.writeHead(a.status, { ...a.headers, 'Content-Length': String(a.body.length), Date: new Date().toUTCString() });
    if (req.method === 'HEAD') return res.end();
    bytes += a.body.length;
    res.end(a.body);
  };
  const wait = renderMs + a.delayMs;
  if (wait <= 0) return send();
  const timer = setTimeout(send, wait);
  res.on('close', () => clearTimeout(timer));
});

// Render every post once now, so the first target measured does not pay for filling the
// CMS's own memo and the later ones get it free (the memo holds 64 MB; ~1,200 posts).
for (let n = 1; n <= Math.min(pages, 1200); n++) cmsAnswer(`/post/${n}`, undefined, pages);

server.keepAliveTimeout = 60_000;
server.listen(port, host, () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});

const stop = () => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('error', stop);
process.stdin.resume();
