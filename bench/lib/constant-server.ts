// A bare node:http server answering every request with one constant body: the ceiling one Node
// process can reach, for comparing memfront against. Run as its own process:
//   node dist/bench/lib/constant-server.js --size 10240 [--port 0] [--header "Cache-Control: public, max-age=3600"]
//                                         [--distinct N]
// With --distinct, N different bodies of that size, one per request path (by a hash of it):
// what serving N distinct pages from memory costs, rather than one body that stays in the CPU cache.
// It prints its port on stdout and exits when stdin closes (the parent died) or on SIGTERM.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constantBody } from './constant-body.js';

function parseArgs(argv: string[]): { size: number; port: number; distinct: number; headers: Record<string, string> } {
  let size = 10240;
  let distinct = 1;
  let port = 0;
  const headers: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--size') size = Number(argv[++i]);
    else if (arg === '--port') port = Number(argv[++i]);
    else if (arg === '--distinct') distinct = Number(argv[++i]);
    else if (arg === '--header') {
      const h = argv[++i] ?? '';
      const colon = h.indexOf(':');
      if (colon <= 0) throw new Error(`--header wants "Name: value", got ${JSON.stringify(h)}`);
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    } else throw new Error(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (!Number.isInteger(size) || size < 0) throw new Error('--size wants a whole number of bytes');
  if (!Number.isInteger(distinct) || distinct < 1) throw new Error('--distinct wants a whole number >= 1');
  return { size, port, distinct, headers };
}

const { size, port, distinct, headers } = parseArgs(process.argv.slice(2));
const bodies = Array.from({ length: distinct }, (_, i) => constantBody(size, i));
const responseHeaders = { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': String(size), ...headers };
const byPath = new Map<string, Buffer>();

function bodyFor(url: string): Buffer {
  if (distinct === 1) return bodies[0];
  let body = byPath.get(url);
  if (body === undefined) {
    let h = 0;
    for (let i = 0; i < url.length; i++) h = (Math.imul(h, 31) + url.charCodeAt(i)) >>> 0;
    body = bodies[h % distinct];
    if (byPath.size < 100_000) byPath.set(url, body);
  }
  return body;
}

const server = createServer((req, res) => {
  const body = bodyFor(req.url ?? '/');
  res.writeHead(200, responseHeaders);
  res.end(req.method === 'HEAD' ? undefined : body);
});
server.listen(port, '127.0.0.1', () => {
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
