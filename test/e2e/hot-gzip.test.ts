// A popular page gzipped again at cache.hotGzip.level, as the next visitors get it: fewer
// bytes to gzip clients, the same page to everyone, and the same page from another process
// reading memcached.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { constantBody } from '../../bench/lib/constant-body.js';
import { get as rawGet, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let a: Stack;
let b: Stack;

/** The page's text at each version: ~100 KB that compresses like a page (the bench's). */
const pageText = (version: number): string => constantBody(100 * 1024, version).toString('latin1');

const HITS = 5;
const get = (url: string, gzip: boolean, method = 'GET') => rawGet(url, { method, headers: { host: 'site.test', ...(gzip ? { 'accept-encoding': 'gzip' } : {}) } });

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, (req, res) => {
    const body = pageText(backend.count(req.url ?? ''));
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=300', ETag: `"p${backend.count(req.url ?? '')}"` });
    res.end(body);
  });
  const cfg = {
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { gzipLevel: 1, hotGzip: { level: 6, hits: HITS }, memcached: { servers: [mc.address], timeoutMs: 500 }, l1: { maxBytes: 8 << 20, ttlMs: 60_000 } },
  };
  a = await startStack(cfg);
  b = await startStack(cfg);
});

after(async () => {
  await a?.close();
  await b?.close();
  await backend?.close();
  await mc?.stop();
});

describe('hot gzip', () => {
  it('a page hit cache.hotGzip.hits times reaches later gzip clients smaller, the same page to every client and process', async () => {
    assert.equal((await get(a.url + '/popular', true)).headers['x-cache'], 'MISS');
    await a.mf.settled();
    const first = await get(a.url + '/popular', true);
    assert.equal(first.headers['content-encoding'], 'gzip');
    const cold = first.body.length;
    for (let i = 1; i < HITS; i++) assert.equal((await get(a.url + '/popular', true)).headers['x-cache'], 'HIT');
    let hot = await get(a.url + '/popular', true);
    await until(async () => (hot = await get(a.url + '/popular', true)).body.length < cold * 0.9, 5000, 'the smaller body');
    assert.ok(hot.body.length < cold * 0.85, `${hot.body.length} bytes against ${cold} at level 1`);
    assert.equal(Number(hot.headers['content-length']), hot.body.length);
    assert.equal(hot.headers['x-cache'], 'HIT');
    assert.equal(zlib.gunzipSync(hot.body).toString(), pageText(1), 'the same page');
    assert.equal(hot.headers.etag, 'W/"p1"', 'memfront gzipped it: a weak tag, as before');
    // Identity clients: the page as the backend sent it, with its own tag.
    const plain = await get(a.url + '/popular', false);
    assert.equal(plain.body.toString(), pageText(1));
    assert.equal(plain.headers.etag, '"p1"');
    // Another process, reading memcached: the smaller bytes, the same page.
    const other = await get(b.url + '/popular', true);
    assert.equal(other.headers['x-cache'], 'HIT');
    assert.deepEqual(other.body, hot.body);
    assert.equal(backend.count('/popular'), 1, 'one fetch in all');
    // A purge still purges it.
    assert.equal((await get(a.url + '/popular', false, 'PURGE')).status, 200);
    const next = await get(a.url + '/popular', true);
    assert.equal(next.headers['x-cache'], 'MISS');
    const text = next.headers['content-encoding'] === 'gzip' ? zlib.gunzipSync(next.body) : next.body;
    assert.equal(text.toString(), pageText(2));
  });
});
