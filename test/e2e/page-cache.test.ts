// The page cache end to end: a real memcached, a counting fake backend, memfront between.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';
import { cacheKey } from '../../src/policy/cache-key.js';
import { encodeEntry } from '../../src/store/entry-codec.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';

const html = (n: number) => Buffer.from(`<!doctype html><title>page</title>` + 'Lorem ipsum dolor sit amet, ünïcödé '.repeat(n));
const BINARY = Buffer.from(Array.from({ length: 256 * 40 }, (_, i) => i % 256));
const RANDOM = randomBytes(200 * 1024);

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

function page(body: Buffer, headers: Record<string, string | string[]> = {}, status = 200) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8', 'Content-Length': body.length, 'Cache-Control': 'public, max-age=60', ...headers });
    res.end(body);
  };
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({
    '/': page(html(100)),
    '/small': page(Buffer.from('<p>small</p>')),
    '/big': page(html(3000)),
    '/image.png': page(BINARY, { 'Content-Type': 'image/png' }),
    '/random.bin': page(RANDOM, { 'Content-Type': 'application/octet-stream' }),
    '/gzipped': (req, res) => {
      const body = zlib.gzipSync(html(500));
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Encoding': 'gzip', 'Content-Length': body.length, 'Cache-Control': 'max-age=60', Vary: 'Accept-Encoding' });
      res.end(body);
    },
    '/cookie': page(Buffer.from('cookie page'), { 'Set-Cookie': 'visited=1' }),
    '/private': page(Buffer.from('private page'), { 'Cache-Control': 'private, max-age=60' }),
    '/nostore': page(Buffer.from('no-store page'), { 'Cache-Control': 'No-Store' }),
    '/missing': page(Buffer.from('not here'), {}, 404),
    '/error': page(Buffer.from('oops'), {}, 500),
    '/moved': page(Buffer.from(''), { Location: '/' }, 302),
    '/short-ttl': page(Buffer.from('short lived'), { 'Cache-Control': 'max-age=1' }),
    '/validators': page(Buffer.from('validated page body'), { ETag: '"v1"', 'Last-Modified': 'Wed, 21 Oct 2026 07:28:00 GMT' }),
    '/echo-headers': (req, res) => {
      const body = Buffer.from(JSON.stringify(req.headers));
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
      res.end(body);
    },
    '/reset': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': 100_000, 'Cache-Control': 'max-age=60' });
      res.write(Buffer.alloc(30_000, 'a'));
      setTimeout(() => res.socket?.destroy(), 20);
    },
    '/repeated': (_req, res) => {
      res.writeHead(200, [['Content-Type', 'text/plain'], ['Link', '</a.css>; rel=preload'], ['Link', '</b.js>; rel=preload'], ['Cache-Control', 'max-age=60'], ['Content-Length', '4']].flat());
      res.end('body');
    },
  }, (req, res) => page(Buffer.from(`page ${req.url}`))(req, res));
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: {
      memcached: { servers: [mc.address], timeoutMs: 200 },
      sessionCookies: ['PHPSESSID', 'wordpress_logged_in_*'],
      staleWhileRevalidate: 0,
      staleIfError: 0,
    },
  });
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
});

async function fetchTwice(path: string, headers: Record<string, string> = {}) {
  const first = await get(stack.url + path, { headers });
  await stack.mf.settled();
  const second = await get(stack.url + path, { headers });
  return { first, second };
}

describe('hits and misses', () => {
  it('answers MISS then HIT, reaching the backend once', async () => {
    const { first, second } = await fetchTwice('/');
    assert.equal(first.status, 200);
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.match(String(first.headers['cache-status']), /^memfront; fwd=miss; stored/);
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.match(String(second.headers['cache-status']), /^memfront; hit; ttl=\d+/);
    assert.ok(Number(second.headers.age) >= 0);
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(backend.count('/'), 1);
  });

  it('keeps binary bodies byte for byte', async () => {
    for (const [path, bytes] of [['/image.png', BINARY], ['/random.bin', RANDOM]] as const) {
      const { first, second } = await fetchTwice(path);
      assert.equal(second.headers['x-cache'], 'HIT', path);
      assert.ok(first.body.equals(bytes), `${path} miss body`);
      assert.ok(second.body.equals(bytes), `${path} hit body`);
      assert.equal(second.headers['content-type'], path.endsWith('png') ? 'image/png' : 'application/octet-stream');
      // Gzip clients get the same bytes: these types are not compressed.
      const gz = await get(stack.url + path, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(gz.headers['content-encoding'], undefined);
      assert.ok(gz.body.equals(bytes));
    }
  });

  it('serves one entry to gzip and identity clients', async () => {
    const expected = html(3000);
    const miss = await get(stack.url + '/big');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.ok(miss.body.equals(expected));
    await stack.mf.settled();
    const gz = await get(stack.url + '/big', { headers: { 'accept-encoding': 'br;q=1, gzip;q=0.8' } });
    assert.equal(gz.headers['x-cache'], 'HIT');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(String(gz.headers.vary), /Accept-Encoding/i);
    assert.ok(gz.body.length < expected.length / 3, 'stored gzipped');
    assert.ok(zlib.gunzipSync(gz.body).equals(expected));
    const plain = await get(stack.url + '/big', { headers: { 'accept-encoding': 'gzip;q=0, identity' } });
    assert.equal(plain.headers['x-cache'], 'HIT');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(Number(plain.headers['content-length']), expected.length);
    assert.ok(plain.body.equals(expected));
    assert.equal(backend.count('/big'), 1);
  });

  it('stores a gzip response from the backend as is and unzips it for identity clients', async () => {
    const { first, second } = await fetchTwice('/gzipped', { 'accept-encoding': 'gzip' });
    assert.equal(first.headers['content-encoding'], 'gzip');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.ok(zlib.gunzipSync(second.body).equals(html(500)));
    const plain = await get(stack.url + '/gzipped');
    assert.equal(plain.headers['x-cache'], 'HIT');
    assert.ok(plain.body.equals(html(500)));
    assert.equal(backend.count('/gzipped'), 1);
  });

  it('keeps repeated response headers', async () => {
    const { second } = await fetchTwice('/repeated');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.headers.link, '</a.css>; rel=preload, </b.js>; rel=preload');
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const head = await get(stack.url + '/head-page', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['x-cache'], 'MISS');
    assert.equal(backend.seen.at(-1)?.method, 'GET', 'HEAD miss fetched as GET');
    await stack.mf.settled();
    const hit = await get(stack.url + '/head-page', { method: 'HEAD' });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(Number(hit.headers['content-length']), 'page /head-page'.length);
    assert.equal(hit.body.length, 0);
    const body = await get(stack.url + '/head-page');
    assert.equal(body.body.toString(), 'page /head-page');
    assert.equal(backend.count('/head-page'), 1);
  });
});

describe('what bypasses and what is never stored', () => {
  it('bypasses session cookies (with wildcards), Authorization and POST, storing nothing', async () => {
    const cases: Array<[string, { method?: string; headers?: Record<string, string> }, string]> = [
      ['/bp-cookie', { headers: { cookie: 'theme=dark; wordpress_logged_in_abc123=user%7C1=2' } }, 'session-cookie'],
      ['/bp-php', { headers: { cookie: 'PHPSESSID=x==y' } }, 'session-cookie'],
      ['/bp-auth', { headers: { authorization: 'Basic dTpw' } }, 'authorization'],
      ['/bp-post', { method: 'POST' }, 'method'],
    ];
    for (const [path, opts, reason] of cases) {
      const a = await get(stack.url + path, opts);
      const b = await get(stack.url + path, opts);
      assert.equal(a.headers['x-cache'], 'BYPASS', path);
      assert.equal(b.headers['x-cache'], 'BYPASS', path);
      assert.equal(a.headers['cache-status'], `memfront; fwd=bypass; detail=${reason}`);
      await stack.mf.settled();
      const anon = await get(stack.url + path);
      assert.equal(anon.headers['x-cache'], 'MISS', `${path}: a bypassed response was stored`);
      assert.equal(backend.count(path), 3);
    }
  });

  it('a non-session cookie is still anonymous', async () => {
    const { second } = await fetchTwice('/anon-cookie', { cookie: 'theme=dark; _ga=GA1.2.3' });
    assert.equal(second.headers['x-cache'], 'HIT');
  });

  for (const [path, detail] of [['/cookie', 'set-cookie'], ['/private', 'private'], ['/nostore', 'no-store']]) {
    it(`never stores ${path} (${detail})`, async () => {
      const { first, second } = await fetchTwice(path);
      assert.equal(first.headers['x-cache'], 'MISS');
      assert.equal(first.headers['cache-status'], `memfront; fwd=uri-miss; detail=${detail}`);
      assert.equal(second.headers['x-cache'], 'MISS');
      assert.equal(backend.count(path), 2);
    });
  }

  it('stores a 404 but not a 500 or a 302', async () => {
    const nf = await fetchTwice('/missing');
    assert.equal(nf.second.status, 404);
    assert.equal(nf.second.headers['x-cache'], 'HIT');
    for (const path of ['/error', '/moved']) {
      const r = await fetchTwice(path);
      assert.equal(r.second.headers['x-cache'], 'MISS', path);
      assert.equal(backend.count(path), 2);
    }
  });

  it('expires an entry after its max-age', async () => {
    const { second } = await fetchTwice('/short-ttl');
    assert.equal(second.headers['x-cache'], 'HIT');
    await sleep(1100);
    const later = await get(stack.url + '/short-ttl');
    assert.equal(later.headers['x-cache'], 'MISS');
    assert.equal(backend.count('/short-ttl'), 2);
  });
});

describe('keys', () => {
  it('shares an entry across query order and utm params', async () => {
    await get(stack.url + '/q?b=2&a=1');
    await stack.mf.settled();
    const r = await get(stack.url + '/q?utm_source=x&a=1&fbclid=abc&b=2&utm_medium=y');
    assert.equal(r.headers['x-cache'], 'HIT');
    const other = await get(stack.url + '/q?a=1&b=3');
    assert.equal(other.headers['x-cache'], 'MISS');
  });

  it('caches a 2 KB path', async () => {
    const path = '/' + 'a-very-long-slug-'.repeat(125);
    assert.ok(path.length > 2000);
    const { second } = await fetchTwice(path);
    assert.equal(second.status, 200);
    assert.equal(second.headers['x-cache'], 'HIT');
  });
});

describe('conditional and range requests on hits', () => {
  it('answers If-None-Match and If-Modified-Since with 304, Range with 206 and 416', async () => {
    await fetchTwice('/validators');
    const inm = await get(stack.url + '/validators', { headers: { 'if-none-match': 'W/"v0", "v1"' } });
    assert.equal(inm.status, 304);
    assert.equal(inm.headers['x-cache'], 'HIT');
    assert.equal(inm.headers.etag, '"v1"');
    assert.equal(inm.body.length, 0);
    const ims = await get(stack.url + '/validators', { headers: { 'if-modified-since': 'Wed, 21 Oct 2026 07:28:00 GMT' } });
    assert.equal(ims.status, 304);
    const changed = await get(stack.url + '/validators', { headers: { 'if-none-match': '"v2"' } });
    assert.equal(changed.status, 200);
    const range = await get(stack.url + '/validators', { headers: { range: 'bytes=10-13' } });
    assert.equal(range.status, 206);
    assert.equal(range.headers['content-range'], 'bytes 10-13/19');
    assert.equal(range.body.toString(), 'page');
    const bad = await get(stack.url + '/validators', { headers: { range: 'bytes=500-' } });
    assert.equal(bad.status, 416);
    assert.equal(bad.headers['content-range'], 'bytes */19');
    assert.equal(backend.count('/validators'), 1);
  });

  it('applies a Range on a cacheable miss to the whole fetched body', async () => {
    const r = await get(stack.url + '/range-miss', { headers: { range: 'bytes=0-3' } });
    assert.equal(r.status, 206);
    assert.equal(r.body.toString(), 'page');
    assert.equal(backend.seen.at(-1)?.headers.range, undefined, 'Range not forwarded on a cacheable miss');
    await stack.mf.settled();
    const whole = await get(stack.url + '/range-miss');
    assert.equal(whole.headers['x-cache'], 'HIT');
    assert.equal(whole.body.toString(), 'page /range-miss');
  });

  it('applies Range to the identity bytes of a gzip-stored entry', async () => {
    await fetchTwice('/big');
    const r = await get(stack.url + '/big', { headers: { range: 'bytes=-10', 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-encoding'], undefined);
    const expected = html(3000);
    assert.ok(r.body.equals(expected.subarray(expected.length - 10)));
  });
});

describe('what the backend sees', () => {
  it('never forwards client X-Forwarded-Host, Forwarded, X-Original-URL or hop-by-hop headers', async () => {
    const r = await get(stack.url + '/echo-headers', {
      headers: {
        'x-forwarded-host': 'evil.example',
        forwarded: 'host=evil.example',
        'x-original-url': '/admin',
        'x-rewrite-url': '/admin',
        'x-forwarded-for': '6.6.6.6',
        connection: 'keep-alive, x-secret',
        'x-secret': 'hop',
        'x-reproxy-url': 'http://127.0.0.1:1/',
        host: 'www.example.com',
      },
    });
    const seen = JSON.parse(r.body.toString());
    assert.equal(seen['x-forwarded-host'], 'www.example.com');
    assert.equal(seen.forwarded, undefined);
    assert.equal(seen['x-original-url'], undefined);
    assert.equal(seen['x-rewrite-url'], undefined);
    assert.equal(seen['x-secret'], undefined);
    assert.equal(seen['x-reproxy-url'], undefined);
    assert.equal(seen['x-forwarded-for'], '127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen.host, 'www.example.com');
    assert.match(seen['x-request-id'], /^[0-9a-f-]{36}$/);
  });

  it('reuses one backend connection for many requests, even for clients sending Connection: close', async () => {
    const before = backend.connections();
    for (let i = 0; i < 20; i++) {
      const r = await get(stack.url + `/conn-${i}`, { headers: { connection: 'close', cookie: 'PHPSESSID=1' } });
      assert.equal(r.status, 200);
    }
    assert.ok(backend.connections() - before <= 1, `opened ${backend.connections() - before} backend connections`);
  });

  // A cacheable miss's fetch outlives its client instead (the cache wants its answer):
  // test/security/holding.test.ts, #19.
  it('cancels the backend request when the client goes away and the cache does not want the answer', async () => {
    let backendClosed!: () => void;
    const closed = new Promise<void>((r) => (backendClosed = r));
    let finished = false;
    backend.route('/slow-abort', (_req, res) => {
      res.on('close', () => backendClosed());
      const t = setTimeout(() => {
        finished = true;
        res.end('late');
      }, 1500);
      res.on('close', () => clearTimeout(t));
    });
    const req = http.request(stack.url + '/slow-abort', { agent: false, headers: { cookie: 'PHPSESSID=1' } });
    req.on('error', () => {});
    req.end();
    await until(() => backend.count('/slow-abort') === 1, 2000, 'backend request');
    req.destroy();
    const t0 = Date.now();
    await closed;
    assert.ok(Date.now() - t0 < 1000, 'backend request cancelled promptly');
    assert.equal(finished, false);
  });
});

describe('failures', () => {
  it('a backend that resets mid-body: nothing stored, the client response cut off', async () => {
    const outcome = await new Promise<{ status: number; complete: boolean; bytes: number }>((resolve) => {
      const req = http.request(stack.url + '/reset', { agent: false }, (res) => {
        let bytes = 0;
        res.on('data', (c) => (bytes += c.length));
        res.on('error', () => {});
        res.on('close', () => resolve({ status: res.statusCode ?? 0, complete: res.complete, bytes }));
      });
      req.on('error', () => resolve({ status: 0, complete: false, bytes: 0 }));
      req.end();
    });
    assert.equal(outcome.complete, false, 'client saw a clean end');
    assert.ok(outcome.bytes < 100_000);
    await stack.mf.settled();
    const again = await get(stack.url + '/reset').catch(() => null);
    assert.notEqual(again?.headers['x-cache'], 'HIT');
    assert.equal(backend.count('/reset'), 2);
  });

  it('a garbage value under the entry key is a miss, not a 500', async () => {
    const key = cacheKey(
      { method: 'GET', scheme: 'http', host: new URL(stack.url).host, url: '/garbage' },
      { keyPrefix: stack.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(stack.config.cache.ignoreQueryParams) },
    );
    const raw = new MemcachedStore({ servers: [mc.address], timeoutMs: 500, maxItemSize: 1 << 20 });
    try {
      for (const junk of [Buffer.from('not an entry'), Buffer.from('MFE\x01\x00\x00\x00\x05{"a":'), Buffer.alloc(0)]) {
        await raw.set(key, junk, 60);
        const r = await get(stack.url + '/garbage');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-cache'], 'MISS');
        assert.equal(r.body.toString(), 'page /garbage');
        await stack.mf.settled();
      }
      const healed = await get(stack.url + '/garbage');
      assert.equal(healed.headers['x-cache'], 'HIT', 'the miss repaired the entry');
    } finally {
      await raw.close();
    }
  });

  it('an entry Node would refuse to send (a stored header with a NUL) is a miss, from memcached and from L1, and is replaced', async () => {
    const l1Stack = await startStack({ backend: { url: backend.url }, cache: { memcached: { servers: [mc.address] }, l1: { maxBytes: 1 << 20, ttlMs: 60_000 } } });
    const raw = new MemcachedStore({ servers: [mc.address], timeoutMs: 500, maxItemSize: 1 << 20 });
    try {
      const key = cacheKey(
        { method: 'GET', scheme: 'http', host: new URL(l1Stack.url).host, url: '/bad-header' },
        { keyPrefix: l1Stack.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(l1Stack.config.cache.ignoreQueryParams) },
      );
      const now = Date.now();
      const entry = { status: 200, headers: [['Content-Type', 'text/plain'], ['X-Bad', 'a\u0000b']] as Array<[string, string]>, storedAt: now, staleAt: now + 60_000, gzip: false, body: Buffer.from('stored') };
      await raw.set(key, encodeEntry(entry), 60);
      const first = await get(l1Stack.url + '/bad-header');
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-cache'], 'MISS');
      assert.equal(first.body.toString(), 'page /bad-header');
      await l1Stack.mf.settled();
      // The backend's page replaced it: the next ones are hits of that page (L1, then memcached).
      for (let i = 0; i < 2; i++) {
        const r = await get(l1Stack.url + '/bad-header');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-cache'], 'HIT');
        assert.equal(r.body.toString(), 'page /bad-header');
      }
    } finally {
      await raw.close();
      await l1Stack.close();
    }
  });

  it('a backend that refuses connections gives 502; one that never answers gives 504', async () => {
    const refused = await startStack({ backend: { url: 'http://127.0.0.1:1', timeoutMs: 300 }, cache: { store: 'memory' } });
    const silent = net.createServer(() => {});
    const silentPort = await new Promise<number>((r) => silent.listen(0, '127.0.0.1', () => r((silent.address() as net.AddressInfo).port)));
    const hung = await startStack({ backend: { url: `http://127.0.0.1:${silentPort}`, timeoutMs: 300 }, cache: { store: 'memory' } });
    try {
      const a = await get(refused.url + '/x');
      assert.equal(a.status, 502);
      const warn = refused.log.requests().find((l) => l.status === 502);
      assert.ok(warn, 'request logged');
      assert.match(JSON.stringify(warn.err), /ECONNREFUSED/);
      const t0 = Date.now();
      const b = await get(hung.url + '/x');
      assert.equal(b.status, 504);
      assert.ok(Date.now() - t0 < 2000);
    } finally {
      await refused.close();
      await hung.close();
      silent.close();
    }
  });

  it('logs one JSON line per request with the contract fields', async () => {
    await get(stack.url + '/logged');
    await until(() => stack.log.requests().some((l) => l.url === '/logged'), 2000, 'log line');
    const line = stack.log.requests().find((l) => l.url === '/logged')!;
    for (const f of ['method', 'url', 'status', 'cache', 'route', 'ms', 'bytes']) assert.ok(f in line, f);
    assert.equal(line.cache, 'miss');
    assert.equal(line.route, 'backend');
    assert.equal(line.status, 200);
    assert.equal(line.bytes, 'page /logged'.length);
  });

  it('memcached stopped mid-test: pages are still 200 as misses, and the log is not flooded', async () => {
    await fetchTwice('/while-down');
    await mc.stop();
    const cacheLines = () => stack.log.lines.filter((l) => l.msg === 'cache operation failed; treated as a miss').length;
    const before = cacheLines();
    try {
      for (let i = 0; i < 30; i++) {
        const r = await get(stack.url + '/while-down');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-cache'], 'MISS');
        assert.equal(r.body.toString(), 'page /while-down');
      }
      // Each kind of failure (get, add, set, ...) logged about once a second, not per request.
      const logged = cacheLines() - before;
      assert.ok(logged >= 1 && logged <= 10, `${logged} cache failure lines for 30 requests`);
    } finally {
      await mc.restart();
    }
  });
});
