// Offload, as mod_offload: the base redirects large files to offload servers (memfronts
// with offload.base), which fetch from the base while streaming, store, and revalidate with
// conditional requests. Real memcached, real memfronts, a counting fake CMS behind the base.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { freePort } from '../helpers/listen.js';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';

const MB = 1024 * 1024;
const BIG = randomBytes(3 * MB);
const SLOW = randomBytes(2 * MB);
const ETAG = '"big-1"';
const LAST_MODIFIED = 'Wed, 21 Oct 2026 07:28:00 GMT';

let mc: MemcachedProcess;
let backend: FakeBackend;
let base: Stack;
let o1: Stack;
let o2: Stack;
let offloads: Map<string, Stack>;
/** Resolved by the test once the client has the first bytes of /files/slow.bin. */
let releaseSlow: () => void = () => {};

function bigFile(req: http.IncomingMessage, res: http.ServerResponse) {
  const headers = { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'max-age=1', ETag: ETAG, 'Last-Modified': LAST_MODIFIED };
  if (req.headers['if-none-match'] === ETAG) {
    res.writeHead(304, headers);
    res.end();
    return;
  }
  res.writeHead(200, { ...headers, 'Content-Length': BIG.length });
  res.end(BIG);
}

before(async () => {
  mc = await startMemcached({ memoryMB: 256 });
  backend = await startBackend({
    '/files/big.bin': bigFile,
    '/files/again.bin': bigFile,
    '/files/small.txt': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 5, 'Cache-Control': 'max-age=300' });
      res.end('small');
    },
    '/files/gone.bin': (_req, res) => {
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': 9 });
      res.end('not found');
    },
    // Half the file, then nothing until the client has shown it got the first bytes.
    '/files/slow.bin': (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': SLOW.length, 'Cache-Control': 'max-age=300' });
      res.write(SLOW.subarray(0, MB));
      new Promise<void>((resolve) => (releaseSlow = resolve)).then(() => res.end(SLOW.subarray(MB)));
    },
  });
  const [p1, p2] = [await freePort(), await freePort()];
  const servers = [`http://127.0.0.1:${p1}`, `http://127.0.0.1:${p2}`];
  const cache = (keyPrefix: string) => ({ memcached: { servers: [mc.address], timeoutMs: 1000, keyPrefix }, maxObjectSize: 16 * MB, staleWhileRevalidate: 0 });
  base = await startStack({
    backend: { url: backend.url, timeoutMs: 5000 },
    cache: cache('base:'),
    routes: [{ match: '^/files/', to: 'offload', servers, minSize: MB }],
  });
  const offloadServer = (port: number, prefix: string) =>
    startStack({
      listen: { host: '127.0.0.1', port },
      // Never asked: an offload server's backend is its base.
      backend: { url: 'http://127.0.0.1:9', timeoutMs: 5000 },
      offload: { base: base.url },
      cache: cache(prefix),
    });
  o1 = await offloadServer(p1, 'o1:');
  o2 = await offloadServer(p2, 'o2:');
  offloads = new Map([[servers[0], o1], [servers[1], o2]]);
});

after(async () => {
  releaseSlow();
  await o1?.close();
  await o2?.close();
  await base?.close();
  await backend?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await Promise.all([base.mf.settled(), o1.mf.settled(), o2.mf.settled()]);
});

/** The offload server a Location points at. */
function serverOf(location: string | undefined): Stack {
  const origin = new URL(String(location)).origin;
  const s = offloads.get(origin);
  assert.ok(s, `Location ${location} names an offload server`);
  return s;
}

describe('the base: offload route', () => {
  it('redirects a large file (by Content-Length, body not read) with 307 to one server, by path', async () => {
    const before = backend.count('/files/big.bin?v=1');
    const res = await get(base.url + '/files/big.bin?v=1');
    assert.equal(res.status, 307);
    assert.equal(res.body.length, 0);
    assert.match(String(res.headers.location), /^http:\/\/127\.0\.0\.1:\d+\/files\/big\.bin\?v=1$/);
    serverOf(res.headers.location);
    assert.equal(res.headers['x-cache'], 'MISS');
    assert.match(String(res.headers['cache-status']), /detail=offload/);
    assert.equal(backend.count('/files/big.bin?v=1'), before + 1);
    // One path, one server, whatever the query.
    for (const q of ['?v=2', '', '?v=1']) {
      const again = await get(base.url + '/files/big.bin' + q);
      assert.equal(again.status, 307);
      assert.equal(new URL(String(again.headers.location)).origin, new URL(String(res.headers.location)).origin);
    }
    const head = await get(base.url + '/files/big.bin', { method: 'HEAD' });
    assert.equal(head.status, 307);
  });

  it('serves smaller files and other statuses as the backend route does', async () => {
    const small = await get(base.url + '/files/small.txt');
    assert.equal(small.status, 200);
    assert.equal(small.body.toString(), 'small');
    await base.mf.settled();
    assert.equal((await get(base.url + '/files/small.txt')).headers['x-cache'], 'HIT');
    const gone = await get(base.url + '/files/gone.bin');
    assert.equal(gone.status, 404);
    assert.equal(gone.body.toString(), 'not found');
  });

  it('never redirects a request carrying X-Memfront-Offload (the loop guard)', async () => {
    const res = await get(base.url + '/files/again.bin', { headers: { 'x-memfront-offload': '1' } });
    assert.equal(res.status, 200);
    assert.ok(res.body.equals(BIG));
  });

  it('redirects by a stored entry\'s size without asking the backend', async () => {
    // Stored at the base by an offload server's fetch (the loop guard let it through).
    await get(base.url + '/files/again.bin', { headers: { 'x-memfront-offload': '1' } });
    await base.mf.settled();
    const before = backend.count('/files/again.bin');
    const res = await get(base.url + '/files/again.bin');
    assert.equal(res.status, 307);
    assert.equal(res.headers['x-cache'], 'HIT');
    serverOf(res.headers.location);
    assert.equal(backend.count('/files/again.bin'), before);
  });
});

describe('the offload server', () => {
  it('fetches a miss from the base with the loop guard, streams it as it arrives, and stores it once whole', async () => {
    const redirect = await get(base.url + '/files/slow.bin');
    assert.equal(redirect.status, 307);
    const server = serverOf(redirect.headers.location);
    const before = backend.total();

    const got = await new Promise<{ status: number; xCache: unknown; body: Buffer }>((resolve, reject) => {
      http.get(String(redirect.headers.location), { agent: false }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          chunks.push(c);
          size += c.length;
          // The backend holds the second half back until the first reached the client:
          // a server that waited for the whole body before answering would never finish.
          if (size >= MB) releaseSlow();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, xCache: res.headers['x-cache'], body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }).on('error', reject);
    });
    assert.equal(got.status, 200);
    assert.equal(got.xCache, 'MISS');
    assert.ok(got.body.equals(SLOW));
    assert.equal(backend.total(), before + 1);
    const seen = backend.seen.at(-1)!;
    assert.equal(seen.url, '/files/slow.bin');
    assert.equal(seen.headers['x-memfront-offload'], '1', 'the base was asked with the loop guard');

    await server.mf.settled();
    const hit = await get(String(redirect.headers.location));
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.body.equals(SLOW));
    assert.equal(backend.total(), before + 1);
  });

  it('revalidates an expired file with a conditional request: a 304 moves no body, the client gets the stored one', async () => {
    const redirect = await get(base.url + '/files/big.bin');
    const location = String(redirect.headers.location);
    const server = serverOf(location);
    const first = await get(location);
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.ok(first.body.equals(BIG));
    await Promise.all([server.mf.settled(), base.mf.settled()]);

    await sleep(1100); // past max-age=1, at the offload server and at the base
    const baseLines = base.log.requests().length;
    const again = await get(location);
    assert.equal(again.status, 200);
    assert.equal(again.headers['x-cache'], 'MISS');
    assert.equal(again.headers['cache-status'], 'memfront; fwd=stale; fwd-status=304');
    assert.ok(again.body.equals(BIG), 'the stored body');

    // What crossed from the base to the offload server: a 304, no body.
    const asked = base.log.requests().slice(baseLines).filter((l) => l.url === '/files/big.bin');
    assert.equal(asked.length, 1);
    assert.equal(asked[0].status, 304);
    assert.equal(asked[0].bytes, 0);
    // And the base itself revalidated with the CMS: no body there either.
    assert.equal(backend.seen.at(-1)!.headers['if-none-match'], ETAG);

    await server.mf.settled();
    const renewed = await get(location);
    assert.equal(renewed.headers['x-cache'], 'HIT', 'renewed');
    assert.ok(renewed.body.equals(BIG));
  });
});
