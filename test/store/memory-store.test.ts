// The embedded store: the shared conformance suite on a fake clock, plus its byte-bounded LRU.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryStore } from '../../src/store/memory-store.js';
import { storeConformanceSuite } from './store-suite.js';

storeConformanceSuite('MemoryStore', async () => {
  let now = 1_700_000_000_000;
  const maxBytes = 4 * 1024 * 1024;
  const store = new MemoryStore({ maxBytes, now: () => now });
  return {
    store,
    maxValueBytes: maxBytes,
    elapse: async (seconds) => {
      now += seconds * 1000;
    },
    close: () => store.close(),
  };
});

// Keys of one character cost 1 byte each, so sizes below are easy to add up.
function filled(bytes: number, fill = 1): Buffer {
  return Buffer.alloc(bytes, fill);
}

test('the least recently used entries go first when the bytes run out', async () => {
  const store = new MemoryStore({ maxBytes: 300 });
  await store.set('a', filled(99), 0);
  await store.set('b', filled(99), 0);
  await store.set('c', filled(99), 0); // 300 bytes: full
  await store.get('a'); // a is now the most recently used; b the least
  await store.set('d', filled(99), 0);
  assert.equal(await store.get('b'), null);
  for (const k of ['a', 'c', 'd']) assert.ok(await store.get(k), `${k} was evicted`);
});

test('a value that could never fit is refused and evicts nothing', async () => {
  const store = new MemoryStore({ maxBytes: 300 });
  await store.set('a', filled(99), 0);
  assert.equal(await store.set('z', filled(300), 0), false); // 300 + 1 byte of key
  assert.equal(await store.get('z'), null);
  assert.ok(await store.get('a'));
  assert.equal(await store.set('z', filled(299), 0), true); // exactly the bound
  assert.equal(await store.get('a'), null);
});

test('replacing a value counts only the new size', async () => {
  const store = new MemoryStore({ maxBytes: 300 });
  await store.set('a', filled(99), 0);
  await store.set('b', filled(99), 0);
  for (let i = 0; i < 10; i++) await store.set('a', filled(99, i), 0);
  assert.ok(await store.get('b'), 'b was evicted although the total never exceeded 200 bytes');
});

test('a growing counter is counted against the bound', async () => {
  const store = new MemoryStore({ maxBytes: 12 });
  await store.set('a', filled(8), 0); // 9 bytes
  await store.incr('c', 1, 9, 0); // "9": 2 bytes, 11 in all
  await store.incr('c', 1, 9, 0); // "10": 3 bytes, 12 in all
  assert.ok(await store.get('a'));
  await store.incr('c', 90, 9, 0); // "100": 4 bytes, over the bound: a goes
  assert.equal(await store.get('a'), null);
  assert.deepEqual(await store.get('c'), Buffer.from('100'));
});

test('the store keeps its own copy of what it was given', async () => {
  const store = new MemoryStore({ maxBytes: 1000 });
  const value = Buffer.from('original');
  await store.set('k', value, 0);
  value.write('mutated!');
  assert.deepEqual(await store.get('k'), Buffer.from('original'));
});

test('expiry follows the injected clock to the millisecond', async () => {
  let now = 0;
  const store = new MemoryStore({ maxBytes: 1000, now: () => now });
  await store.set('k', Buffer.from('v'), 10);
  now = 9_999;
  assert.ok(await store.get('k'));
  now = 10_000;
  assert.equal(await store.get('k'), null);
});

test('close empties the store', async () => {
  const store = new MemoryStore({ maxBytes: 1000 });
  await store.set('k', Buffer.from('v'), 0);
  await store.close();
  assert.equal(await store.get('k'), null);
  assert.deepEqual(store.status(), [{ server: 'memory', up: true }]);
});
