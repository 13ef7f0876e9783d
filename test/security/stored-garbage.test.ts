// Stored garbage (issue 15, findings #8, #13, #14): an answer that cannot be served, or
// that serves the wrong bytes, must never be what the next visitor gets. The attacker here
// is a backend that sends broken gzip, anyone who can write to memcached, and a client
// resuming a download across versions or codings. Each test asserts what the next, innocent
// visitor gets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';
import { cacheKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { encodeEntry, type Entry } from '../../src/store/entry-codec.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';

const LAST_MODIFIED = 'Wed, 21 Oct 2026 07:28:00 GMT';
const TEXT = Buffer.from('<p>' + 'the page as the backend meant it. '.repeat(600) + '</p>'); // 20 KB: memfront gzips it
const GZ_TEXT = zlib.gzipSync(Buffer.from('<p>' + 'a page the backend gzipped itself. '.repeat(600) + '</p>'));
const DOC = Buffer.from('version 2 of the document, '.repeat(20)); // 540 B: stored as it came
const BLOB = randomBytes(300 * 1024); // stored in chunks (maxItemSize 64 KB below)

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack; // L1 off: every hit is read from memcached
let hot: Stack; // L1 on: hits come from the in-process copy
let raw: MemcachedStore;

function send(body: Buffer, headers: Record<string, string | string[]> = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length, 'Cache-Control': 'max-age=60', ...headers });
    res.end(body);
  };
}

function keyOf(s: Stack, path: string): string {
  return cacheKey(
    { method: 'GET', scheme: 'http', host: new URL(s.url).host, url: path },
    { keyPrefix: s.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(s.config.cache.ignoreQueryParams) },
  );
}

/** What someone who can write to memcached plants: a well-formed envelope (its CRC is right) around a bad entry. */
async function plant(s: Stack, path: string, e: Partial<Entry>): Promise<void> {
  const now = Date.now();
  const entry: Entry = { status: 200, headers: [['Content-Type', 'text/plain']], storedAt: now, staleAt: now + 60_000, gzip: false, body: Buffer.from('planted'), ...e };
  await raw.set(keyOf(s, path), encodeEntry(entry), 60);
}

/** A GET whose answer may be cut off: the bytes that came, and whether it ended cleanly. */
function getCut(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      const done = (complete: boolean) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
      res.on('end', () => done(res.complete));
      res.on('error', () => done(false));
      res.on('aborted', () => done(false));
    });
    req.on('error', reject);
  });
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend(
    {
      '/gzip-not-gzip': send(Buffer.from('<p>plain text, labelled gzip</p>'), { 'Content-Encoding': 'gzip' }),
      '/gzip-truncated': send(GZ_TEXT.subarray(0, GZ_TEXT.length - 40), { 'Content-Encoding': 'gzip' }),
      '/gzip-then-br': send(zlib.gzipSync(zlib.brotliCompressSync(TEXT)), { 'Content-Encoding': ['gzip', 'br'] }),
      '/gz-from-backend': send(GZ_TEXT, { 'Content-Encoding': 'gzip', ETag: '"g1"', 'Last-Modified': LAST_MODIFIED }),
      '/gzipped-here': send(TEXT, { ETag: '"i1"' }),
      '/doc': send(DOC, { 'Content-Type': 'text/plain', ETag: '"v2"', 'Last-Modified': LAST_MODIFIED }),
      '/blob': send(BLOB, { 'Content-Type': 'application/octet-stream', ETag: '"b2"' }),
    },
    (req, res) => {
      const body = Buffer.from(`page ${req.url}`);
      // Paths under /nostore/ answer with a page that may not be stored.
      const cc = req.url?.startsWith('/nostore/') ? 'no-store' : 'max-age=60';
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, 'Cache-Control': cc });
      res.end(body);
    },
  );
  // A generous memcached timeout: on a loaded test machine a 100 ms one drops writes, and a
  // test expecting a hit would fail for that alone.
  const cache = { memcached: { servers: [mc.address], maxItemSize: 64 * 1024, timeoutMs: 2000 }, staleWhileRevalidate: 0, staleIfError: 0 };
  stack = await startStack({ backend: { url: backend.url }, cache });
  hot = await startStack({ backend: { url: backend.url }, cache: { ...cache, l1: { maxBytes: 8 << 20, ttlMs: 60_000 } } });
  raw = new MemcachedStore({ servers: [mc.address], timeoutMs: 500, maxItemSize: 1 << 20 });
});

after(async () => {
  await raw?.close();
  await stack?.close();
  await hot?.close();
  await backend?.close();
  await mc?.stop();
});

describe('#13 what the backend sends broken is not stored', () => {
  for (const path of ['/gzip-not-gzip', '/gzip-truncated']) {
    it(`#13 broken gzip from the backend is not stored (${path}): identity visitors after a gzip one get it as it comes, never a 500`, async () => {
      const before = backend.count(path);
      const first = await get(stack.url + path, { headers: { 'accept-encoding': 'gzip' } });
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-cache'], 'MISS');
      assert.match(String(first.headers['cache-status']), /fwd=uri-miss; detail=bad-gzip/);
      await stack.mf.settled();
      for (const headers of [{}, { range: 'bytes=0-9' }] as Array<Record<string, string>>) {
        const next = await get(stack.url + path, { headers });
        assert.equal(next.status, 200, `identity visitor ${JSON.stringify(headers)}`);
        assert.equal(next.headers['x-cache'], 'MISS');
        assert.equal(next.headers['content-encoding'], 'gzip', 'as it came');
      }
      const head = await get(stack.url + path, { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.match(String(head.headers['cache-status']), /detail=bad-gzip/);
      assert.equal(backend.count(path) - before, 4, 'never answered from the cache');
    });
  }

  it('#13 a response with two Content-Encoding fields (gzip, then br) is not stored', async () => {
    const path = '/gzip-then-br';
    await get(stack.url + path, { headers: { 'accept-encoding': 'gzip, br' } });
    await stack.mf.settled();
    const next = await get(stack.url + path, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(next.headers['x-cache'], 'MISS', 'brotli labelled gzip is never served from the cache');
    assert.equal(backend.count(path), 2);
  });
});

describe('#13 a stored gzip entry that does not inflate is an unreadable entry', () => {
  for (const [name, s] of [
    ['memcached', () => stack],
    ['L1', () => hot],
  ] as const) {
    it(`#13 a planted gzip entry that does not inflate is a miss, deleted and fetched again (${name})`, async () => {
      const path = `/planted-gzip-${name}`;
      await plant(s(), path, { gzip: true, identityLength: 20, body: Buffer.from('not gzip at all, but a valid envelope') });
      // A gzip client would get the planted bytes as they are: the identity visitor finds out.
      const first = await get(s().url + path);
      assert.equal(first.status, 200);
      assert.equal(first.headers['x-cache'], 'MISS');
      assert.equal(first.body.toString(), `page ${path}`);
      await s().mf.settled();
      for (const headers of [{}, { 'accept-encoding': 'gzip' }] as Array<Record<string, string>>) {
        const next = await get(s().url + path, { headers });
        assert.equal(next.headers['x-cache'], 'HIT', 'stored anew');
        const body = next.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(next.body) : next.body;
        assert.equal(body.toString(), `page ${path}`);
      }
    });
  }

  it('#13 an unreadable gzip entry is deleted even when the backend answer that follows may not be stored', async () => {
    const path = '/nostore/planted-gzip';
    await plant(stack, path, { gzip: true, identityLength: 20, body: Buffer.from('not gzip either') });
    const first = await get(stack.url + path);
    assert.equal(first.status, 200);
    assert.equal(first.body.toString(), `page ${path}`);
    await until(async () => (await raw.get(keyOf(stack, path))) === null, 2000, 'the planted entry deleted');
    // A gzip client, next, is not handed the planted bytes either.
    const gz = await get(stack.url + path, { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(gz.body.toString(), `page ${path}`);
  });

  it('#13 a large stored gzip entry that breaks part-way is cut off, deleted, and the next visitor gets the page', async () => {
    const path = '/planted-broken-late';
    const identity = Buffer.from('a long page that breaks part-way. '.repeat(100_000)); // 3.4 MB: inflated as it is sent
    const gz = zlib.gzipSync(identity);
    await plant(stack, path, { gzip: true, identityLength: identity.length, body: gz.subarray(0, gz.length >> 1) });
    const first = await getCut(stack.url + path);
    assert.notEqual(first.status, 500);
    assert.equal(first.complete, false, 'a page that cannot be finished is never presented as complete');
    await until(async () => (await raw.get(keyOf(stack, path))) === null, 2000, 'the broken entry deleted');
    const next = await get(stack.url + path);
    assert.equal(next.status, 200);
    assert.equal(next.body.toString(), `page ${path}`);
  });
});

describe('#8 entries Node would refuse to send', () => {
  const planted: Array<[string, Partial<Entry>]> = [
    ['status 42', { status: 42 }],
    ['a header value with CR LF', { headers: [['X-Note', 'x\r\nSet-Cookie: session=attacker']] }],
    ['a header name with a space', { headers: [['Bad Name', 'v']] }],
    ['a header value with NUL', { headers: [['X-Note', 'a\u0000b']] }],
  ];
  for (const [name, s] of [
    ['memcached', () => stack],
    ['L1', () => hot],
  ] as const) {
    for (const [what, e] of planted) {
      it(`#8 a planted entry with ${what} is a miss, and the next visitor gets the page from the cache (${name})`, async () => {
        const path = `/planted-${what.replace(/\W+/g, '-')}-${name}`;
        await plant(s(), path, e);
        const first = await get(s().url + path);
        assert.equal(first.status, 200, 'never a 500');
        assert.equal(first.headers['x-cache'], 'MISS');
        assert.equal(first.body.toString(), `page ${path}`);
        assert.equal(first.headers['set-cookie'], undefined);
        await s().mf.settled();
        const next = await get(s().url + path);
        assert.equal(next.headers['x-cache'], 'HIT');
        assert.equal(next.body.toString(), `page ${path}`);
      });
    }
  }

  it('#8 an entry Node would refuse is deleted even when the backend answer that follows may not be stored', async () => {
    const path = '/nostore/planted-status';
    await plant(stack, path, { status: 42 });
    const first = await get(stack.url + path);
    assert.equal(first.status, 200);
    assert.equal(await raw.get(keyOf(stack, path)), null, 'deleted before the miss was fetched');
  });
});

describe('#14 representations and If-Range', () => {
  it('#14 a Range whose If-Range names another version gets the whole 200, on a miss and on a hit', async () => {
    const resume = (ifRange: string) => get(stack.url + '/doc', { headers: { range: 'bytes=100-', 'if-range': ifRange } });
    // The first request is a miss, fetched whole and answered as a hit would be.
    const miss = await resume('"v1"');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(miss.status, 200);
    assert.deepEqual(miss.body, DOC);
    await stack.mf.settled();
    for (const [ifRange, want] of [
      ['"v1"', 200],
      ['W/"v2"', 200],
      ['Mon, 01 Jan 1990 00:00:00 GMT', 200],
      ['"v2"', 206],
      [LAST_MODIFIED, 206],
    ] as const) {
      const r = await resume(ifRange);
      assert.equal(r.headers['x-cache'], 'HIT');
      assert.equal(r.status, want, `If-Range: ${ifRange}`);
      assert.deepEqual(r.body, want === 200 ? DOC : DOC.subarray(100), `If-Range: ${ifRange}`);
    }
  });

  it('#14 the ETag is weak in the representation whose coding memfront changed, in 200s and 304s', async () => {
    for (const [path, tag, changedFor] of [
      ['/gz-from-backend', '"g1"', 'identity'],
      ['/gzipped-here', '"i1"', 'gzip'],
    ] as const) {
      await get(stack.url + path, { headers: { 'accept-encoding': 'gzip' } });
      await stack.mf.settled();
      for (const client of ['gzip', 'identity'] as const) {
        const headers: Record<string, string> = client === 'gzip' ? { 'accept-encoding': 'gzip' } : {};
        const want = client === changedFor ? `W/${tag}` : tag;
        const ok = await get(stack.url + path, { headers });
        assert.equal(ok.headers['x-cache'], 'HIT');
        assert.equal(ok.headers['content-encoding'], client === 'gzip' ? 'gzip' : undefined);
        assert.equal(ok.headers.etag, want, `${path}, ${client} client`);
        const notModified = await get(stack.url + path, { headers: { ...headers, 'if-none-match': ok.headers.etag! } });
        assert.equal(notModified.status, 304);
        assert.equal(notModified.headers.etag, want, `${path}, ${client} client, 304`);
      }
    }
  });

  it('#14 a gzip client resuming with If-Range gets the whole gzip 200, never identity bytes at a gzip offset', async () => {
    const path = '/gz-from-backend';
    const gzipClient = { 'accept-encoding': 'gzip' };
    const whole = await get(stack.url + path, { headers: gzipClient });
    await stack.mf.settled();
    assert.equal(whole.headers.etag, '"g1"');
    for (const ifRange of [whole.headers.etag!, LAST_MODIFIED]) {
      const resumed = await get(stack.url + path, { headers: { ...gzipClient, range: 'bytes=100-', 'if-range': ifRange } });
      assert.equal(resumed.status, 200, `If-Range: ${ifRange}`);
      assert.equal(resumed.headers['content-encoding'], 'gzip');
      assert.deepEqual(resumed.body, GZ_TEXT);
    }
    // An identity client holding the identity representation's tag may resume.
    const identity = await get(stack.url + path);
    const resumed = await get(stack.url + path, { headers: { range: 'bytes=100-', 'if-range': identity.headers.etag! } });
    assert.equal(identity.headers.etag, 'W/"g1"');
    assert.equal(resumed.status, 200, 'a weak tag never matches: the whole page again');
    const byDate = await get(stack.url + path, { headers: { range: 'bytes=100-', 'if-range': LAST_MODIFIED } });
    assert.equal(byDate.status, 206);
    assert.deepEqual(byDate.body, identity.body.subarray(100));
  });

  it('#14 If-Range is honoured on an entry stored in chunks too', async () => {
    await get(stack.url + '/blob');
    await stack.mf.settled();
    const stale = await get(stack.url + '/blob', { headers: { range: 'bytes=1000-', 'if-range': '"b1"' } });
    assert.equal(stale.headers['x-cache'], 'HIT');
    assert.equal(stale.status, 200);
    assert.deepEqual(stale.body, BLOB);
    const current = await get(stack.url + '/blob', { headers: { range: 'bytes=1000-', 'if-range': '"b2"' } });
    assert.equal(current.status, 206);
    assert.deepEqual(current.body, BLOB.subarray(1000));
  });
});
