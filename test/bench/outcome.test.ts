// Reading X-Cache from memfront, nginx srcache, our Varnish VCL, Squid-style and no cache.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { outcomeOf, servedFromCache, type Outcome } from '../../bench/driver/outcome.js';

test('X-Cache values map to outcomes', () => {
  const cases: Array<[string | string[] | undefined, Outcome]> = [
    ['HIT', 'hit'],
    ['hit', 'hit'],
    ['MISS', 'miss'],
    ['BYPASS', 'bypass'],
    ['STALE', 'stale'],
    ['UPDATING', 'stale'],
    ['EXPIRED', 'miss'],
    ['PASS', 'bypass'],
    ['HIT from cache1.example', 'hit'],
    ['MISS, HIT', 'miss'],
    [['HIT', 'MISS'], 'hit'],
    [undefined, 'none'],
    ['', 'none'],
    ['REVALIDATED', 'other'],
  ];
  for (const [header, want] of cases) assert.equal(outcomeOf(header), want, JSON.stringify(header));
});

test('hits and stale answers are served from the cache; nothing else is', () => {
  assert.deepEqual(
    (['hit', 'stale', 'miss', 'bypass', 'none', 'other'] as Outcome[]).filter(servedFromCache),
    ['hit', 'stale'],
  );
});
