// An L1 copy that ran out, against a real memcached: a read of the same bytes brings back the
// same Entry (and what was prepared for it); changed or forged bytes in memcached never do.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { L1Cache } from '../../src/engine/l1-cache.js';
import { encodeEntry, type Entry } from '../../src/store/entry-codec.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';

const page = (text: string): Entry => ({ status: 200, headers: [['Content-Type', 'text/html']], storedAt: 0, staleAt: 1e13, gzip: false, body: Buffer.from(text) });

describe('L1 copies that ran out, over memcached', () => {
  let mc: MemcachedProcess;
  let store: MemcachedStore;
  let now = 0;
  let cache: CacheAccess;
  before(async () => {
    mc = await startMemcached();
    store = new MemcachedStore({ servers: [mc.address], timeoutMs: 1000, maxItemSize: 1 << 20 });
    cache = new CacheAccess(store, new Metrics(), pino({ level: 'silent' }), new L1Cache(1 << 20, 1000, () => now, () => 0.99));
  });
  after(async () => {
    await store.close();
    await mc.stop();
  });

  it('a read of the same bytes brings back the same Entry; a write elsewhere brings the new one', async () => {
    now = 10_000;
    assert.equal(await cache.save('same', page('v1'), 300), true);
    const first = cache.hot('same');
    assert.ok(first);
    now += 1500;
    assert.equal(cache.hot('same'), undefined, 'run out: not served from L1');
    const again = await cache.lookup('same');
    assert.equal(again.kind === 'found' && again.entry, first, 'memcached holds the same bytes: the same Entry');
    assert.equal(cache.hot('same'), first, 'served from L1 again');
    // Another process stores a new version of the page.
    assert.equal(await store.set('same', encodeEntry(page('v2')), 300), true);
    now += 1500;
    const changed = await cache.lookup('same');
    assert.equal(changed.kind === 'found' && changed.entry.body.toString(), 'v2');
    assert.notEqual(changed.kind === 'found' && changed.entry, first);
  });

  it('forged bytes in memcached are decoded as such: an unreadable entry, deleted, never the kept copy', async () => {
    now = 20_000;
    assert.equal(await cache.save('forged', page('the real page'), 300), true);
    assert.ok(cache.hot('forged'));
    now += 1500;
    assert.equal(await store.set('forged', Buffer.from('<html>not an entry at all</html>'), 300), true);
    const found = await cache.lookup('forged');
    assert.equal(found.kind, 'corrupt', 'the kept copy does not stand in for what memcached now holds');
    assert.equal(await store.get('forged'), null, 'the unreadable value is deleted');
    assert.equal(cache.hot('forged'), undefined);
  });

  it('a purge elsewhere (a delete in memcached) leaves the kept copy unserved', async () => {
    now = 30_000;
    assert.equal(await cache.save('purged', page('gone soon'), 300), true);
    now += 1500;
    assert.equal(await store.delete('purged'), true);
    assert.equal((await cache.lookup('purged')).kind, 'absent');
    assert.equal(cache.hot('purged'), undefined);
  });
});
