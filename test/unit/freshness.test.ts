// Table tests for fresh / stale-while-revalidate / stale-if-error / expired, Age and memcached exptimes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageSeconds, freshness, memcachedExptime, storeTtlSeconds, type Freshness } from '../../src/policy/freshness.js';

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const entry = { storedAt: T0, staleAt: T0 + 60_000 }; // a 60 s lifetime
const windows = { staleWhileRevalidate: 30, staleIfError: 600 };

const cases: Array<{ name: string; now: number; windows?: typeof windows; want: Freshness }> = [
  { name: 'just stored', now: T0, want: 'fresh' },
  { name: 'clock behind storedAt (another worker stored it)', now: T0 - 5_000, want: 'fresh' },
  { name: 'last millisecond of life', now: T0 + 59_999, want: 'fresh' },
  { name: 'at staleAt', now: T0 + 60_000, want: 'stale-while-revalidate' },
  { name: 'inside SWR', now: T0 + 89_999, want: 'stale-while-revalidate' },
  { name: 'SWR over, inside SIE', now: T0 + 90_000, want: 'stale-if-error' },
  { name: 'last millisecond of SIE', now: T0 + 660_000 - 1, want: 'stale-if-error' },
  { name: 'SIE over', now: T0 + 660_000, want: 'expired' },
  { name: 'no windows: stale at once is expired', now: T0 + 60_000, windows: { staleWhileRevalidate: 0, staleIfError: 0 }, want: 'expired' },
  { name: 'SWR longer than SIE: SWR wins while it lasts', now: T0 + 60_000 + 500_000, windows: { staleWhileRevalidate: 900, staleIfError: 600 }, want: 'stale-while-revalidate' },
  { name: 'only SIE', now: T0 + 61_000, windows: { staleWhileRevalidate: 0, staleIfError: 600 }, want: 'stale-if-error' },
];
for (const c of cases) {
  test(`freshness: ${c.name} → ${c.want}`, () => {
    assert.equal(freshness(entry, c.now, c.windows ?? windows), c.want);
  });
}

test('freshness: a zero-lifetime entry is stale the moment it is stored', () => {
  assert.equal(freshness({ storedAt: T0, staleAt: T0 }, T0, windows), 'stale-while-revalidate');
});

const ages: Array<{ storedAt: number; now: number; want: number }> = [
  { storedAt: T0, now: T0, want: 0 },
  { storedAt: T0, now: T0 + 999, want: 0 },
  { storedAt: T0, now: T0 + 1000, want: 1 },
  { storedAt: T0, now: T0 + 240_500, want: 240 },
  { storedAt: T0, now: T0 - 3000, want: 0 },
];
for (const c of ages) {
  test(`ageSeconds(+${c.now - c.storedAt} ms) = ${c.want}`, () => assert.equal(ageSeconds(c.storedAt, c.now), c.want));
}

test('storeTtlSeconds: lifetime plus the longer stale window', () => {
  assert.equal(storeTtlSeconds(300, windows), 900);
  assert.equal(storeTtlSeconds(300, { staleWhileRevalidate: 1000, staleIfError: 10 }), 1300);
  assert.equal(storeTtlSeconds(300, { staleWhileRevalidate: 0, staleIfError: 0 }), 300);
  assert.equal(storeTtlSeconds(10.2, { staleWhileRevalidate: 0, staleIfError: 0 }), 11);
});

const NOW_MS = 1_700_000_000_123;
const exptimes: Array<{ seconds: number; want: number; why: string }> = [
  { seconds: 300, want: 300, why: 'relative' },
  { seconds: 2592000, want: 2592000, why: 'exactly 30 days is still relative' },
  { seconds: 2592001, want: 1_700_000_000 + 2592001, why: 'beyond 30 days is absolute unix time' },
  { seconds: 0, want: 1, why: '0 would mean never expire' },
  { seconds: -5, want: 1, why: 'never negative' },
  { seconds: 0.2, want: 1, why: 'fractions round up' },
];
for (const c of exptimes) {
  test(`memcachedExptime(${c.seconds}) = ${c.want}: ${c.why}`, () => assert.equal(memcachedExptime(c.seconds, NOW_MS), c.want));
}
