// How a fetch under a lease ends (leased-fetch.ts), over CacheAccess and the memory store
// (which gives add's version, as memcached's binary protocol does): released, a pass marker,
// or, when the lease was dropped while the entry was being stored, the entry taken back out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { LeasedFetches } from '../../src/engine/leased-fetch.js';
import { Leases, leaseKey, type Lease } from '../../src/engine/lease.js';
import type { FetchResult } from '../../src/engine/fetch-result.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { Entry } from '../../src/store/entry-codec.js';

const page = (text: string): Entry => ({ status: 200, headers: [['Content-Type', 'text/html']], storedAt: 0, staleAt: 1e13, gzip: false, body: Buffer.from(text) });

async function fixture() {
  const store = new MemoryStore({ maxBytes: 1 << 20 });
  const metrics = new Metrics();
  const cache = new CacheAccess(store, metrics, pino({ level: 'silent' }));
  const pending: Promise<unknown>[] = [];
  const leased = new LeasedFetches({ cache, metrics, track: (p) => (pending.push(p), p) });
  const leases = new Leases(cache, { ttlSeconds: 3, pollMs: 5, renewMs: 1000 });
  const take = async (key: string): Promise<Lease> => {
    const got = await leases.acquire(key);
    assert.equal(got.kind, 'acquired');
    return (got as { lease: Lease }).lease;
  };
  const purgedNotStored = async () => (await metrics.notStored.get()).values.find((v) => v.labels.reason === 'purged')?.value ?? 0;
  return { store, cache, leased, leases, take, settled: () => Promise.all(pending), purgedNotStored };
}

/** A fetch that stores `entry` under `key` as the miss path does, with `during` run between the store's decision and its write. */
function storing(f: Awaited<ReturnType<typeof fixture>>, key: string, entry: Entry, during?: () => Promise<void>): () => Promise<FetchResult> {
  return async () => {
    const saved = (async () => {
      await during?.();
      return f.cache.save(key, entry, 60);
    })();
    return { kind: 'stored', entry, bytes: entry.body.length, saved };
  };
}

test('stored while the lease was ours: the lease is released, the entry kept', async () => {
  const f = await fixture();
  const lease = await f.take('k1');
  const result = await f.leased.run('k1', lease, storing(f, 'k1', page('one')));
  assert.equal(result.kind, 'stored');
  await f.settled();
  assert.equal(await f.store.get(leaseKey('k1')), null, 'released');
  assert.equal((await f.cache.lookup('k1')).kind, 'found');
  assert.equal(await f.purgedNotStored(), 0);
});

test('a PURGE between the last look at the lease and the write: the entry is taken back out', async () => {
  const f = await fixture();
  const lease = await f.take('k2');
  // What a PURGE does (handler.ts): the entry and the lease go.
  const purge = async () => {
    await f.cache.remove('k2');
    await f.leases.drop('k2');
  };
  await f.leased.run('k2', lease, storing(f, 'k2', page('before the purge'), purge));
  await f.settled();
  assert.equal((await f.cache.lookup('k2')).kind, 'absent', 'the page the PURGE removed is not left stored');
  assert.equal(await f.purgedNotStored(), 1);
  assert.equal((await f.leases.acquire('k2')).kind, 'acquired', 'the next fetch may take the key');
});

test('not stored after all, or not shareable: a pass marker; a failure: released', async () => {
  const f = await fixture();
  const refused = await f.take('k3');
  await f.leased.run('k3', refused, async () => ({ kind: 'stored', entry: page('x'), bytes: 1, saved: Promise.resolve(false) }));
  const privately = await f.take('k4');
  await f.leased.run('k4', privately, async () => ({ kind: 'not-shareable', bytes: 1 }));
  const failed = await f.take('k5');
  await f.leased.run('k5', failed, async () => ({ kind: 'failed', bytes: 0 }));
  await f.settled();
  assert.deepEqual(await f.leases.acquire('k3'), { kind: 'pass' });
  assert.deepEqual(await f.leases.acquire('k4'), { kind: 'pass' });
  assert.equal((await f.leases.acquire('k5')).kind, 'acquired');
});

test('a fetch that throws releases its lease and throws on', async () => {
  const f = await fixture();
  const lease = await f.take('k6');
  await assert.rejects(f.leased.run('k6', lease, async () => Promise.reject(new Error('backend gone'))), /backend gone/);
  assert.equal((await f.leases.acquire('k6')).kind, 'acquired');
});
