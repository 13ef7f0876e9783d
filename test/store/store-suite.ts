// One conformance suite for every CacheStore: what the engine relies on, checked the same
// way against the memory store and a real memcached.

import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CacheError } from '../../src/errors.js';
import type { CacheStore } from '../../src/store/cache-store.js';

export interface StoreHarness {
  store: CacheStore;
  /** The store's value size limit: one byte more must be refused. */
  maxValueBytes: number;
  /**
   * Whether version() gives a key's version without its value. False for a store that says
   * "cannot tell" (undefined) and has renewals read the value instead. Default true.
   */
  versionAlone?: boolean;
  /** Lets `seconds` pass as the store sees time (a fake clock step, or real waiting). */
  elapse(seconds: number): Promise<void>;
  /** Releases whatever the harness started. */
  close(): Promise<void>;
}

async function rejectsWithCacheError(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof CacheError, `expected a CacheError, got ${String(err)}`);
    return true;
  });
}

export function storeConformanceSuite(name: string, open: () => Promise<StoreHarness>): void {
  describe(`${name}: CacheStore conformance`, () => {
    let h: StoreHarness;
    before(async () => {
      h = await open();
    });
    after(async () => {
      await h?.close();
    });

    test('get of a key never set is null', async () => {
      assert.equal(await h.store.get('conf:absent'), null);
    });

    test('every byte value round-trips', async () => {
      const all = Buffer.from(Array.from({ length: 256 * 4 }, (_, i) => i % 256));
      assert.equal(await h.store.set('conf:bytes', all, 0), true);
      assert.deepEqual(await h.store.get('conf:bytes'), all);
    });

    test('a 900 KB random value comes back byte for byte', async () => {
      const big = randomBytes(900 * 1024);
      assert.equal(await h.store.set('conf:900k', big, 0), true);
      const got = await h.store.get('conf:900k');
      assert.ok(got && got.equals(big), 'value differs');
    });

    test('an empty value is stored, and read back empty rather than absent', async () => {
      assert.equal(await h.store.set('conf:empty', Buffer.alloc(0), 0), true);
      assert.deepEqual(await h.store.get('conf:empty'), Buffer.alloc(0));
    });

    test('set replaces the value', async () => {
      await h.store.set('conf:replace', Buffer.from('one'), 0);
      await h.store.set('conf:replace', Buffer.from('two'), 0);
      assert.deepEqual(await h.store.get('conf:replace'), Buffer.from('two'));
    });

    test('a version read with the value changes with every write; version() alone matches it, or says it cannot tell', async () => {
      if (h.versionAlone === false) {
        const read = h.store.getVersioned!.bind(h.store);
        assert.equal(await read('conf:v-absent'), null);
        await h.store.set('conf:v', Buffer.from('one'), 0);
        const first = await read('conf:v');
        assert.deepEqual(first?.value, Buffer.from('one'));
        assert.equal(typeof first?.version, 'string');
        assert.equal(await h.store.version!('conf:v'), undefined, 'cannot tell without the value');
        assert.equal(await h.store.version!('conf:v-absent'), undefined);
        await h.store.set('conf:v', Buffer.from('one'), 0);
        const second = await read('conf:v');
        assert.equal(typeof second?.version, 'string');
        assert.notEqual(second!.version, first!.version, 'the same bytes written again are still a write');
        await h.store.incr('conf:v-counter', 1, 5, 0);
        const before = (await read('conf:v-counter'))?.version;
        await h.store.incr('conf:v-counter', 1, 5, 0);
        assert.notEqual((await read('conf:v-counter'))?.version, before, 'incr is a write');
        await h.store.delete('conf:v');
        assert.equal(await read('conf:v'), null);
        return;
      }
      const { getVersioned, version } = h.store;
      assert.ok(getVersioned && version, 'the store gives versions');
      const read = getVersioned.bind(h.store);
      const ask = version.bind(h.store);
      assert.equal(await read('conf:v-absent'), null);
      assert.equal(await ask('conf:v-absent'), null);

      await h.store.set('conf:v', Buffer.from('one'), 0);
      const first = await read('conf:v');
      assert.deepEqual(first?.value, Buffer.from('one'));
      assert.equal(await ask('conf:v'), first!.version);
      assert.equal(await ask('conf:v'), first!.version, 'asking does not change it');

      // The same bytes written again are still a write: another process may have stored them.
      await h.store.set('conf:v', Buffer.from('one'), 0);
      const second = await ask('conf:v');
      assert.equal(typeof second, 'string');
      assert.notEqual(second, first!.version);
      assert.equal((await read('conf:v'))?.version, second);

      await h.store.incr('conf:v-counter', 1, 5, 0);
      const before = await ask('conf:v-counter');
      await h.store.incr('conf:v-counter', 1, 5, 0);
      assert.notEqual(await ask('conf:v-counter'), before, 'incr is a write');

      await h.store.delete('conf:v');
      assert.equal(await ask('conf:v'), null);
      assert.equal(await read('conf:v'), null);
    });

    test('a write gives the version it made: the one read back, until another write', async () => {
      const write = h.store.setVersioned?.bind(h.store);
      assert.ok(write, 'the store gives versions of its writes');
      const made = await write('conf:sv', Buffer.from('one'), 0);
      assert.ok(made, 'stored');
      const read = await h.store.getVersioned!('conf:sv');
      assert.deepEqual(read?.value, Buffer.from('one'));
      if (h.versionAlone === false) {
        // memcached's text set answers STORED without a CAS: the write cannot tell its version.
        assert.equal(made.version, undefined);
      } else {
        assert.equal(typeof made.version, 'string');
        assert.equal(read?.version, made.version, 'read back with the version the write gave');
        assert.equal(await h.store.version!('conf:sv'), made.version);
        // Another write, even of the same bytes, is another version: a copy stamped with the
        // first is read whole at its next renewal.
        await h.store.set('conf:sv', Buffer.from('one'), 0);
        assert.notEqual(await h.store.version!('conf:sv'), made.version);
        const again = await write('conf:sv', Buffer.from('two'), 0);
        assert.ok(again && again.version !== made.version);
        assert.equal((await h.store.getVersioned!('conf:sv'))?.version, again.version);
      }
      // Refused as set refuses: nothing stored, no version.
      assert.equal(await write('conf:sv-big', Buffer.alloc(h.maxValueBytes + 1), 0), false);
      assert.equal(await h.store.get('conf:sv-big'), null);
    });

    test('a conditional write stores only over the version it names, and never brings back a deleted key', async () => {
      const write = h.store.setIfVersion?.bind(h.store);
      assert.ok(write, 'the store writes conditionally');
      await h.store.set('conf:cv', Buffer.from('one'), 0);
      const first = (await h.store.getVersioned!('conf:cv'))!.version!;
      assert.equal(typeof first, 'string');
      const made = await write('conf:cv', Buffer.from('two'), 0, first);
      assert.ok(made && made !== 'changed', 'stored over the version read');
      const read = await h.store.getVersioned!('conf:cv');
      assert.deepEqual(read?.value, Buffer.from('two'));
      assert.notEqual(read?.version, first, 'the write made a new version');
      // The binary protocol's answer says the new version; the text protocol's STORED does not.
      if (h.versionAlone !== false) assert.equal(made.version, read?.version);
      else assert.equal(made.version, undefined);
      // Over a version that is gone: not stored.
      assert.equal(await write('conf:cv', Buffer.from('three'), 0, first), 'changed');
      assert.deepEqual(await h.store.get('conf:cv'), Buffer.from('two'));
      // A version no write of this store made (another server's, a made-up one): not stored.
      assert.equal(await write('conf:cv', Buffer.from('four'), 0, `elsewhere:1 ${first}`), 'changed');
      assert.deepEqual(await h.store.get('conf:cv'), Buffer.from('two'));
      // Deleted since it was read (a PURGE): it stays deleted.
      const last = (await h.store.getVersioned!('conf:cv'))!.version!;
      await h.store.delete('conf:cv');
      assert.equal(await write('conf:cv', Buffer.from('five'), 0, last), 'changed');
      assert.equal(await h.store.get('conf:cv'), null);
      // Refused as set refuses.
      await h.store.set('conf:cv-big', Buffer.from('x'), 0);
      const big = (await h.store.getVersioned!('conf:cv-big'))!.version!;
      assert.equal(await write('conf:cv-big', Buffer.alloc(h.maxValueBytes + 1), 0, big), false);
      assert.deepEqual(await h.store.get('conf:cv-big'), Buffer.from('x'));
    });

    test('a key that is not printable ASCII has a version too', async () => {
      const key = 'conf:v ünï\tcode';
      await h.store.set(key, Buffer.from('x'), 0);
      const got = await h.store.getVersioned!(key);
      assert.deepEqual(got?.value, Buffer.from('x'));
      assert.equal(typeof got?.version, 'string');
      if (h.versionAlone !== false) assert.equal(await h.store.version!(key), got!.version);
    });

    test('add stores only when the key is absent', async () => {
      assert.equal(await h.store.add('conf:add', Buffer.from('first'), 0), true);
      assert.equal(await h.store.add('conf:add', Buffer.from('second'), 0), false);
      assert.deepEqual(await h.store.get('conf:add'), Buffer.from('first'));
      await h.store.delete('conf:add');
      assert.equal(await h.store.add('conf:add', Buffer.from('third'), 0), true);
      assert.deepEqual(await h.store.get('conf:add'), Buffer.from('third'));
    });

    test('add gives the version it made; a delete by version removes that version only', async () => {
      const add = h.store.addVersioned?.bind(h.store);
      const remove = h.store.deleteIfVersion?.bind(h.store);
      assert.ok(add && remove, 'the store adds and deletes by version');
      const made = await add('conf:av', Buffer.from('lease'), 0);
      assert.ok(made, 'added');
      assert.equal(await add('conf:av', Buffer.from('again'), 0), false, 'only when absent');
      assert.deepEqual(await h.store.get('conf:av'), Buffer.from('lease'));
      const read = (await h.store.getVersioned!('conf:av'))!;
      // The binary protocol's answer to add says the version; the text protocol's STORED does not.
      if (h.versionAlone !== false) assert.equal(made.version, read.version);
      else assert.equal(made.version, undefined);
      // Written since (a PURGE and another process's add): not deleted.
      await h.store.set('conf:av', Buffer.from('another'), 0);
      assert.equal(await remove('conf:av', read.version!), 'changed');
      assert.deepEqual(await h.store.get('conf:av'), Buffer.from('another'));
      const now = (await h.store.getVersioned!('conf:av'))!.version!;
      assert.equal(await remove('conf:av', `elsewhere:1 ${now}`), 'changed', 'another server\'s version');
      assert.deepEqual(await h.store.get('conf:av'), Buffer.from('another'));
      assert.equal(await remove('conf:av', now), 'deleted');
      assert.equal(await h.store.get('conf:av'), null);
      assert.equal(await remove('conf:av', now), 'changed', 'nothing left to delete');
    });

    test('delete says whether there was something to delete', async () => {
      assert.equal(await h.store.delete('conf:del'), false);
      await h.store.set('conf:del', Buffer.from('x'), 0);
      assert.equal(await h.store.delete('conf:del'), true);
      assert.equal(await h.store.get('conf:del'), null);
      assert.equal(await h.store.delete('conf:del'), false);
    });

    test('incr creates the counter at its initial value, then adds to it', async () => {
      assert.equal(await h.store.incr('conf:ctr', 5, 10, 0), 10);
      assert.equal(await h.store.incr('conf:ctr', 5, 10, 0), 15);
      assert.equal(await h.store.incr('conf:ctr', 1, 10, 0), 16);
      // The counter is the decimal text memcached keeps, readable with get.
      assert.deepEqual(await h.store.get('conf:ctr'), Buffer.from('16'));
    });

    test('incr of a value that is not a number rejects with a CacheError', async () => {
      await h.store.set('conf:notnum', Buffer.from('abc'), 0);
      await rejectsWithCacheError(h.store.incr('conf:notnum', 1, 0, 0));
      // The store was refused, not broken.
      assert.ok(h.store.status().every((s) => s.up));
      assert.deepEqual(await h.store.get('conf:notnum'), Buffer.from('abc'));
    });

    test('incr outside 32 bits rejects with a CacheError', async () => {
      await rejectsWithCacheError(h.store.incr('conf:ctr32', 1, 2 ** 32, 0));
      await rejectsWithCacheError(h.store.incr('conf:ctr32', -1, 0, 0));
      assert.equal(await h.store.get('conf:ctr32'), null);
    });

    test('a value over the size limit is refused, by set and by add', async () => {
      const tooBig = Buffer.alloc(h.maxValueBytes + 1, 7);
      assert.equal(await h.store.set('conf:toobig', tooBig, 0), false);
      assert.equal(await h.store.add('conf:toobig', tooBig, 0), false);
      assert.equal(await h.store.get('conf:toobig'), null);
    });

    test('entries expire after their ttl, counters too; ttl 0 never expires; touch sets a new one', async () => {
      await h.store.set('conf:ttl', Buffer.from('brief'), 1);
      await h.store.set('conf:forever', Buffer.from('lasting'), 0);
      assert.equal(await h.store.add('conf:ttl-add', Buffer.from('lease'), 1), true);
      assert.equal(await h.store.incr('conf:ttl-ctr', 1, 100, 1), 100);
      assert.deepEqual(await h.store.get('conf:ttl'), Buffer.from('brief'));
      // touch: a new expiry (here none) for what is there, and nothing for what is not.
      await h.store.set('conf:ttl-touched', Buffer.from('kept'), 1);
      assert.equal(await h.store.touch('conf:ttl-touched', 0), true);
      assert.equal(await h.store.touch('conf:never-set', 60), false);
      await h.store.set('conf:touch-deleted', Buffer.from('gone'), 60);
      await h.store.delete('conf:touch-deleted');
      assert.equal(await h.store.touch('conf:touch-deleted', 60), false);
      assert.equal(await h.store.get('conf:touch-deleted'), null, 'touch brings nothing back');

      await h.elapse(2.1);

      assert.equal(await h.store.get('conf:ttl'), null);
      assert.deepEqual(await h.store.get('conf:ttl-touched'), Buffer.from('kept'), 'touched past its first expiry');
      assert.deepEqual(await h.store.get('conf:forever'), Buffer.from('lasting'));
      // An expired key counts as absent for add and incr.
      assert.equal(await h.store.add('conf:ttl-add', Buffer.from('renewed'), 0), true);
      assert.equal(await h.store.incr('conf:ttl-ctr', 1, 100, 0), 100);
    });

    test('status reports every server up', () => {
      const status = h.store.status();
      assert.ok(status.length > 0);
      assert.ok(status.every((s) => s.up && typeof s.server === 'string'));
    });
  });
}
