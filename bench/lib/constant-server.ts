// A bare node:http server answering every request with one constant body: the ceiling one Node
// process can reach, for comparing memfront against. Run as its own process:
//   node dist/bench/lib/constant-server.js --size 10240 [--port 0] [--header "Cache-Control: public, max-age=3600"]
// It prints its port on stdout and exits when stdin closes (the parent died) or on SIGTERM.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { constantBody } from './constant-body.js';

function parseArgs(argv: string[]): { size: number; port: number; headers: Record<string, string> } {
  let size = 10240;
  let port = 0;
  const headers: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--size') size = Number(argv[++i]);
    else if (arg === '--port') port = Number(argv[++i]);
    else if (arg === '--header') {
      const h = argv[++i] ?? '';
      const colon = h.indexOf(':');
      if (colon <= 0) throw new Error(`--header wants "Name: value", got ${JSON.stringify(h)}`);
      headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
    } else throw new Error(`unknown argument ${JSON.stringify(arg)}`);
  }
  if (!Number.isInteger(size) || size < 0) throw new Error('--size wants a whole number of bytes');
  return { size, port, headers };
}

const { size, port, headers } = parseArgs(process.argv.slice(2));
const body = constantBody(size);
const responseHeaders = { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': String(body.length), ...headers };

const server = createServer((req, res) => {
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
