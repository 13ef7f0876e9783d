// CacheAccess keeps a hot entry in L1 by re-reading the store before the copy runs out, and
// an unchanged re-read keeps the very Entry object (and what was prepared for it).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { L1Cache } from '../../src/engine/l1-cache.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { CacheError } from '../../src/errors.js';
import type { Entry } from '../../src/store/entry-codec.js';

const TTL = 1000;
const page = (text: string): Entry => ({ status: 200, headers: [['Content-Type', 'text/html']], storedAt: 0, staleAt: 1e13, gzip: false, body: Buffer.from(text) });

function setup() {
  let now = 0;
  const l1 = new L1Cache(1 << 20, TTL, () => now, () => 0); // renewal asked for from 60% of the ttl
  let gets = 0;
  let versions = 0;
  const behaviour = { version: (key: string): Promise<string | null | undefined> => MemoryStore.prototype.version.call(store, key) };
  // What the store does on a renewal: reads whole (get) or asks for a version alone.
  class CountedStore extends MemoryStore {
    override get(key: string) {
      if (key === 'k') gets++; // the entry's own reads, not its tags' counters
      return super.get(key);
    }
    override version(key: string) {
      versions++;
      return behaviour.version(key);
    }
  }
  const store = new CountedStore({ maxBytes: 1 << 20 });
  const metrics = new Metrics();
  const cache = new CacheAccess(store, metrics, pino({ level: 'silent' }), l1);
  const renewals = async (result: string) =>
    (await metrics.registry.getSingleMetric('memfront_l1_renewals_total')!.get()).values.find((v) => v.labels.result === result)?.value ?? 0;
  return { cache, store, l1, behaviour, renewals, gets: () => gets, versions: () => versions, at: (ms: number) => (now = ms) };
}

/** Saves v1 and lets one renewal check it: L1 holds it with the version its write made. */
async function versionedCopy(t: ReturnType<typeof setup>, entry = page('v1')) {
  await t.cache.save('k', entry, 300);
  t.at(600);
  t.cache.hot('k');
  await settle();
  assert.equal(t.gets(), 0, 'a copy this process wrote has its write\'s version: its first renewal asks for the version alone');
  assert.equal(t.versions(), 1);
  assert.equal(await t.renewals('unchanged'), 1);
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
    assert.equal(t.versions(), 1, 'one check, however many hits');
    assert.equal(t.gets(), 0, 'of the version alone: the write gave it');
    t.at(1500); // the first copy would have run out at 1000
    assert.equal(t.cache.hot('k'), first, 'an unchanged re-read keeps the same Entry');
    t.at(1601);
    assert.equal(t.cache.hot('k'), undefined, 'the renewed copy runs out ttlMs after its read began');
  });

  it('a copy that ran out without a renewal comes back on a read of the same bytes, as the same Entry', async () => {
    const t = setup();
    await t.cache.save('k', page('v1'), 300);
    const first = t.cache.hot('k');
    assert.ok(first);
    t.behaviour.version = () => Promise.resolve(undefined); // a store that cannot name versions: read whole
    t.at(2500); // never hit between 60% of its ttl and its end: no renewal ran
    assert.equal(t.cache.hot('k'), undefined, 'run out: not served from L1');
    const found = await t.cache.lookup('k');
    assert.equal(found.kind, 'found');
    assert.equal(found.kind === 'found' && found.l1, undefined, 'read from the store');
    assert.equal(found.kind === 'found' && found.entry, first, 'the same bytes: the same Entry, with what was prepared for it');
    assert.equal(t.gets(), 1);
    assert.equal(t.cache.hot('k'), first, 'and in L1 again, from that read');
    t.at(3501);
    assert.equal(t.cache.hot('k'), undefined, 'for ttlMs from the read, no longer');
    // Changed in the store meanwhile: the new bytes are a new Entry.
    await t.store.set('k', (await import('../../src/store/entry-codec.js')).encodeEntry(page('v2')), 300);
    const changed = await t.cache.lookup('k');
    assert.equal(changed.kind === 'found' && changed.entry.body.toString(), 'v2');
    assert.notEqual(changed.kind === 'found' && changed.entry, first);
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

  it('a copy read with a version is renewed by asking for the version alone while it is unchanged', async () => {
    const t = setup();
    await versionedCopy(t);
    const first = t.cache.hot('k');
    for (const at of [1300, 2000, 2700]) {
      t.at(at);
      assert.equal(t.cache.hot('k'), first, `still held at ${at} ms`);
      await settle();
    }
    assert.equal(t.gets(), 0, 'no whole reads');
    assert.equal(t.versions(), 4);
    assert.equal(await t.renewals('unchanged'), 4);
    t.at(2700 + 1000 + 1);
    assert.equal(t.cache.hot('k'), undefined, 'each check renews from its start, no longer');
  });

  it('a write elsewhere, even of the same bytes, is read whole at the next renewal', async () => {
    const t = setup();
    await versionedCopy(t);
    const { encodeEntry } = await import('../../src/store/entry-codec.js');
    await t.store.set('k', encodeEntry(page('v2')), 300);
    t.at(1300);
    assert.equal(t.cache.hot('k')?.body.toString(), 'v1');
    await settle();
    assert.equal(t.cache.hot('k')?.body.toString(), 'v2');
    assert.equal(t.gets(), 1);
    assert.equal(await t.renewals('reread'), 1);

    await t.store.delete('k');
    t.at(2000);
    t.cache.hot('k');
    await settle();
    assert.equal(t.cache.hot('k'), undefined, 'gone from the store, gone from L1 at the version check');
    assert.equal(t.gets(), 1, 'a missing version needs no read');
    assert.equal(await t.renewals('gone'), 1);
  });

  it('a tag purged elsewhere drops an unchanged copy at its version check', async () => {
    const t = setup();
    await t.store.set('gen:a', Buffer.from('1'), 0);
    await versionedCopy(t, { ...page('v1'), tags: { 'gen:a': 1 } });
    await t.store.incr('gen:a', 1, 1, 0); // another process's tag purge
    t.at(1300);
    assert.ok(t.cache.hot('k'), 'served until the check');
    await settle();
    assert.equal(t.cache.hot('k'), undefined);
    assert.equal(await t.renewals('gone'), 1);
  });

  it('a failed version check keeps the copy to its end and lets the next hit try again; "cannot tell" reads whole', async () => {
    const t = setup();
    await versionedCopy(t);
    t.behaviour.version = () => Promise.reject(new CacheError('MF_CACHE_TIMEOUT', 'late'));
    t.at(1300);
    const held = t.cache.hot('k');
    await settle();
    assert.equal(await t.renewals('failed'), 1);
    assert.equal(t.cache.hot('k'), held, 'kept');
    await settle();
    assert.equal(t.versions(), 3, 'the next hit asked again');
    t.behaviour.version = () => Promise.resolve(undefined);
    t.cache.hot('k');
    await settle();
    assert.equal(t.gets(), 1, 'read whole');
    t.at(2100);
    assert.equal(t.cache.hot('k'), held, 'renewed by the whole read, which found the same bytes');
  });
});

describe('L1 copies that ran out, revived by their version', () => {
  /** A copy this process wrote (so it has its write's version), run out with no hit to renew it. */
  async function ranOut(entry = page('v1'), t = setup()) {
    await t.cache.save('k', entry, 300);
    const first = t.cache.hot('k');
    assert.ok(first);
    t.at(2500);
    assert.equal(t.cache.hot('k'), undefined, 'run out: not served from L1');
    return { t, first };
  }

  it('an unchanged entry is asked for by its version alone, comes back as the same Entry, and is served for ttlMs from the check', async () => {
    const { t, first } = await ranOut();
    const found = await t.cache.lookup('k');
    assert.equal(found.kind, 'found');
    assert.equal(found.kind === 'found' && found.entry, first, 'the same Entry, with what was prepared for it');
    assert.equal(found.kind === 'found' && found.l1, undefined, 'a hit of the store tier: memcached was asked');
    assert.equal(t.versions(), 1);
    assert.equal(t.gets(), 0, 'its bytes were not read');
    assert.equal(await t.renewals('unchanged'), 0, 'not a renewal: the request itself asked');
    assert.equal(t.cache.hot('k'), first, 'served from L1 again');
    t.at(3501);
    assert.equal(t.cache.hot('k'), undefined, 'for ttlMs from the check, no longer');
  });

  it('the question is sent at once, not held back for a batch; a renewal\'s may be', async () => {
    const t = setup();
    const asked: Array<boolean | undefined> = [];
    (t.store as unknown as { version: (k: string, u?: boolean) => Promise<string | null | undefined> }).version = function (this: MemoryStore, key: string, urgent?: boolean) {
      asked.push(urgent);
      return MemoryStore.prototype.version.call(this, key);
    };
    await t.cache.save('k', page('v1'), 300);
    t.at(600);
    t.cache.hot('k');
    await settle();
    t.at(2500);
    await t.cache.lookup('k');
    assert.deepEqual(asked, [undefined, true], 'the renewal\'s question may wait for others; the request\'s is urgent');
  });

  it('a write elsewhere, even of the same bytes, is read whole, with one version question', async () => {
    const { t, first } = await ranOut();
    const { encodeEntry } = await import('../../src/store/entry-codec.js');
    await t.store.set('k', encodeEntry(page('v2')), 300);
    const found = await t.cache.lookup('k');
    assert.equal(found.kind === 'found' && found.entry.body.toString(), 'v2');
    assert.notEqual(found.kind === 'found' && found.entry, first);
    assert.equal(t.versions(), 1);
    assert.equal(t.gets(), 1);
    assert.equal(t.cache.hot('k')?.body.toString(), 'v2');
  });

  it('gone from the store (a PURGE elsewhere): absent, with no read', async () => {
    const { t } = await ranOut();
    await t.store.delete('k');
    assert.equal((await t.cache.lookup('k')).kind, 'absent');
    assert.equal(t.gets(), 0);
    assert.equal(t.cache.hot('k'), undefined, 'and never served from L1 again');
  });

  it('a tag purged elsewhere: invalidated, never the held copy', async () => {
    const t0 = setup();
    await t0.store.set('gen:a', Buffer.from('1'), 0);
    const { t } = await ranOut({ ...page('v1'), tags: { 'gen:a': 1 } }, t0);
    await t.store.incr('gen:a', 1, 1, 0); // another process's tag purge
    assert.equal((await t.cache.lookup('k')).kind, 'invalidated');
    assert.equal(t.gets(), 0);
    assert.equal(t.cache.hot('k'), undefined);
  });

  it('a version question that fails, or that the store cannot answer, falls back to the whole read', async () => {
    const { t, first } = await ranOut();
    t.behaviour.version = () => Promise.reject(new CacheError('MF_CACHE_TIMEOUT', 'late'));
    const found = await t.cache.lookup('k');
    assert.equal(found.kind === 'found' && found.entry, first, 'read whole: the same bytes, the same Entry');
    assert.equal(t.gets(), 1);
    t.at(4000);
    t.behaviour.version = () => Promise.resolve(undefined);
    const again = await t.cache.lookup('k');
    assert.equal(again.kind === 'found' && again.entry, first);
    assert.equal(t.gets(), 2);
  });
});
