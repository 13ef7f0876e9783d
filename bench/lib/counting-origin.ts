// The origin behind the caches in the hit bench: one constant HTML body for every path, cacheable
// for an hour, and a count of what it answered. While hits are measured the count must not move:
// a request that reaches it was a miss, whatever the cache's own headers said.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constantBody } from './constant-body.js';

export interface CountingOrigin {
  url: string;       // http://127.0.0.1:port, no trailing slash
  port: number;
  body: Buffer;
  /** Requests answered since start. */
  requests(): number;
  close(): Promise<void>;
}

export async function startCountingOrigin(size: number): Promise<CountingOrigin> {
  const body = constantBody(size);
  const headers = {
    'Content-Type': 'text/html; charset=UTF-8',
    'Content-Length': String(body.length),
    'Cache-Control': 'public, max-age=3600',
  };
  let count = 0;
  const server: Server = createServer((req, res) => {
    count++;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    body,
    requests: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
