import { test } from 'node:test';
import assert from 'node:assert/strict';
import { boundedMemo, targetMemo } from '../../src/memo.js';

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

test('targetMemo: one call per (a, b, target), the pairs of one target kept apart, bounded in all', () => {
  const calls: string[] = [];
  const key = targetMemo((scheme: string, host: string, url: string) => (calls.push(`${scheme}|${host}|${url}`), `${scheme}://${host}${url}`), 20);
  assert.equal(key('http', 'a.example', '/'), 'http://a.example/');
  assert.equal(key('http', 'b.example', '/'), 'http://b.example/');
  assert.equal(key('https', 'a.example', '/'), 'https://a.example/');
  // Each answer stays its own pair's: another host or scheme never gets it.
  assert.equal(key('http', 'a.example', '/'), 'http://a.example/');
  assert.equal(key('http', 'b.example', '/'), 'http://b.example/');
  assert.equal(key('https', 'a.example', '/'), 'https://a.example/');
  assert.deepEqual(calls, ['http|a.example|/', 'http|b.example|/', 'https|a.example|/']);
  // Values compared, not identities: a string built anew finds the pair.
  assert.equal(key('http', ['a', 'example'].join('.'), '/'), 'http://a.example/');
  assert.equal(calls.length, 3);
});

test('targetMemo: a target asked for under many hosts starts over; a full memo starts over', () => {
  let calls = 0;
  const key = targetMemo((s: string, h: string, u: string) => (calls++, `${s}${h}${u}`), 12);
  for (let i = 0; i < 9; i++) key('http', `h${i}`, '/'); // the 9th pair drops the first 8
  assert.equal(calls, 9);
  assert.equal(key('http', 'h8', '/'), 'httph8/');
  assert.equal(calls, 9);
  assert.equal(key('http', 'h0', '/'), 'httph0/');
  assert.equal(calls, 10);
  // 2 pairs kept now; 10 more targets reach the bound of 12, and the next answer clears it.
  for (let i = 0; i < 10; i++) key('http', 'h', `/p${i}`);
  assert.equal(calls, 20);
  key('http', 'h', '/p0');
  assert.equal(calls, 20);
  key('http', 'h', '/new'); // the 13th: the memo starts over
  assert.equal(calls, 21);
  key('http', 'h', '/p0');
  assert.equal(calls, 22);
  key('http', 'h', '/new');
  assert.equal(calls, 22);
});
