// CacheAccess keeps a hot entry in L1 by re-reading the store before the copy runs out, and
// an unchanged re-read keeps the very Entry object (and what was prepared for it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { L1Cache } from '../../src/engine/l1-cache.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Entry } from '../../src/store/entry-codec.js';

const TTL = 1000;
const page = (text: string): Entry => ({ status: 200, headers: [['Content-Type', 'text/html']], storedAt: 0, staleAt: 1e13, gzip: false, body: Buffer.from(text) });

function setup() {
  let now = 0;
  const l1 = new L1Cache(1 << 20, TTL, () => now, () => 0); // renewal asked for from 60% of the ttl
  const store = new MemoryStore({ maxBytes: 1 << 20 });
  let gets = 0;
  const counted = Object.assign(Object.create(store) as MemoryStore, {
    get: (key: string) => {
      gets++;
      return store.get(key);
    },
  });
  const cache = new CacheAccess(counted, new Metrics(), pino({ level: 'silent' }), l1);
  return { cache, store, l1, gets: () => gets, at: (ms: number) => (now = ms) };
}

// Lets a background renewal (a store read and its decode) finish.
const settle = () => new Promise((r) => setImmediate(r));

describe('L1 renewal', () => {
  it('a key hit past 60% of its ttl is read again once, and stays past the first copy\'s ttl', async () => {
    const t = setup();
    assert.equal(await t.cache.save('k', page('v1'), 300), true);
    const first = t.cache.hot('k');
    assert.ok(first);
    t.at(400);
    t.cache.hot('k');
    await settle();
    assert.equal(t.gets(), 0, 'no read before 60% of the ttl');
    t.at(600);
    t.cache.hot('k');
    t.cache.hot('k');
    await settle();
    assert.equal(t.gets(), 1, 'one read, however many hits');
    t.at(1500); // the first copy would have run out at 1000
    assert.equal(t.cache.hot('k'), first, 'an unchanged re-read keeps the same Entry');
    t.at(1601);
    assert.equal(t.cache.hot('k'), undefined, 'the renewed copy runs out ttlMs after its read began');
  });

  it('a renewal brings a changed entry, and drops one gone from the store', async () => {
    const t = setup();
    await t.cache.save('k', page('v1'), 300);
    await t.store.set('k', (await import('../../src/store/entry-codec.js')).encodeEntry(page('v2')), 300);
    t.at(600);
    assert.equal(t.cache.hot('k')?.body.toString(), 'v1');
    await settle();
    assert.equal(t.cache.hot('k')?.body.toString(), 'v2');
    await t.store.delete('k');
    t.at(1300);
    assert.ok(t.cache.hot('k'));
    await settle();
    assert.equal(t.cache.hot('k'), undefined, 'gone from the store, gone from L1 at the renewal');
  });

  it('a purge during a renewal keeps the renewal\'s answer out of L1', async () => {
    const t = setup();
    await t.cache.save('k', page('v1'), 300);
    t.at(600);
    t.cache.hot('k'); // renewal starts: its read is under way
    await t.cache.remove('k');
    await settle();
    assert.equal(t.cache.hot('k'), undefined);
  });
});
