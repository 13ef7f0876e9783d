// The bare forwarding baselines of issue 18: a Node server that forwards every request to one
// backend and streams the answer back, nothing else (no header rewriting, no cache, no logs).
// Run as its own process:
//   node dist/bench/lib/bare-proxy-server.js --kind http-proxy|undici --backend http://127.0.0.1:PORT [--port 0]
// - http-proxy: http-proxy's web() with a keep-alive node:http agent (what memfront used);
// - undici: an undici Pool, its answer's status, raw headers and body piped to the client.
// It prints its port on stdout and exits when stdin closes (the parent died) or on SIGTERM.

import http from 'node:http';
import type { AddressInfo } from 'node:net';

function parseArgs(argv: string[]): { kind: string; backend: string; port: number } {
  let kind = 'undici';
  let backend = '';
  let port = 0;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--kind') kind = argv[++i] ?? '';
    else if (arg === '--backend') backend = argv[++i] ?? '';
    else if (arg === '--port') port = Number(argv[++i]);
    else throw new Error(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (kind !== 'http-proxy' && kind !== 'undici') throw new Error('--kind wants http-proxy or undici');
  if (!backend) throw new Error('--backend URL is required');
  return { kind, backend, port };
}

// Hop-by-hop fields a proxy must not pass on (and undici refuses some of them).
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'proxy-connection', 'te', 'trailer', 'expect']);

async function handlerFor(kind: string, backend: string): Promise<http.RequestListener> {
  if (kind === 'http-proxy') {
    const { default: httpProxy } = await import('http-proxy');
    const agent = new http.Agent({ keepAlive: true, maxSockets: 512, maxFreeSockets: 64, scheduling: 'lifo' });
    const proxy = httpProxy.createProxyServer({ target: backend, agent });
    proxy.on('error', (_err, _req, res) => {
      if ('writeHead' in res && !res.headersSent) res.writeHead(502);
      res.end();
    });
    return (req, res) => proxy.web(req, res);
  }
  const { Pool } = await import('undici');
  const pool = new Pool(backend, { connections: 512, keepAliveTimeout: 4000 });
  return (req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined && !HOP.has(k)) headers[k] = v;
    pool.request({ path: req.url ?? '/', method: req.method as 'GET', headers, responseHeaders: 'raw' }).then(
      (up) => {
        // responseHeaders 'raw': [name, value, ...] as strings, as the backend spelled them.
        const raw = up.headers as unknown as string[];
        const flat: string[] = [];
        for (let i = 0; i < raw.length; i += 2) if (!HOP.has(raw[i].toLowerCase())) flat.push(raw[i], raw[i + 1]);
        res.writeHead(up.statusCode, flat);
        up.body.pipe(res);
      },
      () => {
        if (!res.headersSent) res.writeHead(502);
        res.end();
      },
    );
  };
}

const { kind, backend, port } = parseArgs(process.argv.slice(2));
const server = http.createServer(await handlerFor(kind, backend));
server.keepAliveTimeout = 5000;
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`);
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
