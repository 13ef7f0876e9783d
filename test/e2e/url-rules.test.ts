// cache.rules end to end (contract, "Per-URL rules"), on a real memcached: a pass rule keeps a
// URL out of the cache, also once an entry for it exists; a ttl rule stores what its headers
// would not have stored, for its own lifetime, but never what Set-Cookie, private or no-store
// keep out; a ttl of 0 stores nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

function page(headers: Record<string, string>) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = `page ${req.url}`;
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), ...headers });
    res.end(body);
  };
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, page({ 'Cache-Control': 'max-age=300' }));
  backend.route('/feed/', page({ 'Cache-Control': 'no-cache' }));
  backend.route('/news/today', page({}));
  backend.route('/news/cookie', page({ 'Set-Cookie': 'a=1' }));
  backend.route('/news/private', page({ 'Cache-Control': 'private' }));
  backend.route('/live/', page({ 'Cache-Control': 'max-age=300' }));
  stack = await startStack({
    backend: { url: backend.url },
    cache: {
      memcached: { servers: [mc.address], timeoutMs: 1000 },
      defaultTtl: 0,
      rules: [
        { match: '^/wp-admin/', pass: true },
        { match: '^/feed/', ttl: 60 },
        { match: '^/news/', ttl: 120 },
        { match: '^/live/', ttl: 0 },
      ],
    },
  });
});
after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

async function twice(path: string): Promise<[Awaited<ReturnType<typeof get>>, Awaited<ReturnType<typeof get>>]> {
  const first = await get(stack.url + path);
  await stack.mf.settled();
  return [first, await get(stack.url + path)];
}

describe('cache.rules', () => {
  it('a pass rule: BYPASS with detail=rule, every request reaches the backend, nothing stored', async () => {
    const [a, b] = await twice('/wp-admin/edit.php');
    for (const r of [a, b]) {
      assert.equal(r.headers['x-cache'], 'BYPASS');
      assert.equal(r.headers['cache-status'], 'memfront; fwd=bypass; detail=rule');
    }
    assert.equal(backend.count('/wp-admin/edit.php'), 2);
  });

  it('a ttl rule stores what its headers alone would not (no-cache, no freshness), for the rule\'s lifetime', async () => {
    const [a, b] = await twice('/feed/');
    assert.equal(a.headers['x-cache'], 'MISS');
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.match(String(b.headers['cache-status']), /ttl=(59|60)\b/);
    const [c, d] = await twice('/news/today');
    assert.equal(c.headers['x-cache'], 'MISS');
    assert.equal(d.headers['x-cache'], 'HIT');
    assert.match(String(d.headers['cache-status']), /ttl=(119|120)\b/);
    assert.equal(backend.count('/news/today'), 1);
  });

  it('a ttl rule never stores what Set-Cookie or private keep out', async () => {
    for (const path of ['/news/cookie', '/news/private']) {
      const [, b] = await twice(path);
      assert.equal(b.headers['x-cache'], 'MISS', path);
      assert.equal(backend.count(path), 2, path);
    }
  });

  it('a ttl of 0 stores nothing, whatever the headers say', async () => {
    const [a, b] = await twice('/live/score');
    assert.equal(b.headers['x-cache'], 'MISS');
    assert.match(String(a.headers['cache-status']), /detail=rule/);
    assert.equal(backend.count('/live/score'), 2);
  });

  it('URLs no rule fits keep their own headers: max-age=300 is stored for 300 s', async () => {
    const [, b] = await twice('/other');
    assert.equal(b.headers['x-cache'], 'HIT');
    assert.match(String(b.headers['cache-status']), /ttl=(299|300)\b/);
  });
});
