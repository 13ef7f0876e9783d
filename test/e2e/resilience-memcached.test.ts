// Memcached in production shape, end to end: three servers on a ketama ring with one killed,
// memcached down when memfront starts, and a memcached that accepts but never answers.
// Cache trouble is never the user's trouble: every request is answered, and in bounded time.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { freePort, listenOn } from '../helpers/listen.js';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { cacheKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { HashRing } from '../../src/store/ring.js';

let backend: FakeBackend;

function page(delayMs = 0) {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = `page ${req.url}`;
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=300' });
      res.end(body);
    }, delayMs);
  };
}

before(async () => {
  backend = await startBackend({ '/slow-backend': page(100) }, page());
});
after(async () => {
  await backend?.close();
});

function keyOf(stack: Stack, path: string): string {
  return cacheKey(
    { method: 'GET', scheme: 'http', host: new URL(stack.url).host, url: path },
    { keyPrefix: stack.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(stack.config.cache.ignoreQueryParams) },
  );
}

describe('three memcached servers, one killed', () => {
  const servers: MemcachedProcess[] = [];
  let stack: Stack;
  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached());
    stack = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: servers.map((s) => s.address), timeoutMs: 1000 } },
    });
  });
  after(async () => {
    await stack?.close();
    for (const s of servers) await s.stop();
  });

  it('two thirds of the hot keys are still hits and no request fails', async () => {
    const paths = Array.from({ length: 90 }, (_, i) => `/hot/${i}`);
    for (const p of paths) assert.equal((await get(stack.url + p)).status, 200);
    await stack.mf.settled();
    for (const p of paths) assert.equal((await get(stack.url + p)).headers['x-cache'], 'HIT', p);

    const ring = new HashRing(servers.map((s) => s.address));
    const victim = servers[1];
    const survivors = paths.filter((p) => ring.get(keyOf(stack, p)) !== victim.address);
    // The ring spreads keys evenly enough that each server holds about a third.
    assert.ok(survivors.length >= 45 && survivors.length <= 75, `${survivors.length} of 90 keys off the victim`);

    await victim.stop();
    const before = backend.total();
    const results = await Promise.all(paths.map(async (p) => ({ p, r: await get(stack.url + p) })));
    for (const { p, r } of results) {
      assert.equal(r.status, 200, `${p} failed`);
      assert.equal(r.body.toString(), `page ${p}`);
    }
    const hits = results.filter(({ r }) => r.headers['x-cache'] === 'HIT').map(({ p }) => p).sort();
    assert.deepEqual(hits, [...survivors].sort(), 'exactly the keys of the live servers are hits');
    assert.equal(backend.total() - before, paths.length - survivors.length, 'only the victim\'s keys were fetched');

    // Its keys now live on the next server along the ring.
    await stack.mf.settled();
    for (const p of paths) assert.equal((await get(stack.url + p)).headers['x-cache'], 'HIT', p);
  });
});

describe('memcached down when memfront starts', () => {
  it('serves misses, then caches within 10 s of memcached coming up', async () => {
    const port = await freePort();
    const stack = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: [`127.0.0.1:${port}`], timeoutMs: 1000 } },
    });
    let mc: MemcachedProcess | undefined;
    try {
      for (let i = 0; i < 3; i++) {
        const r = await get(stack.url + '/before-memcached');
        assert.equal(r.status, 200);
        assert.equal(r.headers['x-cache'], 'MISS');
      }
      mc = await startMemcached({ port });
      const up = Date.now();
      let hitAfter: number | undefined;
      while (Date.now() - up < 10_000) {
        const r = await get(stack.url + '/after-memcached');
        assert.equal(r.status, 200);
        if (r.headers['x-cache'] === 'HIT') {
          hitAfter = Date.now() - up;
          break;
        }
        await stack.mf.settled();
        await sleep(100);
      }
      assert.ok(hitAfter !== undefined, 'no hit within 10 s of memcached starting');
    } finally {
      await stack.close();
      await mc?.stop();
    }
  });
});

describe('a memcached that accepts connections but never answers', () => {
  let silent: net.Server;
  const sockets = new Set<net.Socket>();
  let stack: Stack;
  const TIMEOUT_MS = 100;
  const BACKEND_MS = 100;
  // Slack for a loaded machine running test files side by side.
  const MARGIN_MS = 400;

  before(async () => {
    silent = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
      socket.resume();
    });
    const port = await listenOn(silent);
    stack = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: [`127.0.0.1:${port}`], timeoutMs: TIMEOUT_MS } },
    });
  });
  after(async () => {
    await stack?.close();
    for (const s of sockets) s.destroy();
    silent?.close();
  });

  it(`pages are still served within timeoutMs plus the backend's time`, async () => {
    const timed = async (path: string) => {
      const t0 = performance.now();
      const r = await get(stack.url + path);
      return { r, ms: performance.now() - t0 };
    };
    const sequential = [];
    for (let i = 0; i < 5; i++) sequential.push(await timed('/slow-backend'));
    const crowd = await Promise.all(Array.from({ length: 10 }, () => timed('/slow-backend')));
    for (const { r, ms } of [...sequential, ...crowd]) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body.toString(), 'page /slow-backend');
      assert.ok(ms < TIMEOUT_MS + BACKEND_MS + MARGIN_MS, `took ${ms.toFixed(0)} ms`);
    }
    const metrics = await (await fetch(`http://127.0.0.1:${stack.mf.adminPort}/metrics`)).text();
    assert.match(metrics, /memfront_cache_errors_total\{[^}]*code="MF_CACHE_TIMEOUT"[^}]*\} [1-9]/);
  });
});
