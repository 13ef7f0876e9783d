import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { heldBytes, L1Cache } from '../../src/engine/l1-cache.js';
import { buildEntry, isUnstorable } from '../../src/engine/entry-build.js';
import type { UpstreamResponse } from '../../src/upstream/upstream.js';
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
    assert.equal(l1.get('k'), undefined, 'asked again, still not served');
  });

  it('keeps a copy that ran out for a read of the same bytes, which serves it for another ttlMs', () => {
    let now = 1000;
    const l1 = new L1Cache(1 << 20, 1000, () => now);
    const held = entry(10);
    const raw = Buffer.from('the stored bytes');
    l1.set('k', held, raw);
    now += 1500;
    assert.equal(l1.get('k'), undefined, 'run out: not served');
    assert.equal(l1.unchanged('k', Buffer.from('other bytes')), undefined, 'other bytes are another entry');
    assert.equal(l1.unchanged('k', Buffer.from('the stored bytes')), held, 'the same bytes: the same Entry');
    const ticket = l1.ticket();
    assert.equal(l1.refresh('k', ticket), true);
    assert.equal(l1.get('k'), held, 'served again from the read that found it unchanged');
    now = ticket.at + 1001;
    assert.equal(l1.get('k'), undefined, 'for ttlMs from that read, no longer');
    l1.delete('k');
    assert.equal(l1.unchanged('k', Buffer.from('the stored bytes')), undefined, 'a purge forgets it');
    assert.equal(l1.size.entries, 0);
  });

  it('counts a copy that ran out in its bytes until it is evicted', () => {
    let now = 0;
    const l1 = new L1Cache(4 * (100 + 512), 1000, () => now);
    l1.set('old', entry(100), Buffer.alloc(0));
    now += 2000;
    assert.equal(l1.get('old'), undefined);
    assert.deepEqual(l1.size, { entries: 1, bytes: 612 }, 'held, not served');
    for (const k of ['a', 'b', 'c']) l1.set(k, entry(100));
    assert.equal(l1.size.entries, 4);
    l1.set('d', entry(100));
    assert.equal(l1.size.entries, 4, 'one out for the fifth');
    assert.equal(l1.unchanged('old', Buffer.alloc(0)), undefined, 'the oldest, run out, went first');
    for (const k of ['a', 'b', 'c', 'd']) assert.ok(l1.get(k), k);
  });

  it('evicts least recently used entries past maxBytes', () => {
    let now = 0;
    const l1 = new L1Cache(5 * (100 + 512), 10_000, () => now);
    for (const k of ['a', 'b', 'c', 'd', 'e']) l1.set(k, entry(100));
    now += 100; // a hit moves an entry at most every 100 ms
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

  it('asks once for a hot entry to be renewed past 60-90% of its ttl, and again only after a failed renewal', () => {
    let now = 0;
    const l1 = new L1Cache(1 << 20, 1000, () => now, () => 0); // the earliest point: 60%
    const asked: string[] = [];
    l1.onRenew = (key) => asked.push(key);
    l1.set('k', entry(10));
    now = 599;
    assert.ok(l1.get('k'));
    assert.deepEqual(asked, []);
    now = 600;
    assert.ok(l1.get('k'));
    assert.ok(l1.get('k'));
    assert.deepEqual(asked, ['k']);
    l1.renewFailed('k');
    assert.ok(l1.get('k'));
    assert.deepEqual(asked, ['k', 'k']);
    // Renewed: served for another ttlMs from the renewal's read, and asked again only past 60% of it.
    const ticket = l1.ticket(); // the renewal's read begins at 600
    l1.set('k', entry(10), Buffer.from('raw'), ticket);
    now = 1199;
    assert.ok(l1.get('k'));
    assert.deepEqual(asked, ['k', 'k']);
    now = 1200;
    assert.ok(l1.get('k'));
    assert.deepEqual(asked, ['k', 'k', 'k']);
    now = 1601;
    assert.equal(l1.get('k'), undefined);
  });

  it('spreads the renewals of entries stored together over 60-90% of the ttl', () => {
    let now = 0;
    const draws = [0, 0.5, 0.999];
    const l1 = new L1Cache(1 << 20, 1000, () => now, () => draws.shift()!);
    const asked: string[] = [];
    l1.onRenew = (key) => asked.push(key);
    for (const k of ['a', 'b', 'c']) l1.set(k, entry(10));
    const askedBy = (t: number) => {
      now = t;
      for (const k of ['a', 'b', 'c']) l1.get(k);
      return [...asked];
    };
    assert.deepEqual(askedBy(600), ['a']);
    assert.deepEqual(askedBy(749), ['a']);
    assert.deepEqual(askedBy(750), ['a', 'b']);
    assert.deepEqual(askedBy(899), ['a', 'b']);
    assert.deepEqual(askedBy(900), ['a', 'b', 'c']);
  });

  it('counts ttl from when the read began, and keeps nothing from a read that a delete overtook', () => {
    let now = 0;
    const l1 = new L1Cache(1 << 20, 1000, () => now);
    const before = l1.ticket();
    now = 300; // the store answered 300 ms later
    l1.set('k', entry(10), Buffer.from('v1'), before);
    now = 1001;
    assert.equal(l1.get('k'), undefined, 'served past ttlMs after its read began');

    const raced = l1.ticket();
    l1.delete('other'); // a purge while the read was under way
    l1.set('k', entry(10), Buffer.from('v1'), raced);
    assert.equal(l1.get('k'), undefined);
    const cleared = l1.ticket();
    l1.clear();
    l1.set('k', entry(10), Buffer.from('v1'), cleared);
    assert.equal(l1.get('k'), undefined);
  });

  it('recognises an unchanged re-read by its bytes', () => {
    const l1 = new L1Cache(1 << 20, 1000, () => 0);
    const e = entry(10);
    l1.set('k', e, Buffer.from('stored bytes'));
    assert.equal(l1.unchanged('k', Buffer.from('stored bytes')), e);
    assert.equal(l1.unchanged('k', Buffer.from('other bytes!')), undefined);
    l1.set('w', entry(10)); // written by us without its bytes: never "unchanged"
    assert.equal(l1.unchanged('w', Buffer.alloc(0)), undefined);
  });

  it('takes the version a write made only for the entry that write put there', () => {
    const l1 = new L1Cache(1 << 20, 1000, () => 0);
    const written = entry(10);
    l1.set('k', written, Buffer.alloc(12));
    assert.equal(l1.versioned('k'), undefined, 'no version before the write answers');
    l1.stamp('k', entry(10), 'v1');
    assert.equal(l1.versioned('k'), undefined, 'another entry object: not the one written');
    l1.stamp('k', written, 'v1');
    assert.deepEqual(l1.versioned('k'), { entry: written, version: 'v1' });
    // Replaced meanwhile (a read, a newer write): the late answer stamps nothing.
    const newer = entry(10);
    l1.set('k', newer, Buffer.alloc(12));
    l1.stamp('k', written, 'v2');
    assert.equal(l1.versioned('k'), undefined);
    l1.delete('k');
    l1.stamp('k', newer, 'v3');
    assert.equal(l1.versioned('k'), undefined, 'deleted (a purge): nothing to stamp');
  });
});

describe('what L1 counts (#4)', () => {
  const gzipEntry = (identityLength: number): Entry => ({ ...entry(1000), gzip: true, identityLength });

  it('#4 counts the inflated copy a gzip entry gets, at its recorded length, and none past the copy limit', () => {
    assert.equal(heldBytes(gzipEntry(300_000)), 1000 + 300_000 + 512);
    assert.equal(heldBytes(gzipEntry(64 << 20)), 1000 + 512, 'inflated as it is sent, never kept');
  });

  it('#4 counts stored bytes and a body that is a view into them once, a separate body besides', () => {
    const raw = Buffer.alloc(5000);
    assert.equal(heldBytes({ ...entry(0), body: raw.subarray(1000) }, raw), 5000 + 512);
    assert.equal(heldBytes(entry(4000), raw), 5000 + 4000 + 512);
  });

  it('#4 an entry built from a backend-gzipped body is counted with what it inflates to', async () => {
    const identity = Buffer.from('x'.repeat(400_000));
    const up: UpstreamResponse = {
      status: 200,
      rawHeaders: ['Content-Type', 'text/html', 'Content-Encoding', 'gzip', 'Cache-Control', 'max-age=60'],
      body: Readable.from([]),
      complete: () => true,
      abort: () => {},
    };
    const built = await buildEntry(up, zlib.gzipSync(identity), 60, 0, 1024, 1 << 20, 1);
    assert.ok(!isUnstorable(built));
    const l1 = new L1Cache(64 << 20, 1000, () => 0);
    l1.set('k', built);
    assert.ok(l1.size.bytes >= identity.length, `${l1.size.bytes} bytes counted for a body that inflates to ${identity.length}`);
  });

  it('tells its owner once when a copy was served hotAfter times, and again after as many when the owner could not take it', () => {
    let now = 1000;
    const l1 = new L1Cache(1 << 20, 60_000, () => now);
    const told: string[] = [];
    let accept = false;
    l1.hotAfter = 3;
    l1.onHot = (key) => (told.push(key), accept);
    l1.set('k', entry(10));
    l1.get('k');
    l1.get('k');
    assert.deepEqual(told, []);
    l1.get('k');
    assert.deepEqual(told, ['k'], 'at the third hit');
    for (let i = 0; i < 2; i++) l1.get('k');
    assert.deepEqual(told, ['k']);
    accept = true;
    l1.get('k');
    assert.deepEqual(told, ['k', 'k'], 'asked again three hits after the refusal');
    for (let i = 0; i < 10; i++) l1.get('k');
    assert.deepEqual(told, ['k', 'k'], 'taken: not told again for this copy');
    // A new copy counts from zero.
    l1.set('k', entry(10));
    for (let i = 0; i < 3; i++) l1.get('k');
    assert.deepEqual(told, ['k', 'k', 'k']);
    // Copies that ran out are not served, so not counted.
    now += 60_001;
    l1.set('j', entry(10));
    now += 60_001;
    for (let i = 0; i < 5; i++) l1.get('j');
    assert.equal(told.length, 3);
  });

  it('replace() swaps the entry of a slot that still holds the one named, keeping its time and counting its bytes', () => {
    let now = 1000;
    const l1 = new L1Cache(1 << 20, 1000, () => now);
    const old = entry(5000);
    l1.set('k', old, Buffer.alloc(6000), undefined, 'v1');
    const before = l1.size.bytes;
    now += 900;
    const next = entry(2000);
    assert.equal(l1.replace('k', entry(1), next, Buffer.alloc(3000), 'v2'), false, 'another entry named: nothing changes');
    assert.equal(l1.get('k'), old);
    assert.equal(l1.replace('k', old, next, Buffer.alloc(3000), 'v2'), true);
    assert.equal(l1.get('k'), next);
    assert.deepEqual(l1.versioned('k'), { entry: next, version: 'v2' });
    assert.equal(l1.size.bytes, before - (6000 + 5000) + (3000 + 2000), 'the new raw bytes and body counted in place of the old');
    // Served until the old slot's time ran out: the bound on staleness is the read's, not the swap's.
    now += 101;
    assert.equal(l1.get('k'), undefined);
    l1.delete('k');
    assert.equal(l1.replace('k', next, entry(1), Buffer.alloc(1), undefined), false, 'gone: not brought back');
    assert.equal(l1.size.entries, 0);
  });
});
