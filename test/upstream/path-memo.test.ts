// The decision memo on its own: ttl on a stepped clock, the bound, forgetting, and shared loads.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PathMemo } from '../../src/upstream/path-memo.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, step: (ms: number) => (t += ms) };
}

test('a value is remembered for ttlMs from when it was set, then gone', () => {
  const c = clock();
  const m = new PathMemo<string>({ ttlMs: 1000, now: c.now });
  m.set('k', 'v');
  c.step(999);
  assert.equal(m.get('k'), 'v');
  c.step(1);
  assert.equal(m.get('k'), undefined);
  assert.equal(m.size, 0);
});

test('ttlMs 0 remembers nothing', () => {
  const m = new PathMemo<string>({ ttlMs: 0 });
  m.set('k', 'v');
  assert.equal(m.get('k'), undefined);
});

test('forget drops one decision and says whether it was there', () => {
  const m = new PathMemo<string>({ ttlMs: 1000 });
  m.set('a', '1');
  m.set('b', '2');
  assert.equal(m.forget('a'), true);
  assert.equal(m.forget('a'), false);
  assert.equal(m.get('a'), undefined);
  assert.equal(m.get('b'), '2');
});

test('bounded: the least recently used decision goes first, a hot one stays', () => {
  const m = new PathMemo<string>({ ttlMs: 10_000, maxEntries: 3 });
  m.set('hot', 'h');
  m.set('b', '2');
  m.set('c', '3');
  assert.equal(m.get('hot'), 'h');
  m.set('d', '4');
  assert.equal(m.size, 3);
  assert.equal(m.get('b'), undefined, 'b was the least recently used');
  assert.equal(m.get('hot'), 'h');
  assert.equal(m.get('c'), '3');
  assert.equal(m.get('d'), '4');
});

test('load: concurrent callers share one load, and the value is remembered', async () => {
  const m = new PathMemo<string>({ ttlMs: 1000 });
  let loads = 0;
  let release!: (v: string) => void;
  const load = () => {
    loads++;
    return new Promise<string>((resolve) => (release = resolve));
  };
  const all = Promise.all([m.load('k', load), m.load('k', load), m.load('k', load)]);
  await Promise.resolve();
  await Promise.resolve();
  release('v');
  assert.deepEqual(await all, ['v', 'v', 'v']);
  assert.equal(loads, 1);
  assert.equal(await m.load('k', load), 'v');
  assert.equal(loads, 1);
});

test('load: a value keep refuses is returned but not remembered', async () => {
  const m = new PathMemo<string | null>({ ttlMs: 1000 });
  let loads = 0;
  const load = async () => {
    loads++;
    return null;
  };
  assert.equal(await m.load('k', load, (v) => v !== null), null);
  assert.equal(await m.load('k', load, (v) => v !== null), null);
  assert.equal(loads, 2);
});

test('load: a failed load is shared by its waiters, remembered by nobody, and the next one runs', async () => {
  const m = new PathMemo<string>({ ttlMs: 1000 });
  let loads = 0;
  const failing = async () => {
    loads++;
    throw new Error('tracker down');
  };
  const results = await Promise.allSettled([m.load('k', failing), m.load('k', failing)]);
  assert.deepEqual(results.map((r) => r.status), ['rejected', 'rejected']);
  assert.equal(loads, 1);
  assert.equal(await m.load('k', async () => 'v'), 'v');
});

test('load: a load that throws synchronously does not stay stuck in flight', async () => {
  const m = new PathMemo<string>({ ttlMs: 1000 });
  await assert.rejects(m.load('k', () => {
    throw new Error('sync');
  }));
  assert.equal(await m.load('k', async () => 'v'), 'v');
});
