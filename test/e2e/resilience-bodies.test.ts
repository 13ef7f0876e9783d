// Bodies that do not arrive whole are never stored and never presented as complete; and
// slow clients (the mod_perl guide's reason for a front end) never hold a backend connection:
// a response up to the buffer size is read at backend speed and fed to them from memory.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';

const TIMEOUT_MS = 300;
let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;

/** Declares `declared` bytes, sends `sent`, then does `then` to the connection. */
function shortBody(declared: number | 'chunked', sent: number, then: 'close' | 'stall') {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const headers: Record<string, string | number> = { 'Content-Type': 'text/html', 'Cache-Control': 'max-age=60' };
    if (declared !== 'chunked') headers['Content-Length'] = declared;
    res.writeHead(200, headers);
    res.write(Buffer.alloc(sent, 'a'));
    // A clean FIN after too few bytes (or a chunked body with no last chunk), or silence.
    if (then === 'close') setTimeout(() => res.socket?.end(), 20);
  };
}

/** The client's view of an answer that may be cut off: never throws. */
function fetchRaw(url: string, method = 'GET'): Promise<{ status: number; complete: boolean; bytes: number; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = http.request(url, { method, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('error', () => {});
      res.on('close', () => resolve({ status: res.statusCode ?? 0, complete: res.complete, bytes, ms: performance.now() - t0 }));
    });
    req.on('error', () => resolve({ status: 0, complete: false, bytes: 0, ms: performance.now() - t0 }));
    req.end();
  });
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({
    '/short-fin': shortBody(10_000, 4_000, 'close'),
    '/short-stall': shortBody(10_000, 4_000, 'stall'),
    '/chunked-cut': shortBody('chunked', 4_000, 'close'),
    '/head-short': shortBody(10_000, 4_000, 'close'),
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: TIMEOUT_MS },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
});
after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

describe('bodies that do not arrive whole', () => {
  for (const [path, what] of [
    ['/short-fin', 'a Content-Length the backend does not keep (clean close)'],
    ['/chunked-cut', 'a chunked body without its last chunk'],
    ['/short-stall', 'a backend that stops sending mid-body (timeout)'],
  ]) {
    it(`${what}: nothing stored, the client's answer cut off`, async () => {
      const r = await fetchRaw(stack.url + path);
      assert.equal(r.status, 200);
      assert.equal(r.complete, false, 'the client saw a clean end');
      assert.ok(r.bytes < 10_000);
      if (path === '/short-stall') assert.ok(r.ms < TIMEOUT_MS + 500, `cut off after ${r.ms.toFixed(0)} ms`);
      await stack.mf.settled();
      const again = await fetchRaw(stack.url + path);
      assert.equal(again.complete, false);
      assert.equal(backend.count(path), 2, 'not stored: the second request went to the backend');
      const line = stack.log.requests().find((l) => l.url === path);
      assert.equal(line?.detail, 'incomplete-body');
    });
  }

  it('a HEAD miss (fetched whole before answering) gets a 502, not a length that lies', async () => {
    const r = await get(stack.url + '/head-short', { method: 'HEAD' });
    assert.equal(r.status, 502);
    await stack.mf.settled();
    await get(stack.url + '/head-short', { method: 'HEAD' });
    assert.equal(backend.count('/head-short'), 2);
  });

  it('a background refresh that gets a short body keeps the stale entry', async () => {
    const own = await startBackend();
    let cut = false;
    own.route('/refresh-short', (req, res) =>
      cut ? shortBody(5_000, 1_000, 'close')(req, res) : (res.writeHead(200, { 'Cache-Control': 'max-age=1', 'Content-Length': 5 }), res.end('whole')),
    );
    const s = await startStack({
      backend: { url: own.url, timeoutMs: TIMEOUT_MS },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, staleWhileRevalidate: 30, staleIfError: 0 },
    });
    try {
      await get(s.url + '/refresh-short');
      await s.mf.settled();
      await sleep(1100);
      cut = true;
      assert.equal((await get(s.url + '/refresh-short')).headers['x-cache'], 'STALE');
      await until(() => s.log.lines.some((l) => l.msg?.startsWith('background refresh failed') && l.detail === 'incomplete-body'), 2000, 'the failed refresh');
      await s.mf.settled();
      const after = await get(s.url + '/refresh-short');
      assert.equal(after.headers['x-cache'], 'STALE');
      assert.equal(after.body.toString(), 'whole');
    } finally {
      await s.close();
      await own.close();
    }
  });
});

describe('slow clients', () => {
  /**
   * A client that reads `rate` bytes per second (1/10 of it every 100 ms). Node's own
   * socket buffer is kept small so what the client has not read stays in memfront.
   */
  function slowReader(url: string, headers: Record<string, string>, rate: number) {
    const { port } = new URL(url);
    const socket = net.connect({ port: Number(port), host: '127.0.0.1', highWaterMark: 1024 } as net.NetConnectOpts);
    let got = 0;
    socket.on('connect', () => {
      const lines = [`GET /big HTTP/1.1`, `Host: 127.0.0.1:${port}`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''];
      socket.write(lines.join('\r\n'));
    });
    socket.on('error', () => {});
    const timer = setInterval(() => {
      let want = rate / 10;
      while (want > 0) {
        const chunk = socket.read(Math.min(want, 1024)) as Buffer | null;
        if (!chunk) break;
        got += chunk.length;
        want -= chunk.length;
      }
    }, 100);
    return {
      received: () => got,
      close() {
        clearInterval(timer);
        socket.destroy();
      },
    };
  }

  async function bigBackend(size: number, cacheControl = 'private') {
    const body = Buffer.alloc(size, 'z');
    const seen: { arrived: number; finished?: number; sent: number } = { arrived: 0, sent: 0 };
    const b = await startBackend({});
    b.route('/big', (_req, res) => {
      seen.arrived = performance.now();
      res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': size, 'Cache-Control': cacheControl });
      // Written in pieces, as a backend generating a page would, each as soon as the socket takes it.
      let offset = 0;
      const pump = () => {
        while (offset < size) {
          const piece = body.subarray(offset, offset + 64 * 1024);
          offset += piece.length;
          seen.sent = offset;
          if (!res.write(piece)) return void res.once('drain', pump);
        }
        res.end();
      };
      res.on('finish', () => (seen.finished = performance.now()));
      pump();
    });
    return { b, seen };
  }

  it('a client reading at 10 KB/s does not keep the backend connection of a storable answer: the backend finishes in milliseconds', async () => {
    // Larger than what the sockets between backend and client hold (about 10 MB here), so
    // only memfront's own buffer can let the backend finish.
    const size = 24 * 1024 * 1024;
    const { b, seen } = await bigBackend(size, 'max-age=60');
    // A storable answer within maxObjectSize is read whole for the cache at the backend's
    // pace (an unstorable one follows the client's: the test below, and test/security).
    const s = await startStack({
      backend: { url: b.url, timeoutMs: 5000 },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, maxObjectSize: 32 * 1024 * 1024 },
    });
    const client = slowReader(s.url, {}, 10 * 1024);
    try {
      // Generous bounds: on a loaded machine handing 24 MB over took longer than 3 s; the
      // client would need 40 minutes at its 10 KB/s.
      await until(() => seen.finished !== undefined, 10_000, 'the backend to finish its response');
      const ms = seen.finished! - seen.arrived;
      // About 200 ms here unloaded.
      assert.ok(ms < 8000, `the backend took ${ms.toFixed(0)} ms to hand over ${size} bytes`);
      // And the client really is slow: it has read a sliver of it.
      assert.ok(client.received() < 100 * 1024, `client read ${client.received()} bytes`);

    } finally {
      client.close();
      await s.close();
      await b.close();
    }
  });

  it('a body larger than the buffer streams with backpressure: memfront holds only the buffer', async () => {
    const size = 64 * 1024 * 1024;
    const { b, seen } = await bigBackend(size);
    const s = await startStack({
      backend: { url: b.url, timeoutMs: 5000 },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, maxObjectSize: 1024 * 1024 },
    });
    const client = slowReader(s.url, { cookie: 'PHPSESSID=logged-in' }, 10 * 1024);
    try {
      await until(() => seen.arrived > 0, 3000, 'the backend request');
      await sleep(1000);
      assert.equal(seen.finished, undefined, 'the backend was read faster than the client reads');
      // What the backend got rid of: the 1 MB buffer plus what the sockets hold, not 64 MB.
      assert.ok(seen.sent < 24 * 1024 * 1024, `the backend wrote ${seen.sent} bytes`);
    } finally {
      client.close();
      await s.close();
      await b.close();
    }
  });
});
