// The generations an answer records (cache-writes.ts): its Host's and its known tags' read
// before the request goes out, the tags it did not have before read at its headers; over
// CacheAccess and the memory store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pino from 'pino';
import { Metrics } from '../../src/admin/metrics.js';
import { CacheAccess } from '../../src/engine/cache-access.js';
import { CacheWrites } from '../../src/engine/cache-writes.js';
import { generationKeys, hostCounterKey, tagCounterKeys } from '../../src/policy/tags.js';
import { CounterPlacement } from '../../src/engine/tags.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import type { UpstreamResponse } from '../../src/upstream/upstream.js';

const PREFIX = 'mf1:';
const HOST = 'site.test';

function fixture() {
  const metrics = new Metrics();
  const cache = new CacheAccess(new MemoryStore({ maxBytes: 1 << 20 }), metrics, pino({ level: 'silent' }));
  const writes = new CacheWrites({ cache, metrics, windows: { staleWhileRevalidate: 0, staleIfError: 0 }, keep: 0, keyPrefix: PREFIX });
  return { cache, writes };
}

/** The copy of each counter an entry records (one store: copy 0). */
const placed = (keys: string[]) => new CounterPlacement(undefined).forEntry('k', keys);

const answer = (tags: string): UpstreamResponse => ({ status: 200, rawHeaders: ['Surrogate-Key', tags] }) as unknown as UpstreamResponse;

test('early: the Host\'s counter, and the tags the entry had when last stored', async () => {
  const f = fixture();
  const first = await f.writes.earlyStamps('k', HOST)!;
  assert.deepEqual(Object.keys(first!), placed([hostCounterKey(PREFIX, HOST)]), 'a key never stored: its Host only');
  const recorded = await f.writes.stamps('k', HOST, answer('a b'))!;
  await f.cache.save('k', { status: 200, headers: [], storedAt: 0, staleAt: 1e13, gzip: false, body: Buffer.from('x'), tags: recorded! }, 60);
  const again = await f.writes.earlyStamps('k', HOST)!;
  assert.deepEqual(Object.keys(again!).sort(), placed(generationKeys(PREFIX, HOST, ['a', 'b'])).sort());
});

test('an answer records the early values of the counters read early, and reads the rest at its headers', async () => {
  const f = fixture();
  const early = f.writes.earlyStamps('k', HOST)!;
  const before = (await early)!;
  const [hostKey, tagKey] = placed([hostCounterKey(PREFIX, HOST), ...tagCounterKeys(PREFIX, HOST, ['new-tag'])]);
  // A purge-all and a purge of the new tag while the backend makes the answer.
  assert.equal(await f.cache.invalidate([hostKey, tagKey]), true);
  const recorded = (await f.writes.stamps('k', HOST, answer('new-tag'), early)!)!;
  assert.deepEqual(Object.keys(recorded).sort(), [hostKey, tagKey].sort(), 'what the answer depends on, nothing more');
  assert.equal(recorded[hostKey], before[hostKey], 'the Host\'s value from before the purge: the entry is already invalid');
  assert.equal(await f.cache.stamp([hostKey]).then((now) => now![hostKey] > recorded[hostKey]), true);
  // A tag it did not have before is read now: after that purge (the documented gap).
  assert.deepEqual(await f.cache.stamp([tagKey]), { [tagKey]: recorded[tagKey] });
});

test('early values that could not be read: nothing recorded, so nothing stored', async () => {
  const f = fixture();
  const recorded = await f.writes.stamps('k', HOST, answer('t'), Promise.resolve(null))!;
  assert.equal(recorded, null);
});
