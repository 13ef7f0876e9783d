// Tests for X-Reproxy-Cache-For's memory: lifetime, least-recently-used eviction, byte bound.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReproxyMemo } from '../../src/upstream/reproxy-memo.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

const entry = (url: string) => ({ urls: [url], headers: ['Content-Type', 'text/plain'], names: ['content-type'] });

test('an entry lives for its seconds, capped by maxSeconds', () => {
  const c = clock();
  const memo = new ReproxyMemo({ maxEntries: 10, maxBytes: 1 << 20, maxSeconds: 60 }, c.now);
  memo.set('h/a', entry('http://f/a'), 10);
  memo.set('h/b', entry('http://f/b'), 3600);
  c.advance(9_999);
  assert.deepEqual(memo.get('h/a')?.urls, ['http://f/a']);
  c.advance(1);
  assert.equal(memo.get('h/a'), undefined);
  c.advance(50_000 - 1);
  assert.ok(memo.get('h/b'));
  c.advance(1);
  assert.equal(memo.get('h/b'), undefined, 'capped at maxSeconds');
  assert.equal(memo.size, 0);
});

test('over maxEntries, the least recently used goes first', () => {
  const c = clock();
  const memo = new ReproxyMemo({ maxEntries: 2, maxBytes: 1 << 20, maxSeconds: 60 }, c.now);
  memo.set('a', entry('http://f/a'), 60);
  memo.set('b', entry('http://f/b'), 60);
  assert.ok(memo.get('a'));
  memo.set('c', entry('http://f/c'), 60);
  assert.ok(memo.get('a'));
  assert.equal(memo.get('b'), undefined);
  assert.ok(memo.get('c'));
});

test('over maxBytes, old entries go; an entry larger than the whole bound is not kept', () => {
  const c = clock();
  const memo = new ReproxyMemo({ maxEntries: 100, maxBytes: 400, maxSeconds: 60 }, c.now);
  memo.set('a', entry(`http://f/${'a'.repeat(150)}`), 60);
  memo.set('b', entry(`http://f/${'b'.repeat(150)}`), 60);
  assert.equal(memo.size, 1, 'two do not fit in 400 bytes');
  assert.ok(memo.get('b'));
  memo.set('huge', entry(`http://f/${'h'.repeat(1000)}`), 60);
  assert.equal(memo.get('huge'), undefined);
  assert.ok(memo.get('b'), 'a refused entry evicts nothing');
});

test('forget drops an entry; setting again replaces it; zero seconds keeps nothing', () => {
  const memo = new ReproxyMemo({ maxEntries: 10, maxBytes: 1 << 20, maxSeconds: 60 });
  memo.set('a', entry('http://f/1'), 60);
  memo.set('a', entry('http://f/2'), 60);
  assert.deepEqual(memo.get('a')?.urls, ['http://f/2']);
  assert.equal(memo.size, 1);
  memo.forget('a');
  assert.equal(memo.get('a'), undefined);
  memo.set('z', entry('http://f/z'), 0);
  assert.equal(memo.get('z'), undefined);
});
