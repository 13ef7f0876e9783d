// The in-process L1 tier: hot entries served without a memcached round trip, for at most
// cache.l1.ttlMs after they were read from or written to memcached.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { memcachedCommand, startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get as rawGet, sleep, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let a: Stack;
let b: Stack;

const TTL_MS = 600;
// Both instances serve one site: the same Host, so the same keys.
const get = (url: string, opts: { method?: string } = {}) => rawGet(url, { ...opts, headers: { host: 'site.test' } });

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, (req, res) => {
    let body = `page ${req.url} v${backend.count(req.url ?? '')}`;
    // Not compressible: stored as it is, ~48 KB.
    if (req.url?.startsWith('/big')) body += randomBytes(36 * 1024).toString('base64');
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=300' });
    res.end(body);
  });
  const cfg = {
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, l1: { maxBytes: 1 << 20, ttlMs: TTL_MS } },
  };
  a = await startStack(cfg);
  b = await startStack(cfg);
});

/** An instance of its own on the shared memcached, with this L1 ttl (a and b keep theirs). */
const ownStack = (ttlMs: number) =>
  startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, l1: { maxBytes: 1 << 20, ttlMs } },
  });
const stats = () => memcachedCommand(mc.port, 'stats\r\n', 'END\r\n');
const stat = (text: string, name: string) => Number(new RegExp(`STAT ${name} (\\d+)`).exec(text)![1]);

after(async () => {
  await a?.close();
  await b?.close();
  await backend?.close();
  await mc?.stop();
});

describe('L1 tier', () => {
  it('makes the requests right after a miss coalesced answers or hits, then hits: one backend fetch', async () => {
    const first = await get(a.url + '/fresh');
    assert.equal(first.headers['x-cache'], 'MISS');
    // The client has the whole body (its Content-Length) the moment the last chunk is
    // written, which can be before the backend's end reaches memfront and the entry is built:
    // a request then joins the fetch still under way (MISS, detail=coalesced), never a second one.
    let next = await get(a.url + '/fresh');
    for (let i = 0; i < 20 && next.headers['x-cache'] !== 'HIT'; i++) {
      assert.equal(next.headers['cache-status'], 'memfront; fwd=miss; detail=coalesced');
      await sleep(5);
      next = await get(a.url + '/fresh');
    }
    assert.equal(next.headers['x-cache'], 'HIT');
    assert.equal(backend.count('/fresh'), 1);
  });

  it('PURGE clears the receiving process at once and other processes within ttlMs', async () => {
    const v1 = await get(a.url + '/purged');
    assert.equal(v1.body.toString(), 'page /purged v1');
    await a.mf.settled();
    assert.equal((await get(b.url + '/purged')).headers['x-cache'], 'HIT'); // now in b's L1 too
    assert.equal((await get(a.url + '/purged')).headers['x-cache'], 'HIT');
    const purge = await get(a.url + '/purged', { method: 'PURGE' });
    assert.equal(purge.status, 200);
    const purgedAt = Date.now();
    const v2 = await get(a.url + '/purged');
    assert.equal(v2.headers['x-cache'], 'MISS', 'receiving process: at once');
    assert.equal(v2.body.toString(), 'page /purged v2');
    await a.mf.settled();
    // b may still answer from its L1 copy (v1), but for no longer than the bound.
    await until(async () => (await get(b.url + '/purged')).body.toString() === 'page /purged v2', TTL_MS + 1000, 'b to see the purge');
    assert.ok(Date.now() - purgedAt <= TTL_MS + 250, `b saw it after ${Date.now() - purgedAt} ms`);
  });
  it('serves from L1 for at most ttlMs while memcached is gone, then falls back to misses', async () => {
    await get(a.url + '/hot');
    await a.mf.settled();
    await mc.stop();
    try {
      const t0 = Date.now();
      const during = await get(a.url + '/hot');
      assert.ok(Date.now() - t0 < TTL_MS, 'checked within the bound');
      assert.equal(during.headers['x-cache'], 'HIT', 'served from L1');
      await sleep(TTL_MS + 100);
      const afterBound = await get(a.url + '/hot');
      assert.equal(afterBound.status, 200);
      assert.equal(afterBound.headers['x-cache'], 'MISS', 'L1 copy no longer served past ttlMs');
    } finally {
      await mc.restart();
    }
  });

  it('serves a key hit without pause from L1: a few memcached reads per ttlMs, not one per request', async () => {
    // After the test before, memcached is back but may not be in use again yet.
    await until(async () => (await get(a.url + '/steady')).headers['x-cache'] === 'HIT', 10_000, 'memcached back in use');
    const gets = async () => Number(/STAT cmd_get (\d+)/.exec(await memcachedCommand(mc.port, 'stats\r\n', 'END\r\n'))![1]);
    const before = await gets();
    const fetched = backend.count('/steady');
    const started = Date.now();
    let requests = 0;
    while (Date.now() - started < TTL_MS * 3) {
      const r = await get(a.url + '/steady');
      assert.equal(r.headers['x-cache'], 'HIT');
      requests++;
    }
    const reads = (await gets()) - before;
    // Renewals (about two per ttlMs, see l1-renewal.test.ts) keep it fresh from memcached.
    assert.ok(requests > 50, `only ${requests} requests made`);
    assert.ok(reads >= 1 && reads <= 12, `${reads} memcached reads for ${requests} hits`);
    assert.equal(backend.count('/steady'), fetched);
  });

  it('a renewal finds an update made elsewhere within ttlMs', async () => {
    await until(async () => (await get(a.url + '/updated')).headers['x-cache'] === 'HIT', 10_000, 'memcached back in use');
    await until(async () => (await get(b.url + '/updated')).headers['x-cache'] === 'HIT', 10_000, 'memcached back in use at b');
    // b fetches and stores a new version (a PURGE at b drops b's copy and memcached's).
    assert.equal((await get(b.url + '/updated', { method: 'PURGE' })).status, 200);
    const v2 = await get(b.url + '/updated');
    assert.match(v2.body.toString(), /^page \/updated v[2-9]$/);
    const fresh = v2.body.toString();
    await b.mf.settled();
    const storedAt = Date.now();
    await until(async () => (await get(a.url + '/updated')).body.toString() === fresh, TTL_MS + 1000, 'a to see the new version');
    assert.ok(Date.now() - storedAt <= TTL_MS + 250, `a saw it after ${Date.now() - storedAt} ms`);
  });

  it('renews an unchanged hot entry by asking for its CAS alone: memcached sends bytes, not the entry', async () => {
    // Its own instance with a longer ttl: a copy that ran out before its check came back
    // (a loaded machine) would be read whole by the next request, which is not a renewal.
    const ttlMs = 2000;
    const c = await ownStack(ttlMs);
    try {
      await until(async () => (await get(c.url + '/big-steady')).headers['x-cache'] === 'HIT', 10_000, 'memcached in use');
      const renewals = async (result: string) =>
        Number(new RegExp(`memfront_l1_renewals_total\\{result="${result}"\\} (\\d+)`).exec((await c.mf.metrics.text()).body)?.[1] ?? 0);
      const hitFor = async (ms: number) => {
        const started = Date.now();
        while (Date.now() - started < ms) assert.equal((await get(c.url + '/big-steady')).headers['x-cache'], 'HIT');
      };
      // Whether c stored it (its copy has the CAS its set got back) or read it (with its CAS),
      // even the first renewal (at 60-90% of ttlMs) asks for the CAS alone.
      const before = await stats();
      const checks = await renewals('unchanged');
      await hitFor(ttlMs * 3);
      const after = await stats();
      const renewed = (await renewals('unchanged')) - checks;
      const sent = stat(after, 'bytes_written') - stat(before, 'bytes_written');
      assert.ok(renewed >= 2, `${renewed} renewals by CAS in ${ttlMs * 3} ms`);
      assert.equal(await renewals('reread'), 0, 'no renewal read it whole');
      // The stats reply itself (~1.5 KB) is counted too; one whole read would be ~37 KB.
      assert.ok(sent < 8 * 1024, `memcached sent ${sent} bytes for ${renewed} renewals of a 48 KB entry`);
      assert.ok(stat(after, 'cmd_get') - stat(before, 'cmd_get') >= renewed, 'the checks did reach memcached');
    } finally {
      await c.close();
    }
  });
  it('a copy that ran out with no hit comes back by its CAS: the next visitor gets a HIT without the entry crossing the wire, and never a page changed or purged elsewhere', async () => {
    const ttlMs = 300;
    const c = await ownStack(ttlMs);
    try {
      await until(async () => (await get(c.url + '/big-revive')).headers['x-cache'] === 'HIT', 10_000, 'memcached in use');
      const v1 = (await get(c.url + '/big-revive')).body.toString();
      await sleep(ttlMs + 150); // no hit: no renewal, the copy runs out
      const before = await stats();
      const again = await get(c.url + '/big-revive');
      const after = await stats();
      assert.equal(again.headers['x-cache'], 'HIT');
      assert.equal(again.body.toString(), v1);
      const sent = stat(after, 'bytes_written') - stat(before, 'bytes_written');
      // The stats reply itself (~1.5 KB) is counted too; the entry is ~48 KB.
      assert.ok(sent < 8 * 1024, `memcached sent ${sent} bytes to bring back a 48 KB entry`);
      assert.ok(stat(after, 'cmd_get') - stat(before, 'cmd_get') >= 1, 'memcached was asked');

      // Stored anew by another process: the next request past the copy's end gets the new page.
      assert.equal((await get(b.url + '/big-revive', { method: 'PURGE' })).status, 200);
      const v2 = (await get(b.url + '/big-revive')).body.toString();
      assert.notEqual(v2, v1);
      await b.mf.settled();
      await sleep(ttlMs + 150);
      const changed = await get(c.url + '/big-revive');
      assert.equal(changed.headers['x-cache'], 'HIT');
      assert.equal(changed.body.toString(), v2, 'the page stored elsewhere, not the copy held here');

      // Purged by another process: a miss, never the held copy.
      assert.equal((await get(b.url + '/big-revive', { method: 'PURGE' })).status, 200);
      await sleep(ttlMs + 150);
      const purged = await get(c.url + '/big-revive');
      assert.equal(purged.headers['x-cache'], 'MISS');
      assert.notEqual(purged.body.toString(), v2);
    } finally {
      await c.close();
    }
  });
});
