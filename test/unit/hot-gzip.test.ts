// Hot pages gzipped again, harder (hot-gzip.ts), against a real memcached: the new bytes
// replace the old only over the very item they were made from, so a purge or an update made
// meanwhile wins and nothing deleted comes back; what L1 and the store hold stays one response.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { carryIdentity, deliverEntry, deliverNow } from '../../src/engine/deliver.js';
import { HotGzip, regzippable, type HotGzipResult } from '../../src/engine/hot-gzip.js';
import { L1Cache } from '../../src/engine/l1-cache.js';
import { decodeEntry, entryOf, type Entry } from '../../src/store/entry-codec.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { memcachedCommand, startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { constantBody } from '../../bench/lib/constant-body.js';

// Compressible like a page, ~100 KB: 25 KB at level 1, 19 KB at 6 (the bench's page).
const pageText = (seed: number): Buffer => constantBody(100 * 1024, seed);

/** `recorded`: the level the entry says, null for none (a memfront that did not record it). */
function gzipEntry(identity: Buffer, level: number, recorded: number | null = level): Entry {
  return entryOf({
    status: 200,
    headers: [['Content-Type', 'text/html'], ['ETag', '"v1"']],
    storedAt: Date.now(),
    staleAt: Date.now() + 300_000,
    gzip: true,
    gzippedHere: true,
    gzipLevel: recorded ?? undefined,
    identityLength: identity.length,
    etag: '"v1"',
    body: zlib.gzipSync(identity, { level }),
  });
}

let mc: MemcachedProcess;
before(async () => {
  mc = await startMemcached();
});
after(async () => {
  await mc?.stop();
});

function setup(hits = 3) {
  const store = new MemcachedStore({ servers: [mc.address], protocol: 'binary', timeoutMs: 1000, maxItemSize: 1024 * 1024 });
  const l1 = new L1Cache(8 << 20, 60_000);
  const metrics = new Metrics();
  const cache = new CacheAccess(store, metrics, pino({ level: 'silent' }), l1, {
    hotGzip: { level: 6, hits, exptime: () => 300, carryIdentity },
  });
  const results = async () => {
    const values = (await metrics.registry.getSingleMetric('memfront_hot_gzip_total')!.get()).values;
    return Object.fromEntries(values.filter((v) => v.value > 0).map((v) => [v.labels.result, v.value]));
  };
  const stored = async (key: string) => decodeEntry(await store.get(key));
  return { store, l1, metrics, cache, results, stored, close: () => store.close() };
}

const until = async (what: () => Promise<boolean>, label: string) => {
  for (let i = 0; i < 200; i++) {
    if (await what()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${label}`);
};

describe('hot gzip: which entries', () => {
  const identity = constantBody(20_000, 1);
  it('only bodies memfront gzipped, held whole, at a lower level or one not recorded', () => {
    assert.equal(regzippable(gzipEntry(identity, 1), 6), true);
    assert.equal(regzippable(gzipEntry(identity, 1, null), 6), true, 'level not recorded (an older memfront)');
    assert.equal(regzippable(gzipEntry(identity, 6), 6), false, 'already at the level');
    assert.equal(regzippable(gzipEntry(identity, 9), 6), false);
    // The backend's own gzip bytes are its representation (a strong ETag may name them): never rewritten.
    assert.equal(regzippable(entryOf({ ...gzipEntry(identity, 1), gzippedHere: undefined, gzipLevel: undefined }), 6), false);
    assert.equal(regzippable(entryOf({ ...gzipEntry(identity, 1), gzip: false, body: identity }), 6), false);
    const chunked = entryOf({ ...gzipEntry(identity, 1), body: Buffer.alloc(0), chunks: { id: 'x', size: 10, length: 20, crcs: [0, 0] } });
    assert.equal(regzippable(chunked, 6), false, 'a body held in chunks');
  });
});

describe('hot gzip against memcached', () => {
  it('a page served `hits` times from L1 is gzipped again: smaller in memcached and in L1, the same response', async () => {
    const t = setup(3);
    try {
      const identity = pageText(2);
      const first = gzipEntry(identity, 1);
      assert.equal(await t.cache.save('hg:page', first, 300), true);
      const before = (await t.stored('hg:page'))!;
      assert.equal(before.gzipLevel, 1);
      for (let i = 0; i < 2; i++) assert.ok(t.cache.hot('hg:page'));
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await t.results(), {}, 'not hot yet after 2 hits');
      t.cache.hot('hg:page');
      await until(async () => (await t.results()).stored === 1, 'the regzip to be stored');
      const after = (await t.stored('hg:page'))!;
      assert.equal(after.gzipLevel, 6);
      assert.ok(after.body.length < before.body.length * 0.9, `${after.body.length} against ${before.body.length}`);
      assert.deepEqual(zlib.gunzipSync(after.body), identity, 'the same page');
      for (const f of ['status', 'headers', 'storedAt', 'staleAt', 'identityLength', 'etag', 'gzippedHere', 'gzip'] as const) assert.deepEqual(after[f], before[f], f);
      // L1 holds the new bytes too, with the version memcached gave them.
      const held = t.cache.hot('hg:page')!;
      assert.deepEqual(held.body, after.body);
      assert.equal(t.cache.held('hg:page')!.version, await t.store.version('hg:page'));
      const saved = (await t.metrics.registry.getSingleMetric('memfront_hot_gzip_saved_bytes_total')!.get()).values[0].value;
      assert.equal(saved, before.body.length - after.body.length);
      // Written with what was left of its lifetime, not for ever.
      const ttl = await memcachedCommand(mc.port, 'mg hg:page t\r\n', '\r\n');
      const left = Number(/t(\d+)/.exec(ttl)?.[1]);
      assert.ok(left > 250 && left <= 300, ttl);
      // Not again: it is at the level now.
      for (let i = 0; i < 10; i++) t.cache.hot('hg:page');
      await new Promise((r) => setTimeout(r, 50));
      assert.deepEqual(await t.results(), { stored: 1 });
    } finally {
      await t.close();
    }
  });

  it('a write made elsewhere since L1 read the page wins: nothing gzipped, nothing written', async () => {
    const t = setup(1);
    try {
      const identity = pageText(3);
      await t.cache.save('hg:updated', gzipEntry(identity, 1), 300);
      // Another process stores the next version of the page; this one's L1 still holds the old.
      const other = new MemcachedStore({ servers: [mc.address], protocol: 'binary', timeoutMs: 1000, maxItemSize: 1024 * 1024 });
      const v2 = gzipEntry(pageText(4), 1);
      await new CacheAccess(other, new Metrics(), pino({ level: 'silent' })).save('hg:updated', v2, 300);
      await other.close();
      t.cache.hot('hg:updated');
      await until(async () => (await t.results()).changed === 1, 'the regzip to give up');
      assert.deepEqual((await t.stored('hg:updated'))!.body, v2.body, 'the other process\'s page stays');
    } finally {
      await t.close();
    }
  });

  // The races the conditional write is there for: a purge or an update arriving while the
  // thread pool gzips. The host's replaceHeld is CacheAccess's, with the race put just before it.
  async function race(between: (t: ReturnType<typeof setup>) => Promise<void>, tags?: Record<string, number>) {
    const t = setup(1);
    const results: HotGzipResult[] = [];
    const identity = pageText(5);
    await t.cache.save('hg:race', entryOf({ ...gzipEntry(identity, 1), tags }), 300);
    const hot = new HotGzip(
      {
        held: (k) => t.cache.held(k),
        currentVersion: (k) => t.cache.currentVersion(k),
        replaceHeld: async (...args) => {
          await between(t);
          return t.cache.replaceHeld(...args);
        },
      },
      { level: 6, exptime: () => 300, carryIdentity, done: (r) => results.push(r), error: (err) => assert.fail(String(err)) },
    );
    assert.equal(hot.take('hg:race'), true);
    await until(async () => results.length === 1, 'the regzip to finish');
    return { t, result: results[0] };
  }

  it('a PURGE while it gzips wins: the page is not brought back, in memcached or L1', async () => {
    const { t, result } = await race(async (t) => void (await t.cache.remove('hg:race')));
    try {
      assert.equal(result, 'changed');
      assert.equal(await t.store.get('hg:race'), null);
      assert.equal(t.cache.hot('hg:race'), undefined);
    } finally {
      await t.close();
    }
  });

  it('an update while it gzips wins: the new page stays, in memcached and L1', async () => {
    const v2 = gzipEntry(pageText(6), 1);
    const { t, result } = await race(async (t) => void (await t.cache.save('hg:race', v2, 300)));
    try {
      assert.equal(result, 'changed');
      assert.deepEqual((await t.stored('hg:race'))!.body, v2.body);
      assert.deepEqual(t.cache.hot('hg:race')!.body, v2.body);
    } finally {
      await t.close();
    }
  });

  it('a tag purge while it gzips wins: the page written back keeps the generations it was stored with, so it stays purged', async () => {
    const counter = `hg:tag:${Date.now()}`;
    const probe = setup(1);
    const stamped = (await probe.cache.stamp([counter]))!;
    await probe.close();
    const { t, result } = await race(async (t) => assert.equal(await t.cache.invalidate([counter]), true), stamped);
    try {
      // This process's L1 was emptied by the purge: the regzip finds its copy gone.
      assert.equal(result, 'changed');
      assert.equal(t.cache.hot('hg:race'), undefined);
      // memcached took the new bytes (the item itself had not changed), with the old generation.
      const stored = (await t.stored('hg:race'))!;
      assert.equal(stored.gzipLevel, 6);
      assert.deepEqual(stored.tags, stamped);
      // So it is a miss for every process.
      const fresh = new CacheAccess(t.store, new Metrics(), pino({ level: 'silent' }));
      assert.equal((await fresh.lookup('hg:race')).kind, 'invalidated');
    } finally {
      await t.close();
    }
  });

  it('a body no smaller at the hot level is left as it is', async () => {
    const t = setup(1);
    try {
      const identity = pageText(7);
      // Gzipped at 9 by a memfront that did not record it: level 6 gives no fewer bytes.
      const entry = gzipEntry(identity, 9, null);
      await t.cache.save('hg:nogain', entry, 300);
      t.cache.hot('hg:nogain');
      await until(async () => (await t.results())['no-gain'] === 1, 'the regzip to find no gain');
      assert.deepEqual((await t.stored('hg:nogain'))!.body, entry.body);
    } finally {
      await t.close();
    }
  });

  it('identity clients answered from the old copy keep theirs: no inflate of the new body', async () => {
    const t = setup(2);
    try {
      const identity = pageText(8);
      await t.cache.save('hg:identity', gzipEntry(identity, 1), 300);
      const old = t.cache.hot('hg:identity')!;
      // An identity client's answer makes the inflated copy (deliver.ts).
      const out = fakeResponse();
      await deliverNowOrLater(old, out);
      assert.deepEqual(out.body(), identity);
      t.cache.hot('hg:identity');
      await until(async () => (await t.results()).stored === 1, 'the regzip');
      const next = t.cache.hot('hg:identity')!;
      assert.notEqual(next, old);
      const again = fakeResponse();
      assert.notEqual(deliverNow(again.req, again.res, next, { xCache: 'HIT', cacheStatus: 'memfront; hit', now: Date.now() }), undefined, 'answered at once, from the copy');
      assert.deepEqual(again.body(), identity);
    } finally {
      await t.close();
    }
  });
});

/** A request without Accept-Encoding and a response that collects what is written. */
function fakeResponse() {
  const req = new IncomingMessage(new Socket());
  req.method = 'GET';
  req.url = '/';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = 1;
  const res = new ServerResponse(req);
  const chunks: Buffer[] = [];
  res.write = ((c: Buffer | string) => (chunks.push(Buffer.from(c)), true)) as never;
  res.end = ((c?: Buffer | string) => {
    if (c) chunks.push(Buffer.from(c));
    return res;
  }) as never;
  return { req, res, body: () => Buffer.concat(chunks) };
}

async function deliverNowOrLater(entry: Entry, out: ReturnType<typeof fakeResponse>) {
  await deliverEntry(out.req, out.res, entry, { xCache: 'HIT', cacheStatus: 'memfront; hit', now: Date.now() });
}
