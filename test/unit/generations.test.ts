// Generation counters (tag purge, purge-all) against the memory store: stamped values stay
// current until a bump; a lost counter reads as moved; in-process memory is bounded in time.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Generations, type CounterStore } from '../../src/engine/tags.js';
import { MemoryStore } from '../../src/store/memory-store.js';

function counters(): CounterStore & { store: MemoryStore; gets: number } {
  const store = new MemoryStore({ maxBytes: 1 << 20 });
  const c = {
    store,
    gets: 0,
    async getRaw(key: string) {
      c.gets++;
      return store.get(key);
    },
    async incr(key: string, by: number, initial: number, ttl: number) {
      return store.incr(key, by, initial, ttl);
    },
  };
  return c;
}

describe('Generations', () => {
  it('a stamp stays current until one of its counters is bumped', async () => {
    const c = counters();
    const g = new Generations(c, 0);
    const stamp = await g.stamp(['host', 'tag-a', 'tag-b']);
    assert.ok(stamp);
    assert.equal(await g.current(stamp), true);
    assert.equal(await g.bump(['tag-b']), true);
    assert.equal(await g.current(stamp), false);
    // A fresh stamp reads the moved value and is current again.
    assert.equal(await g.current((await g.stamp(['host', 'tag-a', 'tag-b']))!), true);
  });

  it('a counter that is gone (evicted, restarted) reads as moved, and comes back elsewhere', async () => {
    const c = counters();
    let next = 100;
    const g = new Generations(c, 0, Date.now, () => next++);
    const stamp = (await g.stamp(['host']))!;
    assert.equal(stamp.host, 100);
    await c.store.delete('host');
    assert.equal(await g.current(stamp), false);
    // Created again at another value: the old entries stay invalid.
    const again = (await g.stamp(['host']))!;
    assert.notEqual(again.host, stamp.host);
    assert.equal(await g.current(stamp), false);
  });

  it('random initial values fit memjs\'s 32-bit incr', async () => {
    const c = counters();
    const g = new Generations(c, 0);
    const stamp = (await g.stamp(['a', 'b', 'c']))!;
    for (const v of Object.values(stamp)) assert.ok(v >= 1 && v < 2 ** 30, String(v));
  });

  it('reuses values for at most cacheMs, and sees its own bumps at once', async () => {
    const c = counters();
    let now = 0;
    const g = new Generations(c, 1000, () => now);
    const stamp = (await g.stamp(['host']))!;
    c.gets = 0;
    assert.equal(await g.current(stamp), true);
    assert.equal(c.gets, 0, 'remembered from the stamp');
    // Another process bumps it: not seen while remembered...
    await c.store.incr('host', 1, 1, 0);
    now = 1000;
    assert.equal(await g.current(stamp), true);
    // ...and seen once the memory is older than cacheMs.
    now = 1001;
    assert.equal(await g.current(stamp), false);
    assert.equal(c.gets, 1);
    // Our own bump is known at once.
    const fresh = (await g.stamp(['host']))!;
    await g.bump(['host']);
    assert.equal(await g.current(fresh), false);
  });

  it('a read that finishes after this process\'s own purge does not bring the old value back', async () => {
    const c = counters();
    let now = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: CounterStore = {
      getRaw: async (k) => {
        const v = await c.store.get(k); // the old value, read before the purge...
        await gate; // ...and handed back after it
        return v;
      },
      incr: (k, by, initial, ttl) => c.incr(k, by, initial, ttl),
    };
    const g = new Generations(slow, 1000, () => now);
    const stamp = (await g.stamp(['host']))!;
    now = 2000; // past cacheMs: the next check reads memcached
    const late = g.current(stamp);
    await new Promise((r) => setImmediate(r));
    assert.equal(await g.bump(['host']), true);
    release();
    assert.equal(await late, true, 'it read before the purge');
    assert.equal(await g.current(stamp), false, 'the purge holds in this process');
  });

  it('counters read alongside the entry are not asked for again', async () => {
    const c = counters();
    const g = new Generations(c, 0);
    const stamp = (await g.stamp(['host', 'tag']))!;
    c.gets = 0;
    const early = await g.read(['host', 'tag', 'unrelated']);
    assert.equal(c.gets, 3);
    assert.equal(await g.current(stamp, early), true);
    assert.equal(c.gets, 3, 'no second round');
    // A counter the early read did not cover is read then.
    assert.equal(await g.current(stamp, await g.read(['host'])), true);
    assert.equal(c.gets, 5);
    await g.bump(['tag']);
    assert.equal(await g.current(stamp, await g.read(['host', 'tag'])), false);
  });

  it('a cache failure is neither current nor moved', async () => {
    const failing: CounterStore = { getRaw: async () => 'error', incr: async () => 'error' };
    const g = new Generations(failing, 0);
    assert.equal(await g.stamp(['a']), null);
    assert.equal(await g.current({ a: 1 }), 'error');
    assert.equal(await g.bump(['a']), false);
  });
});
