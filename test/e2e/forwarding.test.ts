// The backend route's own guarantees (src/upstream/backend-proxy.ts, undici underneath): request
// bodies framed by memfront (their own Content-Length, or chunked for one that came chunked),
// request headers undici refuses never handed to it, the answer's raw headers kept, the
// backend.timeoutMs bounds, and a failing backend answered with a 502 even when the request
// had a body.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

const TIMEOUT_MS = 400;
const SESSION = { Cookie: 'wordpress_logged_in_abc=1' };
let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

interface Seen {
  method: string;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
}
const seen: Seen[] = [];

/** Records what the backend got, body included, and answers with two Set-Cookie fields. */
function echo(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks).toString();
    seen.push({ method: req.method ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body });
    res.writeHead(200, [['Content-Type', 'text/plain'], ['Set-Cookie', 'a=1'], ['Set-Cookie', 'b=2'], ['X-Mixed-Case', 'yes'], ['Content-Length', String(body.length + 5)]].flat());
    res.end(`echo:${body}`);
  });
}

/** One request over a raw socket; resolves with what came back. */
function raw(port: number, text: string | Buffer[], waitMs = 1500): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let out = '';
    socket.on('data', (d) => (out += d.toString()));
    socket.on('connect', () => {
      if (typeof text === 'string') socket.write(text);
      else for (const part of text) socket.write(part);
    });
    socket.on('error', () => resolve(out));
    socket.on('close', () => resolve(out));
    setTimeout(() => {
      socket.destroy();
      resolve(out);
    }, waitMs);
  });
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({ '/echo': echo, '/stall': () => {} });
  stack = await startStack({ backend: { url: backend.url, timeoutMs: TIMEOUT_MS }, cache: { memcached: { servers: [mc.address] } } });
});
after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

function port(): number {
  return Number(new URL(stack.url).port);
}

describe('request bodies, framed by memfront', () => {
  it('a POST with Content-Length goes with that length, the body whole', async () => {
    seen.length = 0;
    const out = await raw(port(), 'POST /echo HTTP/1.1\r\nHost: site.test\r\nContent-Length: 11\r\nConnection: close\r\n\r\nhello world');
    assert.match(out, /^HTTP\/1\.1 200/);
    assert.match(out, /echo:hello world/);
    assert.equal(seen[0].method, 'POST');
    assert.equal(seen[0].headers['content-length'], '11');
    assert.equal(seen[0].headers['transfer-encoding'], undefined);
    assert.equal(seen[0].body, 'hello world');
  });

  it('a chunked POST goes chunked, with no Content-Length, the body whole', async () => {
    seen.length = 0;
    const out = await raw(port(), 'POST /echo HTTP/1.1\r\nHost: site.test\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200/);
    assert.equal(seen[0].headers['transfer-encoding'], 'chunked');
    assert.equal(seen[0].headers['content-length'], undefined);
    assert.equal(seen[0].body, 'hello world');
  });

  it('Expect: 100-continue is answered here and not passed on; the body arrives', async () => {
    seen.length = 0;
    const out = await raw(port(), 'PUT /echo HTTP/1.1\r\nHost: site.test\r\nContent-Length: 4\r\nExpect: 100-continue\r\nConnection: close\r\n\r\nbody');
    assert.match(out, /HTTP\/1\.1 200/);
    assert.equal(seen[0].headers.expect, undefined);
    assert.equal(seen[0].body, 'body');
  });

  it('a POST with an empty body sends Content-Length: 0', async () => {
    seen.length = 0;
    const r = await get(`${stack.url}/echo`, { method: 'POST', headers: { 'Content-Length': '0' } });
    assert.equal(r.status, 200);
    assert.equal(seen[0].headers['content-length'], '0');
    assert.equal(seen[0].body, '');
  });

  it('hop-by-hop request headers stay on this hop', async () => {
    seen.length = 0;
    await get(`${stack.url}/echo`, { headers: { ...SESSION, Connection: 'close, X-Private', 'X-Private': 'secret', 'Keep-Alive': 'timeout=1', TE: 'trailers', Upgrade: 'h2c' } });
    const h = seen[0].headers;
    assert.equal(h['x-private'], undefined);
    assert.equal(h['keep-alive'], undefined);
    assert.equal(h.te, undefined);
    assert.equal(h.upgrade, undefined);
    assert.notEqual(h.connection, 'close', 'the client\'s Connection: close would end the pooled connection');
  });
});

describe('answers and failures', () => {
  it('keeps the answer\'s header names as sent and repeated fields apart', async () => {
    const r = await get(`${stack.url}/echo`, { headers: SESSION });
    assert.equal(r.status, 200);
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers['x-cache'], 'BYPASS');
    assert.equal(r.body.toString(), 'echo:');
  });

  it('a HEAD with a session goes upstream as HEAD', async () => {
    seen.length = 0;
    const r = await get(`${stack.url}/echo`, { method: 'HEAD', headers: SESSION });
    assert.equal(r.status, 200);
    assert.equal(seen[0].method, 'HEAD');
    assert.equal(r.body.length, 0);
  });

  it('no headers within backend.timeoutMs: 504, in about that time', async () => {
    const t0 = performance.now();
    const r = await get(`${stack.url}/stall`, { headers: SESSION });
    const ms = performance.now() - t0;
    assert.equal(r.status, 504);
    assert.ok(ms >= TIMEOUT_MS - 20 && ms < TIMEOUT_MS + 700, `answered after ${ms.toFixed(0)} ms`);
  });

  it('a backend that refuses connections: 502, also for a request with a body', async () => {
    const dead = await startStack({ backend: { url: 'http://127.0.0.1:1', timeoutMs: TIMEOUT_MS }, cache: { memcached: { servers: [mc.address] } } });
    try {
      const out = await raw(Number(new URL(dead.url).port), 'POST /x HTTP/1.1\r\nHost: site.test\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
      assert.match(out, /^HTTP\/1\.1 502/);
      const r = await get(`${dead.url}/y`, { headers: SESSION });
      assert.equal(r.status, 502);
    } finally {
      await dead.close();
    }
  });
});
