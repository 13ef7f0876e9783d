import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedMemo } from '../../src/memo.js';

test('boundedMemo: one call per argument, false answers kept, starts over when full', () => {
  const calls: string[] = [];
  const isGzip = boundedMemo((v: string) => (calls.push(v), v.includes('gzip')), 2);
  assert.equal(isGzip('gzip'), true);
  assert.equal(isGzip('br'), false);
  assert.equal(isGzip('gzip'), true);
  assert.equal(isGzip('br'), false);
  assert.deepEqual(calls, ['gzip', 'br']);
  assert.equal(isGzip('zstd'), false); // a third argument: the memo starts over
  assert.equal(isGzip('gzip'), true);
  assert.deepEqual(calls, ['gzip', 'br', 'zstd', 'gzip']);
});
