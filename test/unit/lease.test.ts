// The cross-process lease over the memory store (memcached semantics for add and expiry,
// with a clock the test moves): one holder, busy for the rest, pass markers, purges, renewal,
// and memcached trouble read as "no lease to be had".

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { Leases, leaseKey, type LeaseStore } from '../../src/engine/lease.js';
import { MemoryStore } from '../../src/store/memory-store.js';

/**
 * `versioned`: the store gives add's version, and the lease renews and releases by it (the
 * memcached binary protocol and the memory store); without (the text protocol), it renews
 * with touch and releases by reading, then deleting.
 * `beforeWrite` runs inside a lease write (set or delete), before it reaches the store: a
 * PURGE landing there is the race two-step updates lose.
 */
function fixture(versioned = false) {
  const clock = { now: 1_000_000 };
  const store = new MemoryStore({ maxBytes: 1 << 20, now: () => clock.now });
  let failing = false;
  const hooks: { beforeWrite?: (key: string) => Promise<void> | void } = {};
  const calls: string[] = [];
  const wrap = <T>(name: string, f: () => Promise<T>): Promise<T | 'error'> => {
    calls.push(name);
    return failing ? Promise.resolve('error' as const) : f();
  };
  const write = <T>(name: string, key: string, f: () => Promise<T>) =>
    wrap(name, async () => {
      const hook = hooks.beforeWrite;
      if (hook) await hook(key);
      return f();
    });
  const access: LeaseStore = {
    add: (k, v, t) => wrap('add', () => store.add(k, v, t)),
    getRaw: (k) => wrap('get', () => store.get(k)),
    setRaw: (k, v, t) => write('set', k, () => store.set(k, v, t)),
    remove: (k) => write('delete', k, () => store.delete(k)),
    touch: (k, t) => write('touch', k, () => store.touch(k, t)),
    ...(versioned && {
      addVersioned: (k: string, v: Buffer, t: number) => wrap('add', () => store.addVersioned(k, v, t)),
      setIfVersion: (k: string, v: Buffer, t: number, version: string) => write('set-if', k, () => store.setIfVersion(k, v, t, version)),
      removeIfVersion: (k: string, version: string) => write('delete-if', k, () => store.deleteIfVersion(k, version)),
    }),
  };
  return {
    clock,
    store,
    hooks,
    calls,
    fail: (on: boolean) => (failing = on),
    // Two processes: two Leases over one store.
    a: new Leases(access, { ttlSeconds: 3, pollMs: 5, renewMs: 10 }),
    b: new Leases(access, { ttlSeconds: 3, pollMs: 5, renewMs: 10 }),
  };
}

for (const versioned of [false, true]) {
  const mode = versioned ? 'by version' : 'touch, and read then delete';
  test(`(${mode}) one holder; the others are told it is busy; released, it can be taken again`, async () => {
    const f = fixture(versioned);
    const got = await f.a.acquire('page');
    assert.equal(got.kind, 'acquired');
    assert.deepEqual(await f.b.acquire('page'), { kind: 'busy' });
    assert.equal((await f.b.acquire('other page')).kind, 'acquired', 'per key');
    if (got.kind === 'acquired') await got.lease.release();
    assert.equal((await f.b.acquire('page')).kind, 'acquired');
  });

  test(`(${mode}) waitRelease: released when the holder releases, pass when it leaves a pass marker, timeout at the deadline`, async () => {
    const f = fixture(versioned);
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

  test(`(${mode}) a lease that is not renewed expires with its TTL (the holder died)`, async () => {
    const f = fixture(versioned);
    // A lease left behind by a process that is gone: only the TTL ends it.
    await f.store.add(leaseKey('k'), Buffer.from('Lgone'), 3);
    assert.deepEqual(await f.a.acquire('k'), { kind: 'busy' });
    f.clock.now += 3000;
    assert.equal((await f.a.acquire('k')).kind, 'acquired');
  });

  test(`(${mode}) a live holder renews its lease past the TTL`, async () => {
    const f = fixture(versioned);
    const got = await f.a.acquire('k');
    assert.equal(got.kind, 'acquired');
    for (let i = 0; i < 4; i++) {
      f.clock.now += 2000;
      await sleep(30); // a few renewal ticks, each setting the TTL again from the moved clock
    }
    assert.deepEqual(await f.b.acquire('k'), { kind: 'busy' }, '8 s on a 3 s lease, still held');
    if (got.kind === 'acquired') await got.lease.release();
  });

  test(`(${mode}) a PURGE drops the lease: its holder is told, does not renew it, and does not remove a newcomer's`, async () => {
    const f = fixture(versioned);
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

  test(`(${mode}) memcached trouble: no lease to be had, and waiting ends at once`, async () => {
    const f = fixture(versioned);
    f.fail(true);
    assert.deepEqual(await f.a.acquire('k'), { kind: 'unavailable' });
    assert.equal(await f.a.waitRelease('k', Date.now() + 5000), 'released');
  });

  test(`(${mode}) release says whether the lease was ours to the end, and never removes another's`, async () => {
    const f = fixture(versioned);
    const kept = await f.a.acquire('kept');
    assert.equal(kept.kind === 'acquired' && (await kept.lease.release()), 'released');
    assert.equal((await f.b.acquire('kept')).kind, 'acquired', 'released: free for the next');

    const dropped = await f.a.acquire('dropped');
    assert.equal(dropped.kind, 'acquired');
    await f.b.drop('dropped');
    const newcomer = await f.b.acquire('dropped');
    assert.equal(newcomer.kind, 'acquired');
    // The holder never looked at its lease after the PURGE: release is where it learns.
    assert.equal(dropped.kind === 'acquired' && (await dropped.lease.release()), 'lost');
    assert.deepEqual(await f.a.acquire('dropped'), { kind: 'busy' }, 'the newcomer still holds it');

    const failing = await f.a.acquire('failing');
    f.fail(true);
    assert.equal(failing.kind === 'acquired' && (await failing.lease.release()), 'unknown', 'memcached trouble: cannot tell');
  });

  test(`(${mode}) a PURGE landing inside a renewal does not bring the lease back`, async () => {
    const f = fixture(versioned);
    const got = await f.a.acquire('k');
    assert.equal(got.kind, 'acquired');
    if (got.kind !== 'acquired') return;
    let purges = 0;
    // The next lease write (the renewal, every 10 ms) meets a PURGE on its way to the store.
    f.hooks.beforeWrite = async (key) => {
      f.hooks.beforeWrite = undefined;
      purges++;
      assert.equal(key, leaseKey('k'));
      await f.store.delete(key);
    };
    await sleep(40);
    assert.equal(purges, 1, 'a renewal ran into the PURGE');
    assert.equal(await f.store.get(leaseKey('k')), null, 'the dropped lease stays dropped');
    assert.equal(await got.lease.held(), false);
    assert.equal((await f.b.acquire('k')).kind, 'acquired', 'the next fetch is free to take it');
    assert.equal(await got.lease.release(), 'lost');
  });
}

test('a renewal is one store operation; by version a release is one too', async () => {
  const f = fixture(true);
  const got = await f.a.acquire('k');
  assert.equal(got.kind, 'acquired');
  if (got.kind !== 'acquired') return;
  f.calls.length = 0;
  await sleep(35);
  assert.ok(f.calls.length >= 1 && f.calls.every((c) => c === 'set-if'), `renewals: ${f.calls.join(', ')}`);
  f.calls.length = 0;
  assert.equal(await got.lease.release(), 'released');
  assert.deepEqual(f.calls, ['delete-if']);
  assert.equal(await f.store.get(leaseKey('k')), null);

  const read = fixture(false);
  const other = await read.a.acquire('k');
  read.calls.length = 0;
  await sleep(35);
  assert.ok(read.calls.length >= 1 && read.calls.every((c) => c === 'touch'), `renewals: ${read.calls.join(', ')}`);
  read.calls.length = 0;
  assert.equal(other.kind === 'acquired' && (await other.lease.release()), 'released');
  assert.deepEqual(read.calls, ['get', 'delete'], 'without a version, the release reads, then deletes');
});

test('by version: a release waits for a renewal under way, whose write moves the version', async () => {
  const f = fixture(true);
  const got = await f.a.acquire('k');
  assert.equal(got.kind, 'acquired');
  if (got.kind !== 'acquired') return;
  let arrived = false;
  let letRenewalThrough!: () => void;
  const gate = new Promise<void>((resolve) => (letRenewalThrough = resolve));
  f.hooks.beforeWrite = async () => {
    f.hooks.beforeWrite = undefined;
    arrived = true;
    await gate;
  };
  // (The renewal timer keeps nothing alive: wait on one that does.)
  while (!arrived) await sleep(5);
  let settled = false;
  const released = got.lease.release().finally(() => (settled = true));
  await sleep(20);
  assert.equal(settled, false, 'not before the renewal has answered');
  letRenewalThrough();
  assert.equal(await released, 'released', 'by the version the renewal made, not the one before it');
  assert.equal(await f.store.get(leaseKey('k')), null);
});
