// What a request may look like (431 for oversized headers, 414 for an overlong URL, 400 from
// Node's strict parser for conflicting framing) and PURGE from allowed sources only.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { MAX_URL_LENGTH } from '../../src/policy/request-limits.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, (req, res) => {
    const body = `page ${req.url?.slice(0, 40)}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=60' });
    res.end(body);
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

/** Sends raw bytes and resolves the status line of the answer. */
function raw(request: string): Promise<string> {
  const { port } = new URL(stack.url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), '127.0.0.1', () => socket.write(request));
    let reply = '';
    socket.on('data', (c) => {
      reply += c.toString('latin1');
      if (reply.includes('\r\n')) {
        socket.destroy();
        resolve(reply.slice(0, reply.indexOf('\r\n')));
      }
    });
    socket.on('error', reject);
    socket.on('close', () => resolve(reply.split('\r\n')[0]));
  });
}

describe('request limits', () => {
  it(`a URL longer than ${MAX_URL_LENGTH} characters: 414, and the backend never sees it`, async () => {
    const before = backend.total();
    const long = '/' + 'a'.repeat(MAX_URL_LENGTH);
    assert.equal(await raw(`GET ${long} HTTP/1.1\r\nHost: x\r\n\r\n`), 'HTTP/1.1 414 URI Too Long');
    const fits = '/' + 'a'.repeat(MAX_URL_LENGTH - 1);
    assert.equal((await get(stack.url + fits)).status, 200);
    assert.equal(backend.total() - before, 1);
  });

  it('headers over 16 KB: 431 from the parser', async () => {
    const big = `GET / HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(17 * 1024)}\r\n\r\n`;
    assert.equal(await raw(big), 'HTTP/1.1 431 Request Header Fields Too Large');
    const manySmall = `GET / HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'v'.repeat(40)}\r\n`).join('')}\r\n`;
    assert.equal(await raw(manySmall), 'HTTP/1.1 431 Request Header Fields Too Large');
  });

  it('the strict parser: Content-Length with Transfer-Encoding, or two Content-Lengths, is a 400', async () => {
    const before = backend.total();
    assert.equal(
      await raw('POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n'),
      'HTTP/1.1 400 Bad Request',
    );
    assert.equal(await raw('POST /smuggle HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'), 'HTTP/1.1 400 Bad Request');
    assert.equal(backend.total(), before, 'nothing reached the backend');
  });
});

describe('PURGE', () => {
  it('200 when an entry was there (and it is gone), 404 when not', async () => {
    await get(stack.url + '/to-purge?b=2&a=1');
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/to-purge?a=1&b=2')).headers['x-cache'], 'HIT');
    // The key is normalised as for GET: order and ignored parameters do not matter.
    const purged = await get(stack.url + '/to-purge?b=2&utm_source=mail&a=1', { method: 'PURGE' });
    assert.equal(purged.status, 200);
    assert.equal((await get(stack.url + '/to-purge?a=1&b=2')).headers['x-cache'], 'MISS');
    assert.equal(backend.count('/to-purge?b=2&a=1') + backend.count('/to-purge?a=1&b=2'), 2);
    assert.equal((await get(stack.url + '/never-cached', { method: 'PURGE' })).status, 404);
  });

  it('the entry of another Host is not touched', async () => {
    await get(stack.url + '/per-host', { headers: { host: 'a.example' } });
    await stack.mf.settled();
    assert.equal((await get(stack.url + '/per-host', { method: 'PURGE', headers: { host: 'b.example' } })).status, 404);
    assert.equal((await get(stack.url + '/per-host', { headers: { host: 'a.example' } })).headers['x-cache'], 'HIT');
  });

  it('403 from a source outside admin.purgeAllow, and the entry stays', async () => {
    const guarded = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000 } },
      admin: { host: '127.0.0.1', port: 0, purgeAllow: ['10.20.30.0/24'] },
    });
    try {
      await get(guarded.url + '/guarded');
      await guarded.mf.settled();
      const r = await get(guarded.url + '/guarded', { method: 'PURGE' });
      assert.equal(r.status, 403);
      assert.equal((await get(guarded.url + '/guarded')).headers['x-cache'], 'HIT');
    } finally {
      await guarded.close();
    }
  });
});
