// The cross-process lease over the memory store (memcached semantics for add and expiry,
// with a clock the test moves): one holder, busy for the rest, pass markers, purges, renewal,
// and memcached trouble read as "no lease to be had".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Leases, leaseKey, type LeaseStore } from '../../src/engine/lease.js';
import { MemoryStore } from '../../src/store/memory-store.js';

function fixture() {
  const clock = { now: 1_000_000 };
  const store = new MemoryStore({ maxBytes: 1 << 20, now: () => clock.now });
  let failing = false;
  const wrap = <T>(f: () => Promise<T>): Promise<T | 'error'> => (failing ? Promise.resolve('error' as const) : f());
  const access: LeaseStore = {
    add: (k, v, t) => wrap(() => store.add(k, v, t)),
    getRaw: (k) => wrap(() => store.get(k)),
    setRaw: (k, v, t) => wrap(() => store.set(k, v, t)),
    remove: (k) => wrap(() => store.delete(k)),
  };
  return {
    clock,
    store,
    fail: (on: boolean) => (failing = on),
    // Two processes: two Leases over one store.
    a: new Leases(access, { ttlSeconds: 3, pollMs: 5, renewMs: 10 }),
    b: new Leases(access, { ttlSeconds: 3, pollMs: 5, renewMs: 10 }),
  };
}

test('one holder; the others are told it is busy; released, it can be taken again', async () => {
  const f = fixture();
  const got = await f.a.acquire('page');
  assert.equal(got.kind, 'acquired');
  assert.deepEqual(await f.b.acquire('page'), { kind: 'busy' });
  assert.equal((await f.b.acquire('other page')).kind, 'acquired', 'per key');
  if (got.kind === 'acquired') await got.lease.release();
  assert.equal((await f.b.acquire('page')).kind, 'acquired');
});

test('waitRelease: released when the holder releases, pass when it leaves a pass marker, timeout at the deadline', async () => {
  const f = fixture();
  const first = await f.a.acquire('k1');
  const waiting = f.b.waitRelease('k1', Date.now() + 2000);
  if (first.kind === 'acquired') await first.lease.release();
  assert.equal(await waiting, 'released');

  const second = await f.a.acquire('k2');
  const waiting2 = f.b.waitRelease('k2', Date.now() + 2000);
  if (second.kind === 'acquired') await second.lease.pass();
  assert.equal(await waiting2, 'pass');
  assert.deepEqual(await f.b.acquire('k2'), { kind: 'pass' }, 'newcomers see the pass marker too');

  const third = await f.a.acquire('k3');
  const t0 = Date.now();
  assert.equal(await f.b.waitRelease('k3', t0 + 50), 'timeout');
  assert.ok(Date.now() - t0 < 500);
  if (third.kind === 'acquired') await third.lease.release();
});

test('a lease that is not renewed expires with its TTL (the holder died)', async () => {
  const f = fixture();
  // A lease left behind by a process that is gone: only the TTL ends it.
  await f.store.add(leaseKey('k'), Buffer.from('Lgone'), 3);
  assert.deepEqual(await f.a.acquire('k'), { kind: 'busy' });
  f.clock.now += 3000;
  assert.equal((await f.a.acquire('k')).kind, 'acquired');
});

test('a live holder renews its lease past the TTL', async () => {
  const f = fixture();
  const got = await f.a.acquire('k');
  assert.equal(got.kind, 'acquired');
  for (let i = 0; i < 4; i++) {
    f.clock.now += 2000;
    await sleep(30); // a few renewal ticks, each setting the TTL again from the moved clock
  }
  assert.deepEqual(await f.b.acquire('k'), { kind: 'busy' }, '8 s on a 3 s lease, still held');
  if (got.kind === 'acquired') await got.lease.release();
});

test('a PURGE drops the lease: its holder is told, does not renew it, and does not remove a newcomer\'s', async () => {
  const f = fixture();
  const got = await f.a.acquire('k');
  assert.equal(got.kind, 'acquired');
  if (got.kind !== 'acquired') return;
  assert.equal(await got.lease.held(), true);
  await f.b.drop('k');
  assert.equal(await got.lease.held(), false, 'the holder\'s answer predates the purge');
  await sleep(30);
  const next = await f.b.acquire('k');
  assert.equal(next.kind, 'acquired', 'not brought back by a renewal');
  await got.lease.release();
  assert.deepEqual(await f.a.acquire('k'), { kind: 'busy' }, 'the newcomer still holds it');
});

test('memcached trouble: no lease to be had, and waiting ends at once', async () => {
  const f = fixture();
  f.fail(true);
  assert.deepEqual(await f.a.acquire('k'), { kind: 'unavailable' });
  assert.equal(await f.a.waitRelease('k', Date.now() + 5000), 'released');
});
