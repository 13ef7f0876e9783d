// The chunk layout of entries too large for one memcached item: pure, table-driven.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import { configFrom } from '../helpers/stack.js';
import { ConfigError } from '../../src/errors.js';
import { chunkCount, chunkIntact, chunkKey, chunkLength, chunkSizeFor, chunksFor, isChunkIndex, planChunks } from '../../src/store/chunked-entry.js';

const body = Buffer.from(Array.from({ length: 2500 }, (_, i) => i % 251));

describe('planChunks', () => {
  it('cuts the body into views of `size` bytes, the last one shorter, with a CRC each', () => {
    const { index, parts } = planChunks(body, 1000, 'abc');
    assert.deepEqual(parts.map((p) => p.length), [1000, 1000, 500]);
    assert.equal(chunkCount(index), 3);
    assert.deepEqual(index.crcs, parts.map((p) => crc32(p)));
    assert.equal(index.length, 2500);
    assert.deepEqual(Buffer.concat(parts), body);
    // Views, not copies: the body is never held twice.
    assert.equal(parts[1].buffer, body.buffer);
  });

  it('an exact multiple has no empty last chunk', () => {
    const { index, parts } = planChunks(body.subarray(0, 2000), 1000, 'x');
    assert.equal(parts.length, 2);
    assert.equal(chunkLength(index, 1), 1000);
  });
});

describe('chunkSizeFor and chunkKey', () => {
  it('leaves 1024 bytes of each item to memcached', () => {
    assert.equal(chunkSizeFor(1024 * 1024), 1024 * 1024 - 1024);
  });
  it('names chunks after the entry key and the write', () => {
    assert.equal(chunkKey('mf1:p1:K', 'a1b2', 3), 'mf1:p1:K:ca1b2:3');
    assert.notEqual(chunkKey('k', 'one', 0), chunkKey('k', 'two', 0));
  });
});

describe('chunkIntact', () => {
  const { index, parts } = planChunks(body, 1000, 'abc');
  for (const [name, i, value, want] of [
    ['the chunk itself', 1, parts[1], true],
    ['the last, shorter chunk', 2, parts[2], true],
    ['another chunk in its place', 0, parts[1], false],
    ['one byte changed', 1, Buffer.concat([parts[1].subarray(0, 999), Buffer.from([parts[1][999] ^ 1])]), false],
    ['cut short', 1, parts[1].subarray(0, 998), false],
    ['an index past the end', 3, parts[2], false],
  ] as const) {
    it(`${name}: ${want}`, () => assert.equal(chunkIntact(index, i, value), want));
  }
});

describe('chunksFor: only the chunks holding a range', () => {
  const { index } = planChunks(body, 1000, 'abc');
  for (const [start, end, want] of [
    [0, 0, { first: 0, last: 0, skip: 0 }],
    [0, 2499, { first: 0, last: 2, skip: 0 }],
    [999, 1000, { first: 0, last: 1, skip: 999 }],
    [1000, 1999, { first: 1, last: 1, skip: 0 }],
    [1500, 1600, { first: 1, last: 1, skip: 500 }],
    [2400, 2499, { first: 2, last: 2, skip: 400 }],
  ] as const) {
    it(`bytes ${start}-${end}`, () => assert.deepEqual(chunksFor(index, start, end), want));
  }
});

describe('isChunkIndex', () => {
  const good = planChunks(body, 1000, 'abc').index;
  for (const [name, value, want] of [
    ['a planned index', good, true],
    ['crcs not adding up to the length', { ...good, crcs: good.crcs.slice(1) }, false],
    ['a zero chunk size', { ...good, size: 0 }, false],
    ['an id that is not a key part', { ...good, id: 'a b' }, false],
    ['a CRC out of range', { ...good, crcs: [-1, 0, 0] }, false],
    ['not an object', 'chunks', false],
  ] as const) {
    it(`${name}: ${want}`, () => assert.equal(isChunkIndex(value), want));
  }
});

describe('config', () => {
  it('a cache.memcached.maxItemSize too small for chunks is a config error naming the key', () => {
    assert.throws(() => configFrom({ cache: { memcached: { maxItemSize: 1000 } } }), (err: Error) => err instanceof ConfigError && /cache\.memcached\.maxItemSize/.test(err.message));
    assert.equal(configFrom({ cache: { memcached: { maxItemSize: 4 * 1024 * 1024 }, maxObjectSize: 64 * 1024 * 1024 } }).cache.maxObjectSize, 64 * 1024 * 1024);
  });
});
