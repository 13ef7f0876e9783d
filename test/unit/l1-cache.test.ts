import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { L1Cache } from '../../src/engine/l1-cache.js';
import type { Entry } from '../../src/store/entry-codec.js';

const entry = (size: number, status = 200): Entry => ({ status, headers: [], storedAt: 0, staleAt: 1e12, gzip: false, body: Buffer.alloc(size) });

describe('L1 cache', () => {
  it('serves an entry for at most ttlMs after it was stored', () => {
    let now = 1000;
    const l1 = new L1Cache(1 << 20, 1000, () => now);
    l1.set('k', entry(10));
    now += 1000;
    assert.ok(l1.get('k'));
    now += 1;
    assert.equal(l1.get('k'), undefined);
    assert.equal(l1.size.entries, 0);
  });

  it('evicts least recently used entries past maxBytes', () => {
    const l1 = new L1Cache(5 * (100 + 512), 10_000, () => 0);
    for (const k of ['a', 'b', 'c', 'd', 'e']) l1.set(k, entry(100));
    assert.ok(l1.get('a')); // a is now the youngest
    l1.set('f', entry(100));
    assert.equal(l1.get('b'), undefined);
    for (const k of ['a', 'c', 'd', 'e', 'f']) assert.ok(l1.get(k), k);
    assert.ok(l1.size.bytes <= 5 * 612);
  });

  it('refuses objects over a quarter of its size, and does nothing when off', () => {
    const l1 = new L1Cache(4000, 1000, () => 0);
    l1.set('big', entry(2000));
    assert.equal(l1.get('big'), undefined);
    const off = new L1Cache(0, 1000, () => 0);
    off.set('k', entry(1));
    assert.equal(off.get('k'), undefined);
  });

  it('deletes at once and replaces without double counting', () => {
    const l1 = new L1Cache(1 << 20, 1000, () => 0);
    l1.set('k', entry(100));
    l1.set('k', entry(200));
    assert.equal(l1.size.bytes, 712);
    assert.equal(l1.delete('k'), true);
    assert.equal(l1.delete('k'), false);
    assert.equal(l1.size.bytes, 0);
  });
});
