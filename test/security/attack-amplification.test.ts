// Attack suite, amplification (issue 15, findings 4 and 17): one cheap request must not cost
// much. A gzip bomb from the backend is never stored and never inflated without a bound; a
// PURGE naming thousands of tags is refused before it costs anything.
//
// memfront runs in this process, so "memory" is this process's RSS, sampled while the attack
// runs; the clients count bytes and keep none.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawRequest, req, startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { directStore, keyOf, sleep, visit } from '../helpers/security.js';
import type { MemcachedStore } from '../../src/store/memcached-store.js';

const HOST = 'victim.test';
const MB = 1024 * 1024;
/** 32 MB of zeros: ~32 KB of gzip. */
const BOMB_SIZE = 32 * MB;
const BOMB = zlib.gzipSync(Buffer.alloc(BOMB_SIZE), { level: 9 });

let mc: MemcachedProcess;
let backend: RecordingBackend;
/** A file server behind a reproxy route and a static route. */
let files: RecordingBackend;
let stack: Stack;
let store: MemcachedStore;

const gzipped = (body: Buffer) => () => ({
  status: 200,
  headers: { 'Content-Type': 'text/plain', 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding', 'Cache-Control': 'public, max-age=300' },
  body,
});

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend({
    '*': (r) => ({ status: 200, headers: { 'Content-Type': 'text/plain', 'Cache-Control': 'public, max-age=300', 'Surrogate-Key': 'keep t1' }, body: `page ${r.target}` }),
    '/bomb': gzipped(BOMB),
    '/bomb-status': gzipped(BOMB),
    '/bomb-identity-first': gzipped(BOMB),
    '/bomb-rss': gzipped(BOMB),
    '/bomb-lag': gzipped(BOMB),
  });
  files = await startRecordingBackend({ '/files/bomb.txt': gzipped(BOMB), '/static/bomb.txt': gzipped(BOMB) });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 5000 },
    // maxObjectSize stays at its default, 1 MiB.
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, staleWhileRevalidate: 0, staleIfError: 0 },
    reproxy: { enabled: true, allowedHosts: [] },
    static: { servers: [files.url] },
    routes: [
      { match: '^/dl/(.*)$', to: 'reproxy', url: `${files.url}/files/$1` },
      { match: '^/static/', to: 'static' },
    ],
  });
  store = directStore(mc.address);
});

after(async () => {
  await stack?.close();
  await store?.close();
  await backend?.close();
  await files?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
  backend.reset();
});

/** A GET that counts the body (inflating it when it came gzip) and keeps nothing. */
function countingGet(path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; bytes: number; nonZero: number; complete: boolean }> {
  return new Promise((resolve, reject) => {
    const r = http.request(`${stack.url}${path}`, { headers: { host: HOST, ...headers }, agent: false }, (res) => {
      let bytes = 0;
      let nonZero = 0;
      const src = res.headers['content-encoding'] === 'gzip' ? res.pipe(zlib.createGunzip()) : res;
      src.on('data', (c: Buffer) => {
        bytes += c.length;
        for (let i = 0; i < c.length; i += 4096) if (c[i] !== 0) nonZero++;
      });
      src.on('error', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, nonZero, complete: false }));
      src.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, bytes, nonZero, complete: res.complete }));
    });
    r.on('error', reject);
    r.end();
  });
}

describe('#4 gzip bombs', () => {
  // First: the RSS measure wants a process that has not grown yet.
  it('#4 gzip bomb: 8 identity clients of a 32 KB gzip that inflates to 32 MB keep RSS bounded', async () => {
    // Whatever the first fetch does (stored or not), then 8 identity clients at once.
    await countingGet('/bomb-rss', { 'accept-encoding': 'gzip' });
    await stack.mf.settled();
    global.gc?.();
    const base = process.memoryUsage();
    let peak = base.rss;
    let peakBuffers = base.arrayBuffers;
    const sampler = setInterval(() => {
      const m = process.memoryUsage();
      peak = Math.max(peak, m.rss);
      peakBuffers = Math.max(peakBuffers, m.arrayBuffers);
    }, 5);
    try {
      const all = await Promise.all(Array.from({ length: 8 }, () => countingGet('/bomb-rss')));
      for (const r of all) assert.equal(r.status, 200);
    } finally {
      clearInterval(sampler);
    }
    const grew = (peak - base.rss) / MB;
    const buffers = (peakBuffers - base.arrayBuffers) / MB;
    // Found: 72 → 685 MB at 64 MB (+290 MB here at 32 MB). Streamed, bounded inflation holds a
    // few slices per client. Buffers are the precise measure; RSS the loose one.
    const what = `RSS +${grew.toFixed(0)} MB, Buffers +${buffers.toFixed(0)} MB for 8 identity clients of one bomb`;
    // Loose: 256 MB of inflated bytes cross this process to the clients, as garbage to collect.
    assert.ok(buffers < 96, what);
    assert.ok(grew < 160, what);
  });

  it('#4 gzip bomb: a gzip answer inflating past maxObjectSize is not stored', async () => {
    const first = await countingGet('/bomb', { 'accept-encoding': 'gzip' });
    assert.equal(first.status, 200);
    await stack.mf.settled();
    assert.equal(await store.get(keyOf(stack, HOST, '/bomb')), null, 'nothing stored');
    const again = await countingGet('/bomb', { 'accept-encoding': 'gzip' });
    assert.notEqual(again.headers['x-cache'], 'HIT');
  });

  it('#4 gzip bomb: Cache-Status says too-large (not "stored") for an answer inflating past maxObjectSize', async () => {
    // The decision for the fix: the answer's Cache-Status names the reason. A fix that sends
    // the head before it has inflated the body cannot know it yet; this test then fails alone.
    const first = await countingGet('/bomb-status', { 'accept-encoding': 'gzip' });
    await stack.mf.settled();
    assert.match(String(first.headers['cache-status']), /too-large/, `Cache-Status: ${first.headers['cache-status']}`);
  });

  it('#4 gzip bomb: identity clients still get the whole, correct content from the route', async () => {
    const r = await countingGet('/bomb-identity-first');
    assert.equal(r.status, 200);
    assert.ok(r.complete, 'whole');
    assert.equal(r.bytes, BOMB_SIZE, 'all the inflated bytes');
    assert.equal(r.nonZero, 0, 'the right bytes');
    await stack.mf.settled();
    assert.equal(await store.get(keyOf(stack, HOST, '/bomb-identity-first')), null, 'nothing stored');
  });

  for (const [route, path] of [
    ['reproxy', '/dl/bomb.txt'],
    ['static', '/static/bomb.txt'],
  ]) {
    it(`#4 gzip bomb: from a ${route} route, an answer inflating past maxObjectSize is not stored either`, async () => {
      const first = await countingGet(path, { 'accept-encoding': 'gzip' });
      assert.equal(first.status, 200);
      await stack.mf.settled();
      assert.equal(await store.get(keyOf(stack, HOST, path)), null, 'nothing stored');
      const plain = await countingGet(path);
      assert.equal(plain.status, 200);
      assert.equal(plain.bytes, BOMB_SIZE, 'identity clients get the whole content');
    });
  }

  it('#4 gzip bomb: a small hit is not held up while identity clients inflate bombs', async () => {
    await countingGet('/bomb-lag', { 'accept-encoding': 'gzip' });
    await visit(stack.url, '/small-hit', { host: HOST });
    await stack.mf.settled();
    assert.equal((await visit(stack.url, '/small-hit', { host: HOST })).headers['x-cache'], 'HIT');
    const bombs = Promise.all(Array.from({ length: 4 }, () => countingGet('/bomb-lag')));
    await sleep(20);
    let worst = 0;
    for (let i = 0; i < 10; i++) {
      const t0 = performance.now();
      const hit = await visit(stack.url, '/small-hit', { host: HOST });
      worst = Math.max(worst, performance.now() - t0);
      assert.equal(hit.status, 200);
      await sleep(10);
    }
    await bombs;
    // Found: 491 ms while 4 ran. Inflating in slices keeps each turn of the loop short.
    assert.ok(worst < 250, `worst small-hit latency ${worst.toFixed(0)} ms while bombs inflate`);
  });
});

function tags(n: number, prefix = 'x'): string[] {
  return Array.from({ length: n }, (_, i) => `${prefix}${i.toString(36)}`);
}

async function purge(path: string, headers: string[]): Promise<{ status: number | undefined; ms: number }> {
  const r = await rawRequest(stack.mf.port, req('PURGE', path, [`Host: ${HOST}`, ...headers]), { timeoutMs: 10_000 });
  return { status: r.responses[0]?.status, ms: r.ms };
}

async function storedHit(path: string): Promise<void> {
  await visit(stack.url, path, { host: HOST });
  await stack.mf.settled();
  assert.equal((await visit(stack.url, path, { host: HOST })).headers['x-cache'], 'HIT', `${path} is stored`);
}

describe('#17 purges are bounded', () => {
  it('#17 purge tags: a PURGE naming more than 256 distinct tags gets 400 and invalidates nothing', async () => {
    await storedHit('/tagged-a');
    const r = await purge('/', [`Surrogate-Key: t1 ${tags(300).join(' ')}`]);
    assert.equal(r.status, 400);
    assert.equal((await visit(stack.url, '/tagged-a', { host: HOST })).headers['x-cache'], 'HIT', 'still there: nothing invalidated');
  });

  it('#17 purge tags: Surrogate-Key and Cache-Tag count together (200 + 100 > 256): 400', async () => {
    await storedHit('/tagged-b');
    const r = await purge('/', [`Surrogate-Key: ${tags(200, 's').join(' ')}`, `Cache-Tag: t1,${tags(100, 'c').join(',')}`]);
    assert.equal(r.status, 400);
    assert.equal((await visit(stack.url, '/tagged-b', { host: HOST })).headers['x-cache'], 'HIT');
  });

  it('#17 purge tags: the cap counts distinct tags (one tag repeated 300 times is one tag): 200', async () => {
    await storedHit('/tagged-e');
    const r = await purge('/', [`Surrogate-Key: ${Array(300).fill('t1').join(' ')}`]);
    assert.equal(r.status, 200);
    assert.equal((await visit(stack.url, '/tagged-e', { host: HOST })).headers['x-cache'], 'MISS', 'invalidated');
  });

  it('#17 purge tags: 256 tags are still honoured (200, the tagged entry invalidated)', async () => {
    await storedHit('/tagged-c');
    const r = await purge('/', [`Surrogate-Key: t1 ${tags(255).join(' ')}`]);
    assert.equal(r.status, 200);
    assert.equal((await visit(stack.url, '/tagged-c', { host: HOST })).headers['x-cache'], 'MISS');
  });

  it('#17 purge tags: a hit is not delayed by a PURGE of 600 tags', async () => {
    await storedHit('/tagged-d');
    const big = purge('/', [`Surrogate-Key: ${tags(600).join(' ')}`]);
    await sleep(5);
    const t0 = performance.now();
    const hit = await visit(stack.url, '/tagged-d', { host: HOST });
    const ms = performance.now() - t0;
    const done = await big;
    assert.equal(hit.status, 200);
    // Found: a hit waited 1.25 s behind one purge of 2,700 tags.
    assert.ok(ms < 250, `a hit took ${ms.toFixed(0)} ms behind a big purge`);
    assert.equal(done.status, 400, 'refused');
  });
});
