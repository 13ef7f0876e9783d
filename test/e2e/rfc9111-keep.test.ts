// cache.keep end to end, on a real memcached: with no stale windows an expired entry with a
// validator stays for revalidation only; an unchanged page comes back as a 304 (counted in
// /metrics), never served without one.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
before(async () => {
  mc = await startMemcached();
});
after(async () => {
  await mc?.stop();
});

const revalidations = async (s: Stack, result: string) =>
  Number(new RegExp(`memfront_revalidations_total\\{result="${result}"\\} (\\d+)`).exec((await s.mf.metrics.text()).body)?.[1] ?? 0);

/** A page with an ETag that answers If-None-Match with 304 while it is unchanged. */
function page(version: () => number, fail: () => boolean = () => false) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    if (fail()) {
      res.writeHead(503, { 'Content-Length': 4 });
      res.end('down');
      return;
    }
    const etag = `"v${version()}"`;
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ETag: etag, 'Cache-Control': 'max-age=1' });
      res.end();
      return;
    }
    const body = `version ${version()}`;
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length, ETag: etag, 'Cache-Control': 'max-age=1' });
    res.end(body);
  };
}

describe('cache.keep', () => {
  let backend: FakeBackend;
  let stack: Stack;
  before(async () => {
    backend = await startBackend();
    stack = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, staleWhileRevalidate: 0, staleIfError: 0, keep: 60 },
    });
  });
  after(async () => {
    await stack?.close();
    await backend?.close();
  });

  it('an unchanged page is revalidated with a 304 after its windows, not fetched whole', async () => {
    backend.route('/kept', page(() => 1));
    const first = await get(stack.url + '/kept');
    assert.equal(first.headers['cache-status'], 'memfront; fwd=miss; stored');
    await stack.mf.settled();
    // Past max-age=1 and memcached's one-second granularity: without keep it would be gone.
    await sleep(2100);
    const r = await get(stack.url + '/kept');
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'version 1');
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(r.headers['cache-status'], 'memfront; fwd=stale; fwd-status=304');
    const conditional = backend.seen.filter((s) => s.url === '/kept');
    assert.equal(conditional.length, 2);
    assert.equal(conditional[1].headers['if-none-match'], '"v1"');
    assert.equal(await revalidations(stack, '304'), 1);
    // Renewed: a HIT again.
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/kept')).headers['x-cache'], 'HIT');
  });

  it('a changed page comes whole (counted as 200)', async () => {
    let version = 1;
    backend.route('/changed', page(() => version));
    await get(stack.url + '/changed');
    await stack.mf.settled();
    await sleep(2100);
    version = 2;
    const before200 = await revalidations(stack, '200');
    const r = await get(stack.url + '/changed');
    assert.equal(r.body.toString(), 'version 2');
    assert.equal(r.headers['cache-status'], 'memfront; fwd=miss; stored');
    assert.equal(await revalidations(stack, '200'), before200 + 1);
  });

  it('a kept entry is never served without a 304: a failing backend gives its own error', async () => {
    let failing = false;
    backend.route('/kept-fail', page(() => 1, () => failing));
    await get(stack.url + '/kept-fail');
    await stack.mf.settled();
    await sleep(2100);
    failing = true;
    const r = await get(stack.url + '/kept-fail');
    assert.equal(r.status, 503);
    assert.notEqual(r.headers['x-cache'], 'STALE');
  });
});
