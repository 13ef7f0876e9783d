// The synchronous hit path (Engine.hitNow): with L1 on, hits are answered from the in-process
// copy before the request handler returns. The wire behaviour must be the state machine's:
// conditionals, Range, HEAD, gzip negotiation, bypass for logged-in visitors, and no fresh
// answer from an expired copy.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

const BIG = Buffer.from('<p>' + 'a hit path answer '.repeat(400) + '</p>'); // 7 KB, stored gzipped

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({
    '/page': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': BIG.length, 'Cache-Control': 'max-age=300', ETag: '"v1"' });
      res.end(BIG);
    },
    '/short': (_req, res) => {
      const body = `short v${backend.count('/short')}`;
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=1' });
      res.end(body);
    },
  });
  stack = await startStack({
    backend: { url: backend.url },
    cache: { memcached: { servers: [mc.address] }, l1: { maxBytes: 1 << 20, ttlMs: 60_000 }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
  // Stored (and kept in L1 from the write): every request below is an L1 hit unless it says otherwise.
  await get(stack.url + '/page');
  await stack.mf.settled();
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

describe('synchronous hit path', () => {
  it('identity and gzip clients get the same page, gzip as stored', async () => {
    const plain = await get(stack.url + '/page');
    assert.equal(plain.headers['x-cache'], 'HIT');
    assert.deepEqual(plain.body, BIG);
    assert.equal(plain.headers['content-length'], String(BIG.length));
    assert.match(String(plain.headers.vary), /Accept-Encoding/i);
    const gz = await get(stack.url + '/page', { headers: { 'accept-encoding': 'gzip, br' } });
    assert.equal(gz.headers['x-cache'], 'HIT');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.deepEqual(zlib.gunzipSync(gz.body), BIG);
    assert.match(String(gz.headers['cache-status']), /^memfront; hit; ttl=\d+$/);
    assert.equal(backend.count('/page'), 1);
  });

  it('If-None-Match gives 304, Range gives 206 and 416, HEAD gives headers only', async () => {
    const notModified = await get(stack.url + '/page', { headers: { 'if-none-match': '"v1"' } });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.body.length, 0);
    const part = await get(stack.url + '/page', { headers: { range: 'bytes=3-12' } });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], `bytes 3-12/${BIG.length}`);
    assert.deepEqual(part.body, BIG.subarray(3, 13));
    const beyond = await get(stack.url + '/page', { headers: { range: `bytes=${BIG.length + 10}-` } });
    assert.equal(beyond.status, 416);
    const head = await get(stack.url + '/page', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], String(BIG.length));
    assert.equal(head.body.length, 0);
    assert.equal(backend.count('/page'), 1);
  });

  it('a logged-in visitor or an Authorization header bypasses the hot copy', async () => {
    const session = await get(stack.url + '/page', { headers: { cookie: 'PHPSESSID=abc' } });
    assert.equal(session.headers['x-cache'], 'BYPASS');
    const auth = await get(stack.url + '/page', { headers: { authorization: 'Basic eDp5' } });
    assert.equal(auth.headers['x-cache'], 'BYPASS');
    assert.equal(backend.count('/page'), 3);
  });

  it('an expired L1 copy is not served as a hit: the request goes to the backend', async () => {
    const first = await get(stack.url + '/short');
    assert.equal(first.body.toString(), 'short v1');
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/short')).headers['x-cache'], 'HIT');
    await sleep(1100); // max-age=1 and no stale windows: expired, though L1 would keep it 60 s
    const later = await get(stack.url + '/short');
    assert.equal(later.headers['x-cache'], 'MISS');
    assert.equal(later.body.toString(), 'short v2');
  });
});
