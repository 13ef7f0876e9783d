// Routes and Perlbal-style reproxy end to end: a real memcached, a counting fake backend that
// answers with X-Reproxy-* headers, fake file servers, trap servers that must never be
// contacted, and memfront between (in-process; as its own process for the memory check).
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { freePort, listenOn } from '../helpers/listen.js';
import { configFrom, get, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';
import { Dispatcher } from '../../src/engine/dispatch.js';
import { BackendProxy } from '../../src/upstream/backend-proxy.js';
import { createLogger } from '../../src/log.js';
import { substitute } from '../../src/policy/route-match.js';

// ---- fakes

interface FileServer {
  url: string;
  port: number;
  count(path: string): number;
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  connections(): number;
  close(): Promise<void>;
}

type FileSpec = { body: Buffer; headers?: Record<string, string>; status?: number } | { stream: number; chunk: Buffer };

/** A static file server with Range and HEAD, counting requests and connections. */
async function startFileServer(name: string, files: Record<string, FileSpec>): Promise<FileServer> {
  const hits = new Map<string, number>();
  const seen: FileServer['seen'] = [];
  let conns = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    hits.set(url, (hits.get(url) ?? 0) + 1);
    seen.push({ method: req.method ?? '', url, headers: req.headers });
    const f = files[url.split('?')[0]];
    if (!f) {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'X-File-Server': name });
      res.end(`${name}: no such file`);
      return;
    }
    if ('stream' in f) {
      // A big file made of one repeated chunk, sent with backpressure: the server holds nothing.
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': f.stream, 'X-File-Server': name });
      let left = f.stream;
      const pump = () => {
        while (left > 0) {
          const n = Math.min(left, f.chunk.length);
          left -= n;
          if (!res.write(n === f.chunk.length ? f.chunk : f.chunk.subarray(0, n))) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
      return;
    }
    const base = { 'Content-Type': 'text/plain; charset=utf-8', 'Accept-Ranges': 'bytes', 'X-File-Server': name, ...f.headers };
    const size = f.body.length;
    const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (range && (f.status ?? 200) === 200) {
      let start = range[1] === '' ? size - Number(range[2]) : Number(range[1]);
      let end = range[1] === '' || range[2] === '' ? size - 1 : Math.min(Number(range[2]), size - 1);
      if (start < 0) start = 0;
      if (start >= size || end < start) {
        res.writeHead(416, { ...base, 'Content-Range': `bytes */${size}` });
        res.end();
        return;
      }
      end = Math.min(end, size - 1);
      res.writeHead(206, { ...base, 'Content-Range': `bytes ${start}-${end}/${size}`, 'Content-Length': end - start + 1 });
      res.end(req.method === 'HEAD' ? undefined : f.body.subarray(start, end + 1));
      return;
    }
    res.writeHead(f.status ?? 200, { ...base, 'Content-Length': size });
    res.end(req.method === 'HEAD' ? undefined : f.body);
  });
  server.on('connection', () => conns++);
  server.keepAliveTimeout = 30_000;
  const port = await listenOn(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    count: (p) => hits.get(p) ?? 0,
    seen,
    connections: () => conns,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** A server that must never be contacted: it counts TCP connections, on every address given. */
async function startTrap(host: string): Promise<{ port: number; connections(): number; reset(): void; close(): Promise<void> }> {
  let conns = 0;
  const server = net.createServer((socket) => {
    conns++;
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\ntrapped');
  });
  const port = await listenOn(server, host);
  return {
    port,
    connections: () => conns,
    reset: () => {
      conns = 0;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Accepts connections and never answers: a target that hangs before its first byte. */
async function startSilent(): Promise<{ port: number; requests(): number; lastRequested(): number; closed(n: number): boolean; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const closed: boolean[] = [];
  let requests = 0;
  let lastRequested = -1;
  const server = net.createServer((s) => {
    const n = closed.push(false) - 1;
    sockets.add(s);
    s.once('data', () => {
      requests++;
      lastRequested = n;
    });
    s.on('close', () => {
      closed[n] = true;
      sockets.delete(s);
    });
  });
  const port = await listenOn(server);
  return {
    port,
    /** Connections on which a request arrived, and the last of them (from 0). */
    requests: () => requests,
    lastRequested: () => lastRequested,
    /** Whether the n-th connection accepted (from 0) has closed. */
    closed: (n) => closed[n] === true,
    close: () => new Promise((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** A backend answer that hands the request on with X-Reproxy-* headers (and a body to be dropped). */
function reproxyAnswer(headers: Record<string, string>, status = 200) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = 'BACKEND BODY: must never reach the client';
    res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
}

// ---- the stack

const HELLO = Buffer.from('hello from the file server\n');
const DOC = Buffer.from('%PDF-1.4 pretend this is a report '.repeat(40));
const PAGE = Buffer.from('<!doctype html><title>reproxied</title>' + '<p>reproxied page</p>'.repeat(200));
const STALE_COPY = Buffer.from('an older, shorter copy\n');
const DIGITS = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz');

let mc: MemcachedProcess;
let backend: FakeBackend;
let fileA: FileServer;
let fileB: FileServer;
let trapAny: Awaited<ReturnType<typeof startTrap>>;
let trapLocal: Awaited<ReturnType<typeof startTrap>>;
let silent: Awaited<ReturnType<typeof startSilent>>;
let deadPort: number;
const filesA: Record<string, FileSpec> = {};
/** Where the backend says /r/moving lives: changed by the test once the file moves. */
let movingTo = '/files/moves-away';
let stack: Stack;
const TIMEOUT_MS = 800;

before(async () => {
  mc = await startMemcached();
  fileA = await startFileServer('A', filesA);
  Object.assign(filesA, {
    '/files/hello.txt': { body: HELLO },
    '/files/hello-stale.txt': { body: STALE_COPY },
    '/files/doc': { body: DOC, headers: { 'Content-Type': 'application/octet-stream' } },
    '/files/page.html': { body: PAGE, headers: { 'Content-Type': 'text/html' } },
    '/files/digits.txt': { body: DIGITS, headers: { 'Cache-Control': 'public, max-age=60' } },
    '/files/redirect': { body: Buffer.from(''), status: 302, headers: {} },
    '/files/error': { body: Buffer.from('oops'), status: 500 },
    '/files/moves-away': { body: Buffer.from('first home\n') },
  });
  fileB = await startFileServer('B', {
    '/img/cat.jpg': { body: Buffer.from('JPEG bytes of a cat'), headers: { 'Content-Type': 'image/jpeg' } },
  });
  // Every loopback address and ::1: whatever name a bad URL uses, it would land here.
  trapAny = await startTrap('::');
  trapLocal = await startTrap('127.0.0.1');
  silent = await startSilent();
  deadPort = await freePort();
  const A = fileA.url;
  backend = await startBackend({
    '/r/first-404': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/missing ${A}/files/hello.txt` }),
    '/r/dead-first': reproxyAnswer({ 'X-Reproxy-URL': `http://127.0.0.1:${deadPort}/files/hello.txt ${A}/files/hello.txt` }),
    '/r/preserve': reproxyAnswer({
      'X-Reproxy-URL': `${A}/files/doc`,
      'Content-Type': 'application/pdf',
      'Content-Disposition': 'attachment; filename="report.pdf"',
      'X-Backend-Only': 'not for clients',
      'Set-Cookie': 'backend=1',
    }, 404),
    '/r/expected-size': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/hello-stale.txt ${A}/files/hello.txt`, 'X-Reproxy-Expected-Size': String(HELLO.length) }),
    '/r/cache-for': reproxyAnswer({
      'X-Reproxy-URL': `${A}/files/doc`,
      'X-Reproxy-Cache-For': '60; Content-Type X-Remembered Set-Cookie',
      'Content-Type': 'application/x-remembered',
      'Content-Disposition': 'inline',
      'X-Remembered': 'yes',
      'X-Not-Named': 'no',
      'Set-Cookie': 'visitor=1',
      'Cache-Control': 'no-store',
    }),
    '/r/moving': (req, res) => reproxyAnswer({ 'X-Reproxy-URL': `${A}${movingTo}`, 'X-Reproxy-Cache-For': '60', 'Cache-Control': 'no-store' })(req, res),
    '/r/page': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/page.html`, 'Cache-Control': 'public, max-age=60' }),
    '/r/digits': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/digits.txt` }),
    '/r/service': reproxyAnswer({ 'X-Reproxy-Service': 'images' }),
    '/img/cat.jpg': reproxyAnswer({ 'X-Reproxy-Service': 'images' }),
    '/r/unknown-service': reproxyAnswer({ 'X-Reproxy-Service': 'nope' }),
    '/r/all-fail': reproxyAnswer({
      'X-Reproxy-URL': `http://127.0.0.1:${deadPort}/x http://127.0.0.1:${silent.port}/x ${A}/files/missing ${A}/files/error`,
    }),
    '/r/redirect': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/redirect` }),
    '/r/silent': reproxyAnswer({ 'X-Reproxy-URL': `http://127.0.0.1:${silent.port}/never` }),
    '/r/too-many': reproxyAnswer({ 'X-Reproxy-URL': Array.from({ length: 12 }, (_, i) => `${A}/files/nope-${i}`).join(' ') }),
    '/r/too-long': reproxyAnswer({ 'X-Reproxy-URL': `${A}/files/hello.txt?${'x'.repeat(9000)}` }),
    '/echo': (req, res) => {
      const body = Buffer.from(JSON.stringify(req.headers));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
      res.end(body);
    },
  }, (req, res) => {
    // /r/trap/N: the N-th bad URL, set per test through `trapUrls`.
    const m = /^\/r\/trap\/(\d+)$/.exec(req.url ?? '');
    if (m) return reproxyAnswer({ 'X-Reproxy-URL': trapUrls()[Number(m[1])] })(req, res);
    res.writeHead(404);
    res.end();
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: TIMEOUT_MS },
    cache: { memcached: { servers: [mc.address], timeoutMs: 200 }, staleWhileRevalidate: 0, staleIfError: 0 },
    reproxy: {
      enabled: true,
      allowedHosts: ['127.0.0.1'],
      services: { images: [`http://127.0.0.1:${deadPort}`, fileB.url] },
    },
    routes: [
      // Its host is not in allowedHosts: written literally by the operator, it needs not be.
      { match: '^/dl/([^?]*)', to: 'reproxy', url: `http://localhost:${fileA.port}/files/$1` },
    ],
  });
});

after(async () => {
  await stack?.close();
  await Promise.all([backend?.close(), fileA?.close(), fileB?.close(), trapAny?.close(), trapLocal?.close(), silent?.close()]);
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
});

function trapUrls(): string[] {
  return [
    `http://localhost:${trapAny.port}/not-allowed`,
    `http://127.0.0.2:${trapAny.port}/not-allowed`,
    `http://[::1]:${trapAny.port}/not-allowed`,
    // The userinfo trick: reads like the allowed 127.0.0.1, names localhost.
    `http://127.0.0.1:${fileA.port}@localhost:${trapAny.port}/userinfo`,
    // An allowed host, but with userinfo at all.
    `http://user:pw@127.0.0.1:${trapLocal.port}/userinfo`,
    'file:///etc/passwd',
    `ftp://127.0.0.1:${trapLocal.port}/x`,
    `gopher://127.0.0.1:${trapLocal.port}/_x`,
  ];
}

function noReproxyHeaders(headers: http.IncomingHttpHeaders): void {
  for (const name of Object.keys(headers)) assert.ok(!name.startsWith('x-reproxy-'), `${name} reached the client`);
}

describe('X-Reproxy-URL', () => {
  it('first URL 404, the second is served; the backend body and X-Reproxy-* never reach the client', async () => {
    const before404 = fileA.count('/files/missing');
    const r = await get(`${stack.url}/r/first-404`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, HELLO);
    assert.equal(r.headers['x-file-server'], 'A');
    assert.equal(fileA.count('/files/missing'), before404 + 1);
    noReproxyHeaders(r.headers);
  });

  it('a dead host first, then a live one', async () => {
    const r = await get(`${stack.url}/r/dead-first`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, HELLO);
  });

  it('keeps the preserved headers from the backend (Content-Type, Content-Disposition) and drops the others, whatever the backend status', async () => {
    const r = await get(`${stack.url}/r/preserve`);
    assert.equal(r.status, 200, 'the target\'s status, not the backend\'s 404');
    assert.deepEqual(r.body, DOC);
    assert.equal(r.headers['content-type'], 'application/pdf');
    assert.equal(r.headers['content-disposition'], 'attachment; filename="report.pdf"');
    assert.equal(r.headers['x-backend-only'], undefined);
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal(r.headers['x-file-server'], 'A', 'the target\'s own headers stay');
    assert.equal(r.headers['content-length'], String(DOC.length));
  });

  it('a target whose size differs from X-Reproxy-Expected-Size is skipped', async () => {
    const before = fileA.count('/files/hello-stale.txt');
    const r = await get(`${stack.url}/r/expected-size`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, HELLO);
    assert.equal(fileA.count('/files/hello-stale.txt'), before + 1, 'the wrong-sized copy was asked, then skipped');
  });

  it('a redirect from a target is not followed, and not an answer', async () => {
    const r = await get(`${stack.url}/r/redirect`);
    assert.equal(r.status, 502);
    assert.equal(r.headers.location, undefined);
  });

  it('the target gets the client\'s method and Range and its own Host, not the client\'s Host, cookies or credentials', async () => {
    const n = fileA.seen.length;
    const r = await get(`${stack.url}/r/digits`, { headers: { host: 'www.example.test', cookie: 'theme=dark', range: 'bytes=0-3', 'user-agent': 'ua-1' } });
    assert.equal(r.status, 206);
    const asked = fileA.seen.slice(n);
    assert.equal(asked.length, 1);
    assert.equal(asked[0].method, 'GET');
    // Contract (hostile input): the Host of the URL it is sent to; a client never picks the
    // file server's virtual host.
    assert.equal(asked[0].headers.host, `127.0.0.1:${fileA.port}`);
    assert.equal(asked[0].headers.range, 'bytes=0-3');
    assert.equal(asked[0].headers['user-agent'], 'ua-1');
    assert.equal(asked[0].headers.cookie, undefined);
    assert.equal(asked[0].headers.authorization, undefined);
    // The backend, for its part, got the cookie and was told memfront can reproxy.
    const toBackend = backend.seen.filter((s) => s.url === '/r/digits').at(-1)!;
    assert.equal(toBackend.headers.cookie, 'theme=dark');
    assert.equal(toBackend.headers['x-proxy-capabilities'], 'reproxy-file');
  });

  it('connections to a target are kept alive and reused', async () => {
    await get(`${stack.url}/r/first-404`);
    const before = fileA.connections();
    for (let i = 0; i < 5; i++) assert.equal((await get(`${stack.url}/r/first-404`)).status, 200);
    assert.equal(fileA.connections(), before, '10 sequential target requests opened no new connection');
  });
});

describe('safety', () => {
  it('a disallowed host, a userinfo trick, file: and other schemes are never contacted (the traps count 0 connections)', async () => {
    // The traps are reachable under every name used: a fetch would have landed there.
    for (const host of ['localhost', '127.0.0.2', '[::1]']) {
      assert.equal((await get(`http://${host}:${trapAny.port}/`)).body.toString(), 'trapped', host);
    }
    assert.equal((await get(`http://127.0.0.1:${trapLocal.port}/`)).body.toString(), 'trapped');
    trapAny.reset();
    trapLocal.reset();
    const urls = trapUrls();
    for (let i = 0; i < urls.length; i++) {
      const r = await get(`${stack.url}/r/trap/${i}`);
      assert.equal(r.status, 502, urls[i]);
      assert.ok(!r.body.toString().includes('trapped'), urls[i]);
      assert.ok(!r.body.toString().includes('root:'), urls[i]);
    }
    assert.equal(trapAny.connections(), 0);
    assert.equal(trapLocal.connections(), 0);
    const refusals = stack.log.lines.filter((l) => l.msg === 'reproxy URL refused (never fetched)').flatMap((l) => l.refused.map((x: { result: string }) => x.result));
    for (const reason of ['refused: host-not-allowed', 'refused: userinfo', 'refused: scheme']) assert.ok(refusals.includes(reason), reason);
  });

  it('client-sent X-Reproxy-* and X-Proxy-Capabilities are stripped and not followed', async () => {
    trapAny.reset();
    const r = await get(`${stack.url}/echo`, {
      headers: {
        'x-reproxy-url': `http://127.0.0.1:${trapAny.port}/client-sent`,
        'x-reproxy-service': 'images',
        'x-reproxy-cache-for': '60',
        'x-proxy-capabilities': 'reproxy-everything',
      },
    });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body.toString());
    for (const name of Object.keys(seen)) assert.ok(!name.startsWith('x-reproxy-'), `${name} reached the backend`);
    assert.equal(seen['x-proxy-capabilities'], 'reproxy-file');
    assert.equal(trapAny.connections(), 0);
  });

  it('when every URL fails (refused, silent, 404, 500): 502 within the timeouts, logged with the reason', async () => {
    const started = performance.now();
    const r = await get(`${stack.url}/r/all-fail`);
    const ms = performance.now() - started;
    assert.equal(r.status, 502);
    // One silent target costs one first-byte wait (undici's timers are coarse: give it slack);
    // the others fail at once.
    assert.ok(ms < TIMEOUT_MS + 1500, `took ${Math.round(ms)} ms`);
    await until(() => stack.log.requests().some((l) => l.url === '/r/all-fail'), 2000, 'log line');
    const line = stack.log.requests().find((l) => l.url === '/r/all-fail')!;
    assert.equal(line.status, 502);
    assert.equal(line.level, 40);
    assert.equal(line.err.code, 'MF_REPROXY_FAILED');
    assert.match(line.err.message, /ECONNREFUSED/);
    assert.match(line.err.message, /UND_ERR_HEADERS_TIMEOUT/);
    assert.match(line.err.message, /status 404/);
    assert.match(line.err.message, /status 500/);
  });
});

describe('limits and cancellation', () => {
  it('at most 10 URLs of a list are tried', async () => {
    const r = await get(`${stack.url}/r/too-many`);
    assert.equal(r.status, 502);
    const tried = Array.from({ length: 12 }, (_, i) => fileA.count(`/files/nope-${i}`));
    assert.deepEqual(tried, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('an X-Reproxy-URL over 8192 characters is refused whole: 502, nothing fetched', async () => {
    const before = fileA.seen.length;
    const r = await get(`${stack.url}/r/too-long`);
    assert.equal(r.status, 502);
    assert.equal(fileA.seen.length, before);
  });

  it('a client that goes away while a target is awaited: the target request is abandoned at once', async () => {
    const before = silent.requests();
    // Not a cacheable miss: the fetch of one outlives its client (test/security/holding.test.ts, #19).
    const req = http.get(`${stack.url}/r/silent`, { agent: false, headers: { cookie: 'PHPSESSID=1' } });
    req.on('error', () => {});
    // Once the request is on the wire: only closing the connection can take it back.
    await until(() => silent.requests() > before, 2000, 'memfront\'s request to reach the silent target');
    const n = silent.lastRequested();
    assert.equal(silent.closed(n), false);
    const gone = performance.now();
    req.destroy();
    // Well before the first-byte timeout would have ended it.
    await until(() => silent.closed(n), TIMEOUT_MS / 2, 'the target connection to close');
    assert.ok(performance.now() - gone < TIMEOUT_MS / 2);
  });
});

describe('X-Reproxy-Service', () => {
  it('sends the request\'s path and query to the service\'s servers in turn (the first is down)', async () => {
    const r = await get(`${stack.url}/img/cat.jpg?size=2`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'JPEG bytes of a cat');
    assert.equal(r.headers['x-file-server'], 'B');
    assert.equal(fileB.count('/img/cat.jpg?size=2'), 1);
  });

  it('an unknown service name is a 502 and an error log line', async () => {
    const r = await get(`${stack.url}/r/unknown-service`);
    assert.equal(r.status, 502);
    await until(() => stack.log.lines.some((l) => l.msg === 'unknown reproxy service'), 2000, 'error line');
    const line = stack.log.lines.find((l) => l.msg === 'unknown reproxy service')!;
    assert.equal(line.level, 50);
    assert.equal(line.service, 'nope');
  });
});

describe('X-Reproxy-Cache-For', () => {
  it('remembers the URLs and the named headers: the second request does not reach the backend', async () => {
    const first = await get(`${stack.url}/r/cache-for`);
    assert.equal(first.status, 200);
    assert.deepEqual(first.body, DOC);
    assert.equal(first.headers['content-type'], 'application/x-remembered');
    // Named headers are laid over the answer like preserved ones; a cookie never is.
    assert.equal(first.headers['x-remembered'], 'yes');
    assert.equal(first.headers['x-not-named'], undefined);
    assert.equal(first.headers['set-cookie'], undefined);
    assert.equal(backend.count('/r/cache-for'), 1);
    const targetBefore = fileA.count('/files/doc');
    const second = await get(`${stack.url}/r/cache-for`);
    assert.equal(second.status, 200);
    assert.equal(second.headers['x-cache'], 'MISS', 'no-store: not a page-cache hit, the memory of the URLs answered');
    assert.deepEqual(second.body, DOC);
    assert.equal(second.headers['content-type'], 'application/x-remembered');
    assert.equal(second.headers['content-disposition'], 'inline', 'preserveHeaders are remembered too');
    assert.equal(second.headers['x-remembered'], 'yes');
    assert.equal(second.headers['set-cookie'], undefined);
    assert.equal(backend.count('/r/cache-for'), 1, 'the backend was not asked again');
    assert.equal(fileA.count('/files/doc'), targetBefore + 1);
  });

  it('a remembered URL that fails is forgotten and the backend asked again', async () => {
    assert.equal((await get(`${stack.url}/r/moving`)).body.toString(), 'first home\n');
    assert.equal((await get(`${stack.url}/r/moving`)).body.toString(), 'first home\n');
    assert.equal(backend.count('/r/moving'), 1);
    delete filesA['/files/moves-away'];
    movingTo = '/files/hello.txt';
    const moved = await get(`${stack.url}/r/moving`);
    assert.equal(moved.status, 200);
    assert.deepEqual(moved.body, HELLO);
    assert.equal(backend.count('/r/moving'), 2);
    assert.deepEqual((await get(`${stack.url}/r/moving`)).body, HELLO);
    assert.equal(backend.count('/r/moving'), 2, 'the new answer is remembered in turn');
  });

  it('is not used for requests with a session: they ask the backend', async () => {
    await get(`${stack.url}/r/cache-for`);
    const before = backend.count('/r/cache-for');
    const r = await get(`${stack.url}/r/cache-for`, { headers: { cookie: 'PHPSESSID=abc' } });
    assert.equal(r.status, 200);
    assert.equal(backend.count('/r/cache-for'), before + 1);
  });
});

describe('Range and HEAD', () => {
  it('Range through reproxy gives the right bytes, and the part is not stored', async () => {
    const part = await get(`${stack.url}/r/digits?range`, { headers: { range: 'bytes=5-14' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), DIGITS.subarray(5, 15).toString());
    assert.equal(part.headers['content-range'], `bytes 5-14/${DIGITS.length}`);
    await stack.mf.settled();
    const whole = await get(`${stack.url}/r/digits?range`);
    assert.equal(whole.status, 200);
    assert.equal(whole.headers['x-cache'], 'MISS', 'the 206 was not stored as the page');
    assert.match(String(whole.headers['cache-status']), /fwd=miss; stored/, 'this one fetched, and stored, the whole file');
    assert.deepEqual(whole.body, DIGITS);
    // A Range on the stored entry is answered from it (once its write has finished).
    let hit = await get(`${stack.url}/r/digits?range`, { headers: { range: 'bytes=-4' } });
    await until(async () => (hit = await get(`${stack.url}/r/digits?range`, { headers: { range: 'bytes=-4' } })).headers['x-cache'] === 'HIT', 3000, 'a HIT');
    assert.equal(hit.status, 206);
    assert.equal(hit.body.toString(), 'wxyz');
  });

  it('an unsatisfiable Range: the target\'s 416 is passed on', async () => {
    const r = await get(`${stack.url}/r/digits?416`, { headers: { range: 'bytes=1000-' } });
    assert.equal(r.status, 416);
    assert.equal(r.headers['content-range'], `bytes */${DIGITS.length}`);
  });

  it('HEAD is carried to the target as HEAD: no body, the file\'s length, nothing stored', async () => {
    const n = fileA.seen.length;
    const r = await get(`${stack.url}/r/digits?head`, { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    assert.equal(r.headers['content-length'], String(DIGITS.length));
    assert.deepEqual(fileA.seen.slice(n).map((s) => s.method), ['HEAD']);
    await stack.mf.settled();
    const g = await get(`${stack.url}/r/digits?head`);
    assert.equal(g.headers['x-cache'], 'MISS', 'the bodiless answer was not stored');
    assert.match(String(g.headers['cache-status']), /fwd=miss; stored/);
    assert.deepEqual(g.body, DIGITS);
  });
});

describe('page cache and routes', () => {
  it('a reproxied page is a HIT on the second request (key = the client\'s URL)', async () => {
    const first = await get(`${stack.url}/r/page`);
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.match(String(first.headers['cache-status']), /stored/);
    // The entry is written just after the first answer ends (gzipped first): until then a
    // request is coalesced onto that fetch (a MISS that reaches nothing), then it is a HIT.
    let second = await get(`${stack.url}/r/page`);
    await until(async () => (second = await get(`${stack.url}/r/page`)).headers['x-cache'] === 'HIT', 3000, 'a HIT');
    assert.deepEqual(second.body, PAGE);
    assert.equal(second.headers['content-type'], 'text/html');
    assert.equal(backend.count('/r/page'), 1);
    assert.equal(fileA.count('/files/page.html'), 1);
  });

  it('a reproxy route answers from its url ($1 filled in) without the backend, and shows in the log', async () => {
    const before = backend.total();
    const r = await get(`${stack.url}/dl/hello.txt?x=1`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, HELLO);
    assert.equal(backend.total(), before);
    await until(() => stack.log.requests().some((l) => l.url === '/dl/hello.txt?x=1'), 2000, 'log line');
    assert.equal(stack.log.requests().find((l) => l.url === '/dl/hello.txt?x=1')!.route, 'reproxy');
    const missing = await get(`${stack.url}/dl/nothing-here`);
    assert.equal(missing.status, 502);
  });
});

describe('route adapters (the hook issue 4 plugs mogile and static into)', () => {
  it('an adapter answers its route: serving from targets as reproxy does, or falling back to the backend', async () => {
    const cfg = configFrom({
      backend: { url: backend.url, timeoutMs: TIMEOUT_MS },
      routes: [{ match: '^/media/(.*)$', to: 'mogile', key: '$1' }, { match: '^/assets/', to: 'static' }],
      mogile: { trackers: ['127.0.0.1:7001'], domain: 'www' },
      static: { servers: [fileA.url] },
    });
    const keys: string[] = [];
    const dispatcher = new Dispatcher(new BackendProxy(backend.url, TIMEOUT_MS), {
      cfg,
      logger: createLogger({ level: 'silent', pretty: false }),
      adapters: {
        mogile: (d, decision, h) => {
          keys.push(substitute(decision.route!.route.key!, decision.groups));
          const paths = [`http://127.0.0.1:${deadPort}/dev1/x.fid`, `${fileA.url}/files/hello.txt`];
          return h.serveFrom(paths.map((p) => { const u = new URL(p); return { origin: u.origin, path: u.pathname, href: p }; }));
        },
      },
    });
    const server = http.createServer((req, res) => {
      dispatcher.fetch({ req, res, route: dispatcher.routeName(req.url!), headers: { host: req.headers.host ?? '' } }).then(
        (up) => {
          res.writeHead(up.status, up.rawHeaders);
          up.body.pipe(res);
        },
        (err: Error) => {
          res.writeHead(502);
          res.end(err.message);
        },
      );
    });
    const port = await listenOn(server);
    try {
      assert.equal(dispatcher.routeName('/media/a%20b.jpg'), 'mogile');
      assert.equal(dispatcher.routeName('/assets/x.css'), 'backend', 'no static adapter: the backend answers, and the log says so');
      const media = await get(`http://127.0.0.1:${port}/media/a%20b.jpg`);
      assert.equal(media.status, 200);
      assert.deepEqual(media.body, HELLO);
      assert.deepEqual(keys, ['a%20b.jpg']);
      const before = backend.count('/assets/x.css');
      const asset = await get(`http://127.0.0.1:${port}/assets/x.css`);
      assert.equal(asset.status, 404, 'the fake backend\'s answer');
      assert.equal(backend.count('/assets/x.css'), before + 1);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      dispatcher.close();
    }
  });
});

describe('reproxy off (the default)', () => {
  it('X-Reproxy-URL from the backend is ignored (and not shown), and no capability is announced', async () => {
    const off = await startStack({
      backend: { url: backend.url, timeoutMs: TIMEOUT_MS },
      cache: { enabled: false },
    });
    try {
      const before = fileA.count('/files/hello.txt');
      const r = await get(`${off.url}/r/first-404`);
      assert.equal(r.body.toString(), 'BACKEND BODY: must never reach the client');
      noReproxyHeaders(r.headers);
      assert.equal(fileA.count('/files/hello.txt'), before);
      const echo = JSON.parse((await get(`${off.url}/echo`)).body.toString());
      assert.equal(echo['x-proxy-capabilities'], undefined);
    } finally {
      await off.close();
    }
  });
});

describe('a 50 MB reproxied file', () => {
  const MB = 1024 * 1024;
  let child: ChildProcess | undefined;

  after(async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  });

  /** Streams one reproxied file through memfront; the peak RSS of the memfront process meanwhile. */
  /**
   * `slow`: the client stops reading for 40 ms every 4 MB; `stall`: once, for 500 ms, halfway.
   * Either way memfront must stop reading from the file server too.
   */
  async function transfer(url: string, pid: number, o: { slow?: boolean; stallAt?: number }): Promise<{ status: number; bytes: number; cacheStatus: string; peakRss: number }> {
    const rss = () => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
    let peakRss = rss();
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, rss())), 5);
    try {
      const r = await new Promise<{ status: number; bytes: number; cacheStatus: string }>((resolve, reject) => {
        http.get(url, { agent: false }, (res) => {
          let bytes = 0;
          let sinceBreak = 0;
          let stalled = false;
          const pause = (ms: number) => {
            res.pause();
            setTimeout(() => res.resume(), ms);
          };
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            sinceBreak += c.length;
            if (o.slow && sinceBreak >= 4 * MB) {
              sinceBreak = 0;
              pause(40);
            }
            if (o.stallAt !== undefined && !stalled && bytes >= o.stallAt) {
              stalled = true;
              pause(500);
            }
          });
          res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, cacheStatus: String(res.headers['cache-status']) }));
          res.on('error', reject);
        }).on('error', reject);
      });
      return { ...r, peakRss: Math.max(peakRss, rss()) };
    } finally {
      clearInterval(sampler);
    }
  }

  const signed = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)}`;

  it('streams through a memfront process whose RSS grows by under 30 MB (and not with the body\'s size)', async () => {
    const chunk = Buffer.alloc(64 * 1024, 'x');
    const big = await startFileServer('big', {
      '/warm.bin': { stream: 40 * MB, chunk },
      '/50.bin': { stream: 50 * MB, chunk },
      '/200.bin': { stream: 200 * MB, chunk },
    });
    const cacheable = { 'Cache-Control': 'public, max-age=60' };
    const bigBackend = await startBackend({
      '/small': reproxyAnswer({ 'X-Reproxy-URL': `${fileA.url}/files/page.html` }),
      '/warm': reproxyAnswer({ 'X-Reproxy-URL': `${big.url}/warm.bin`, ...cacheable }),
      '/50': reproxyAnswer({ 'X-Reproxy-URL': `${big.url}/50.bin`, ...cacheable }),
      '/200': reproxyAnswer({ 'X-Reproxy-URL': `${big.url}/200.bin`, ...cacheable }),
    });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'memfront-reproxy-'));
      const config = join(dir, 'config.json');
      writeFileSync(config, JSON.stringify({
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0 },
        backend: { url: bigBackend.url },
        cache: { memcached: { servers: [mc.address] } },
        reproxy: { enabled: true, allowedHosts: ['127.0.0.1'] },
        log: { level: 'info' },
      }));
      // The real command, as an operator runs it, with no runtime flags.
      const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
      child = spawn(process.execPath, [cli, '--config', config], { stdio: ['ignore', 'pipe', 'inherit'] });
      const pid = child.pid!;
      const port = await new Promise<number>((resolve, reject) => {
        let out = '';
        child!.stdout!.on('data', (d: Buffer) => {
          out += d.toString();
          const m = /"msg":"memfront listening"/.test(out) && /"port":(\d+)/.exec(out);
          if (m) resolve(Number(m[1]));
        });
        child!.once('exit', (code) => reject(new Error(`memfront exited (${code}) before listening: ${out}`)));
      });
      child.stdout!.resume();
      const base = `http://127.0.0.1:${port}`;
      for (let i = 0; i < 5; i++) assert.equal((await get(`${base}/small?${i}`)).status, 200);

      // Node's first tens of MB streamed through a fresh process raise its RSS by up to ~40 MB
      // whatever the code (a bare `upstream.pipe(res)` proxy does the same): V8 collects socket
      // read buffers only once 32 MB of them are young (2 x the default max semi-space). One
      // 40 MB transfer pays that once; what is measured after it is memfront's own use.
      const before = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;
      const warm = await transfer(`${base}/warm`, pid, {});
      assert.equal(warm.bytes, 40 * MB);
      const baseline = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) * 1024;

      const fifty = await transfer(`${base}/50`, pid, { slow: true });
      assert.equal(fifty.status, 200);
      assert.equal(fifty.bytes, 50 * MB);
      assert.match(fifty.cacheStatus, /fwd=uri-miss; detail=too-large/, 'too large to store');
      const growth50 = (fifty.peakRss - baseline) / MB;
      assert.ok(growth50 < 30, `RSS grew by ${growth50.toFixed(1)} MB for 50 MB`);

      // A body held in memory would grow with its size, and reading on while the client stalls
      // would fill memory with the rest of it: 4x the body and a 500 ms stall, no more memory.
      const twoHundred = await transfer(`${base}/200`, pid, { stallAt: 100 * MB });
      assert.equal(twoHundred.bytes, 200 * MB);
      const growth200 = (twoHundred.peakRss - baseline) / MB;
      assert.ok(growth200 < 30, `RSS grew by ${growth200.toFixed(1)} MB for 200 MB`);
      console.log(`# memfront RSS: ${(before / MB).toFixed(0)} MB at start, ${signed((warm.peakRss - before) / MB)} MB during the first 40 MB; ` +
        `then from ${(baseline / MB).toFixed(0)} MB: ${signed(growth50)} MB for 50 MB (slow client), ${signed(growth200)} MB for 200 MB (stalling client)`);
    } finally {
      await big.close();
      await bigBackend.close();
    }
  });
});
