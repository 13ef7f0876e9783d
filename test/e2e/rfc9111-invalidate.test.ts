// Unsafe methods invalidate (RFC 9111 4.4) end to end, on a real memcached: a POST / PUT /
// DELETE / PATCH answered 2xx/3xx deletes the cached GET of its URL and of a same-host
// Location / Content-Location; the next GET is a MISS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;
let writeStatus = 200;
let writeHeaders: Record<string, string> = {};
before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, (req, res) => {
    if (req.method === 'GET') {
      const body = `page ${req.url}`;
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length, 'Cache-Control': 'max-age=600' });
      res.end(body);
      return;
    }
    req.resume();
    req.on('end', () => {
      res.writeHead(writeStatus, { 'Content-Length': 2, ...writeHeaders });
      res.end('ok');
    });
  });
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

async function cached(path: string): Promise<void> {
  await get(stack.url + path);
  await stack.mf.settled();
  assert.equal((await get(stack.url + path)).headers['x-cache'], 'HIT', `${path} is cached first`);
}

function send(method: string, path: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return get(stack.url + path, { method, headers: { 'Content-Length': '0' } });
}

describe('unsafe methods invalidate', () => {
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    it(`${method} answered 200: the next GET is a MISS`, async () => {
      writeStatus = 200;
      writeHeaders = {};
      const path = `/article-${method.toLowerCase()}`;
      await cached(path);
      const r = await send(method, path);
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], 'BYPASS');
      const after = await get(stack.url + path);
      assert.equal(after.headers['x-cache'], 'MISS');
      assert.equal(backend.seen.filter((s) => s.method === 'GET' && s.url === path).length, 2);
    });
  }

  it('a 303 to a same-host Location invalidates that URL too; another host\'s is left alone', async () => {
    writeStatus = 303;
    writeHeaders = { Location: '/comments', 'Content-Location': `http://elsewhere.example/other` };
    await cached('/form');
    await cached('/comments');
    await cached('/other');
    await send('POST', '/form');
    assert.equal((await get(stack.url + '/form')).headers['x-cache'], 'MISS');
    assert.equal((await get(stack.url + '/comments')).headers['x-cache'], 'MISS');
    assert.equal((await get(stack.url + '/other')).headers['x-cache'], 'HIT');
  });

  it('an error answer (4xx/5xx) invalidates nothing', async () => {
    writeStatus = 403;
    writeHeaders = {};
    await cached('/kept');
    await send('POST', '/kept');
    assert.equal((await get(stack.url + '/kept')).headers['x-cache'], 'HIT');
  });

  it('the query is part of the target, as in the key', async () => {
    writeStatus = 204;
    writeHeaders = {};
    await cached('/q?id=1');
    await cached('/q?id=2');
    await send('DELETE', '/q?id=1');
    assert.equal((await get(stack.url + '/q?id=1')).headers['x-cache'], 'MISS');
    assert.equal((await get(stack.url + '/q?id=2')).headers['x-cache'], 'HIT');
  });
});
