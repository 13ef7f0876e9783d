// RFC 9111 freshness end to end, on a real memcached: the backend's Age is taken off the
// lifetime and carried on in memfront's Age (#2), must-revalidate / proxy-revalidate /
// s-maxage forbid stale answers (#1), RFC 5861 directives replace the configured windows (#5).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
before(async () => {
  mc = await startMemcached();
});
after(async () => {
  await mc?.stop();
});

function answer(res: http.ServerResponse, body: string, headers: Record<string, string>, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

async function stackWith(backend: FakeBackend, cache: Record<string, unknown>): Promise<Stack> {
  return startStack({ backend: { url: backend.url, timeoutMs: 2000 }, cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, ...cache } });
}

describe('the backend\'s Age (RFC 9111 4.2.3)', () => {
  let backend: FakeBackend;
  let stack: Stack;
  before(async () => {
    backend = await startBackend();
    stack = await stackWith(backend, { staleWhileRevalidate: 0, staleIfError: 0 });
  });
  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  it('max-age=3600 with Age: 7200 is already stale: never a HIT', async () => {
    backend.route('/old', (_req, res) => answer(res, 'old', { 'Cache-Control': 'max-age=3600', Age: '7200' }));
    const first = await get(stack.url + '/old');
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.equal(first.headers['cache-status'], 'memfront; fwd=uri-miss; detail=already-stale');
    await stack.mf.settled();
    const second = await get(stack.url + '/old');
    assert.equal(second.headers['x-cache'], 'MISS');
    assert.equal(backend.count('/old'), 2);
  });

  it('Expires an hour after Date with Age: 7200 is already stale too', async () => {
    backend.route('/old-expires', (_req, res) => {
      const now = Date.now();
      answer(res, 'old', { Date: new Date(now).toUTCString(), Expires: new Date(now + 3600_000).toUTCString(), Age: '7200' });
    });
    await get(stack.url + '/old-expires');
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/old-expires')).headers['x-cache'], 'MISS');
    assert.equal(backend.count('/old-expires'), 2);
  });

  it('max-age=100 with Age: 40 is a HIT for the 60 s left, and the Age sent starts at 40', async () => {
    backend.route('/aged', (_req, res) => answer(res, 'aged', { 'Cache-Control': 'max-age=100', Age: '40' }));
    await get(stack.url + '/aged');
    await stack.mf.settled();
    const hit = await get(stack.url + '/aged');
    assert.equal(hit.headers['x-cache'], 'HIT');
    const age = Number(hit.headers['age']);
    assert.ok(age >= 40 && age <= 42, `Age ${hit.headers['age']}`);
    const ttl = Number(/ttl=(-?\d+)/.exec(String(hit.headers['cache-status']))?.[1]);
    assert.ok(ttl >= 57 && ttl <= 60, `Cache-Status ${hit.headers['cache-status']}`);
    assert.equal(backend.count('/aged'), 1);
  });

  it('max-age=2 with Age: 1 is stale a second later, not two', async () => {
    backend.route('/nearly', (_req, res) => answer(res, 'nearly', { 'Cache-Control': 'max-age=2', Age: '1' }));
    await get(stack.url + '/nearly');
    await stack.mf.settled();
    await sleep(1100);
    assert.equal((await get(stack.url + '/nearly')).headers['x-cache'], 'MISS');
    assert.equal(backend.count('/nearly'), 2);
  });
});

describe('no stale where the origin forbids it (RFC 9111 4.2.4)', () => {
  let backend: FakeBackend;
  let stack: Stack;
  before(async () => {
    backend = await startBackend();
    stack = await stackWith(backend, { staleWhileRevalidate: 30, staleIfError: 600 });
  });
  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  for (const cc of ['max-age=1, must-revalidate', 'max-age=1, proxy-revalidate', 's-maxage=1']) {
    it(`${cc}: past its lifetime it is fetched, never served STALE`, async () => {
      const path = '/forbid-' + cc.replace(/[^a-z0-9]/g, '');
      let version = 1;
      // An ETag keeps the expired entry around (cache.keep): held, and refused as stale.
      backend.route(path, (_req, res) => answer(res, `v${version}`, { 'Cache-Control': cc, ETag: `"v${version}"` }));
      await get(stack.url + path);
      await stack.mf.settled();
      await sleep(1100);
      version = 2;
      const r = await get(stack.url + path);
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body.toString(), 'v2');
      assert.equal(r.headers['cache-status'], `memfront; fwd=stale; stored; detail=${cc.includes('must') ? 'must-revalidate' : cc.includes('proxy') ? 'proxy-revalidate' : 's-maxage'}`);
      assert.equal(backend.count(path), 2);
    });
  }

  it('must-revalidate: a failing backend gives its own error, Cache-Status detail=must-revalidate', async () => {
    let failing = false;
    // With a validator the expired entry stays (cache.keep) to be revalidated: it is there, and refused.
    backend.route('/mr-fail', (_req, res) => (failing ? answer(res, 'down', {}, 503) : answer(res, 'page', { 'Cache-Control': 'max-age=1, must-revalidate', ETag: '"p1"' })));
    await get(stack.url + '/mr-fail');
    await stack.mf.settled();
    await sleep(1100);
    failing = true;
    const r = await get(stack.url + '/mr-fail');
    assert.equal(r.status, 503);
    assert.equal(r.body.toString(), 'down');
    assert.notEqual(r.headers['x-cache'], 'STALE');
    assert.equal(r.headers['cache-status'], 'memfront; fwd=stale; fwd-status=503; detail=must-revalidate');
  });

  it('s-maxage: a refused backend gives 502 with detail=s-maxage, not the stale page', async () => {
    const other = await startBackend({ '/sm-fail': (_req, res) => answer(res, 'page', { 'Cache-Control': 's-maxage=1', ETag: '"p1"' }) });
    const s = await stackWith(other, { staleWhileRevalidate: 30, staleIfError: 600 });
    try {
      await get(s.url + '/sm-fail');
      await s.mf.settled();
      await sleep(1100);
      await other.close();
      const r = await get(s.url + '/sm-fail');
      assert.equal(r.status, 502);
      assert.equal(r.headers['cache-status'], 'memfront; fwd=miss; detail=s-maxage');
    } finally {
      await s.close();
    }
  });

  it('without such a directive the configured windows still serve STALE', async () => {
    backend.route('/plain', (_req, res) => answer(res, 'plain', { 'Cache-Control': 'max-age=1' }));
    await get(stack.url + '/plain');
    await stack.mf.settled();
    await sleep(1100);
    assert.equal((await get(stack.url + '/plain')).headers['x-cache'], 'STALE');
  });
});

describe('RFC 5861 in the response replaces the configured windows', () => {
  let backend: FakeBackend;
  let stack: Stack;
  before(async () => {
    backend = await startBackend();
    // No configured windows, no keep: only what the response says keeps the entry around.
    stack = await stackWith(backend, { staleWhileRevalidate: 0, staleIfError: 0, keep: 0 });
  });
  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  it('stale-while-revalidate=30 is served STALE past max-age=1 while one refresh runs', async () => {
    let version = 1;
    backend.route('/swr', (_req, res) => answer(res, `v${version}`, { 'Cache-Control': 'max-age=1, stale-while-revalidate=30' }));
    await get(stack.url + '/swr');
    await stack.mf.settled();
    // Past memcached's one-second granularity too: the exptime must cover the window.
    await sleep(2100);
    version = 2;
    const r = await get(stack.url + '/swr');
    assert.equal(r.headers['x-cache'], 'STALE');
    assert.equal(r.headers['cache-status'], 'memfront; fwd=stale; detail=stale-while-revalidate');
    assert.equal(r.body.toString(), 'v1');
    await until(async () => (await get(stack.url + '/swr')).body.toString() === 'v2', 3000, 'the refreshed entry');
  });

  it('stale-if-error=60 serves the stale page when the backend fails', async () => {
    let failing = false;
    backend.route('/sie', (_req, res) => (failing ? answer(res, 'down', {}, 500) : answer(res, 'page', { 'Cache-Control': 'max-age=1, stale-if-error=60' })));
    await get(stack.url + '/sie');
    await stack.mf.settled();
    await sleep(2100);
    failing = true;
    const r = await get(stack.url + '/sie');
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache'], 'STALE');
    assert.equal(r.body.toString(), 'page');
  });

  it('stale-while-revalidate=0 in the response overrides a configured 30', async () => {
    const s = await stackWith(backend, { staleWhileRevalidate: 30, staleIfError: 0 });
    try {
      backend.route('/swr0', (_req, res) => answer(res, 'x', { 'Cache-Control': 'max-age=1, stale-while-revalidate=0' }));
      await get(s.url + '/swr0');
      await s.mf.settled();
      await sleep(1100);
      assert.equal((await get(s.url + '/swr0')).headers['x-cache'], 'MISS');
      assert.equal(backend.count('/swr0'), 2);
    } finally {
      await s.close();
    }
  });
});
