// Targeted cache control (RFC 9213 CDN-Cache-Control, Surrogate-Control) and a stored 200's
// own Content-Range, end to end on a real memcached.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;
before(async () => {
  mc = await startMemcached();
  backend = await startBackend();
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 } },
  });
});
after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

function answer(res: http.ServerResponse, body: string, headers: Record<string, string>, status = 200): void {
  res.writeHead(status, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** Neither targeted field, in any spelling, reaches the client. */
function assertNoTargeted(r: { headers: http.IncomingHttpHeaders }): void {
  assert.equal(r.headers['cdn-cache-control'], undefined);
  assert.equal(r.headers['surrogate-control'], undefined);
}

describe('CDN-Cache-Control (RFC 9213)', () => {
  it('replaces Cache-Control for storing: no-store for browsers, 60 s here', async () => {
    backend.route('/cdn', (_req, res) => answer(res, 'cdn', { 'Cache-Control': 'no-store', 'CDN-Cache-Control': 'max-age=60' }));
    const miss = await get(stack.url + '/cdn');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.equal(miss.headers['cache-status'], 'memfront; fwd=miss; stored');
    assertNoTargeted(miss);
    assert.equal(miss.headers['cache-control'], 'no-store');
    await stack.mf.settled();
    const hit = await get(stack.url + '/cdn');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assertNoTargeted(hit);
    // What the client gets is otherwise untouched.
    assert.equal(hit.headers['cache-control'], 'no-store');
    assert.equal(backend.count('/cdn'), 1);
  });

  it('no-store in it keeps a page out of memfront that browsers may cache', async () => {
    backend.route('/cdn-nostore', (_req, res) => answer(res, 'x', { 'Cache-Control': 'max-age=600', 'CDN-Cache-Control': 'no-store' }));
    const first = await get(stack.url + '/cdn-nostore');
    assert.equal(first.headers['cache-status'], 'memfront; fwd=uri-miss; detail=no-store');
    assertNoTargeted(first);
    assert.equal(first.headers['cache-control'], 'max-age=600');
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/cdn-nostore')).headers['x-cache'], 'MISS');
    assert.equal(backend.count('/cdn-nostore'), 2);
  });
});

describe('Surrogate-Control', () => {
  it('max-age=N gives memfront its own lifetime', async () => {
    backend.route('/sc', (_req, res) => answer(res, 'sc', { 'Cache-Control': 'max-age=0', 'Surrogate-Control': 'max-age=300' }));
    const miss = await get(stack.url + '/sc');
    assertNoTargeted(miss);
    await stack.mf.settled();
    const hit = await get(stack.url + '/sc');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.match(String(hit.headers['cache-status']), /^memfront; hit; ttl=(29\d|300)$/);
    assertNoTargeted(hit);
    assert.equal(hit.headers['cache-control'], 'max-age=0');
  });

  it('no-store keeps it out', async () => {
    backend.route('/sc-nostore', (_req, res) => answer(res, 'x', { 'Cache-Control': 'max-age=600', 'Surrogate-Control': 'no-store' }));
    const first = await get(stack.url + '/sc-nostore');
    assert.equal(first.headers['cache-status'], 'memfront; fwd=uri-miss; detail=no-store');
    assertNoTargeted(first);
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/sc-nostore')).headers['x-cache'], 'MISS');
  });
});

describe('a stored 200\'s Content-Range', () => {
  it('is on its hits, as stored (an end-to-end header)', async () => {
    backend.route('/ranged', (_req, res) => answer(res, 'abcdef', { 'Cache-Control': 'max-age=60', 'Content-Range': 'bytes 0-5/6' }));
    const miss = await get(stack.url + '/ranged');
    assert.equal(miss.headers['content-range'], 'bytes 0-5/6');
    await stack.mf.settled();
    const hit = await get(stack.url + '/ranged');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['content-range'], 'bytes 0-5/6');
    assert.equal(hit.body.toString(), 'abcdef');
    // HEAD too; a Range request gets its own computed one instead.
    const head = await get(stack.url + '/ranged', { method: 'HEAD' });
    assert.equal(head.headers['content-range'], 'bytes 0-5/6');
    const part = await get(stack.url + '/ranged', { headers: { Range: 'bytes=1-2' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 1-2/6');
    assert.equal(part.body.toString(), 'bc');
  });
});
