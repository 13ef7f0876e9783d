// Table tests for RFC 9111's age calculation (4.2.3), freshness lifetime with Age (4.2), the
// stale rules (4.2.4, 5.2.2.2, 5.2.2.8, 5.2.2.10, RFC 5861) and targeted cache control (RFC 9213).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageValueOf, correctedInitialAge, currentAge, type AgeInputs } from '../../src/policy/age.js';
import { arrivalFacts, decideStore } from '../../src/policy/decide-store.js';
import {
  ageSeconds,
  effectiveWindows,
  freshnessLifetime,
  staleAtFor,
  staleRule,
  storeTtlSeconds,
  verdict,
  type StaleRule,
  type Verdict,
} from '../../src/policy/freshness.js';
import { effectiveControl, surrogateControl } from '../../src/policy/targeted.js';

const T0 = Date.UTC(2024, 0, 15, 12, 0, 0);
const httpDate = (ms: number) => new Date(ms).toUTCString();
const rules = { statuses: [200], honorCacheControl: true, defaultTtl: 300, maxTtl: 86400, maxObjectSize: 1 << 20 };
const windows = { staleWhileRevalidate: 30, staleIfError: 600 };

// RFC 9111 4.2.3, one row per term of the calculation.
const ages: Array<{ name: string; i: AgeInputs; want: number }> = [
  { name: 'no Date, no Age: new', i: { requestTime: T0, responseTime: T0 }, want: 0 },
  { name: 'Age alone: age_value', i: { ageValue: 7200, requestTime: T0, responseTime: T0 }, want: 7200 },
  { name: 'corrected_age_value adds response_delay', i: { ageValue: 10, requestTime: T0 - 3000, responseTime: T0 }, want: 13 },
  { name: 'response_delay under a second adds nothing', i: { ageValue: 10, requestTime: T0 - 900, responseTime: T0 }, want: 10 },
  { name: 'apparent_age from Date (beyond Date\'s own second)', i: { dateValue: T0 - 60_000, requestTime: T0, responseTime: T0 }, want: 59 },
  { name: 'Date of this second: apparent_age 0', i: { dateValue: T0, requestTime: T0, responseTime: T0 + 999 }, want: 0 },
  { name: 'Date of the second before: rounding, not age', i: { dateValue: T0 - 1000, requestTime: T0, responseTime: T0 + 1 }, want: 0 },
  { name: 'Date in the future: max(0, …)', i: { dateValue: T0 + 60_000, requestTime: T0, responseTime: T0 }, want: 0 },
  { name: 'corrected_initial_age = max(apparent_age, corrected_age_value): Age larger', i: { dateValue: T0 - 10_000, ageValue: 100, requestTime: T0, responseTime: T0 }, want: 100 },
  { name: 'corrected_initial_age = max(apparent_age, corrected_age_value): Date larger', i: { dateValue: T0 - 300_000, ageValue: 100, requestTime: T0, responseTime: T0 }, want: 299 },
];
for (const c of ages) test(`correctedInitialAge: ${c.name} → ${c.want}`, () => assert.equal(correctedInitialAge(c.i), c.want));

test('currentAge: corrected_initial_age + resident_time, whole seconds, never less than the initial age', () => {
  assert.equal(currentAge(0, T0, T0), 0);
  assert.equal(currentAge(7200, T0, T0 + 5_500), 7205);
  assert.equal(currentAge(30, T0, T0 - 2000), 30);
  assert.equal(ageSeconds(T0, T0 + 3_000, 100), 103);
  assert.equal(ageSeconds(T0, T0 + 3_000), 3);
});

test('Age field: first member of a list; invalid ignored (RFC 9111 5.1)', () => {
  assert.equal(ageValueOf({ age: '42' }), 42);
  assert.equal(ageValueOf({ age: '42, 7' }), 42);
  assert.equal(ageValueOf({ age: ['5', '9'] }), 5);
  assert.equal(ageValueOf({ age: '-1' }), undefined);
  assert.equal(ageValueOf({ age: '1.5' }), undefined);
  assert.equal(ageValueOf({ age: 'soon' }), undefined);
  assert.equal(ageValueOf({ age: '99999999999' }), 2147483648);
});

// The backend's Age is taken off the lifetime (contract "Age"; RFC 9111 4.2).
const stored: Array<{ name: string; headers: Record<string, string>; want: ReturnType<typeof decideStore> }> = [
  { name: 'max-age=3600, Age 7200: already stale', headers: { 'cache-control': 'max-age=3600', age: '7200' }, want: { store: false, reason: 'already-stale' } },
  { name: 'max-age=3600, Age 3600: already stale (fresh only while age < lifetime)', headers: { 'cache-control': 'max-age=3600', age: '3600' }, want: { store: false, reason: 'already-stale' } },
  { name: 'max-age=3600, Age 600: 3000 s left', headers: { 'cache-control': 'max-age=3600', age: '600' }, want: { store: true, ttl: 3000 } },
  { name: 's-maxage=100, Age 40: 60 s left', headers: { 'cache-control': 's-maxage=100', age: '40' }, want: { store: true, ttl: 60 } },
  {
    name: 'Expires an hour after Date, Age 7200: already stale',
    headers: { date: httpDate(T0), expires: httpDate(T0 + 3600_000), age: '7200' },
    want: { store: false, reason: 'already-stale' },
  },
  { name: 'Expires an hour after Date, Age 600', headers: { date: httpDate(T0), expires: httpDate(T0 + 3600_000), age: '600' }, want: { store: true, ttl: 3000 } },
  { name: 'an invalid Age is ignored', headers: { 'cache-control': 'max-age=60', age: 'x' }, want: { store: true, ttl: 60 } },
  { name: 'defaultTtl less the Age', headers: { age: '100' }, want: { store: true, ttl: 200 } },
];
for (const c of stored) {
  test(`decideStore with Age: ${c.name}`, () => assert.deepEqual(decideStore({ status: 200, headers: c.headers }, rules, T0), c.want));
}

test('decideStore: honorCacheControl false keeps defaultTtl whatever Age says', () => {
  assert.deepEqual(decideStore({ status: 200, headers: { age: '100000' } }, { ...rules, honorCacheControl: false }, T0), { store: true, ttl: 300 });
});

test('staleAt is response_time + (lifetime - corrected_initial_age): fresh exactly while current_age < lifetime', () => {
  const staleAt = staleAtFor(T0, 3600, 600);
  assert.equal(verdict({ storedAt: T0, staleAt, initialAge: 600 }, T0 + 2999_999, windows).state, 'fresh');
  assert.equal(verdict({ storedAt: T0, staleAt, initialAge: 600 }, T0 + 3000_000, windows).state, 'stale-while-revalidate');
  assert.equal(ageSeconds(T0, T0 + 3000_000, 600), 3600);
});

// Which directive forbids stale, or which windows the response sets.
const rulesTable: Array<{ cc: string; want: StaleRule }> = [
  { cc: 'max-age=60', want: {} },
  { cc: 'max-age=2, must-revalidate', want: { forbid: 'must-revalidate' } },
  { cc: 'max-age=2, proxy-revalidate', want: { forbid: 'proxy-revalidate' } },
  { cc: 's-maxage=2', want: { forbid: 's-maxage' } },
  { cc: 'max-age=2, MUST-REVALIDATE, stale-while-revalidate=60', want: { forbid: 'must-revalidate' } },
  { cc: 'max-age=2, stale-while-revalidate=60', want: { swr: 60 } },
  { cc: 'max-age=2, stale-if-error=0', want: { sie: 0 } },
  { cc: 'max-age=2, stale-while-revalidate=5, stale-if-error=86400', want: { swr: 5, sie: 86400 } },
  { cc: 'max-age=2, stale-while-revalidate=soon', want: {} },
];
for (const c of rulesTable) test(`staleRule: ${c.cc}`, () => assert.deepEqual(staleRule({ 'cache-control': c.cc }), c.want));

// The verdict over the stored times, with the response's rule (entry lifetime 60 s).
const entry = (stale?: StaleRule) => ({ storedAt: T0, staleAt: T0 + 60_000, stale });
const verdicts: Array<{ name: string; stale?: StaleRule; now: number; ignore?: boolean; want: Verdict }> = [
  { name: 'fresh whatever the rule', stale: { forbid: 'must-revalidate' }, now: T0 + 59_999, want: { state: 'fresh' } },
  { name: 'must-revalidate: not SWR', stale: { forbid: 'must-revalidate' }, now: T0 + 60_000, want: { state: 'expired', forbidden: 'must-revalidate' } },
  { name: 'proxy-revalidate: not stale-if-error either', stale: { forbid: 'proxy-revalidate' }, now: T0 + 200_000, want: { state: 'expired', forbidden: 'proxy-revalidate' } },
  { name: 's-maxage: never stale', stale: { forbid: 's-maxage' }, now: T0 + 61_000, want: { state: 'expired', forbidden: 's-maxage' } },
  { name: 'configured windows: SWR', now: T0 + 61_000, want: { state: 'stale-while-revalidate' } },
  { name: 'configured windows: SIE', now: T0 + 100_000, want: { state: 'stale-if-error' } },
  { name: 'stale-while-revalidate=300 replaces 30', stale: { swr: 300 }, now: T0 + 300_000, want: { state: 'stale-while-revalidate' } },
  { name: 'stale-while-revalidate=0 replaces 30: straight to SIE', stale: { swr: 0 }, now: T0 + 60_000, want: { state: 'stale-if-error' } },
  { name: 'stale-if-error=5 replaces 600', stale: { sie: 5 }, now: T0 + 100_000, want: { state: 'expired' } },
  { name: 'stale-if-error=5: still covered by the configured SWR', stale: { sie: 5 }, now: T0 + 80_000, want: { state: 'stale-while-revalidate' } },
  { name: 'honorCacheControl false: the configured windows, whatever it said', stale: { forbid: 'must-revalidate' }, now: T0 + 61_000, ignore: true, want: { state: 'stale-while-revalidate' } },
];
for (const c of verdicts) {
  test(`verdict: ${c.name}`, () => assert.deepEqual(verdict(entry(c.stale), c.now, { ...windows, ignoreResponse: c.ignore }), c.want));
}

test('memcached keeps an entry through its own windows, then cache.keep', () => {
  assert.equal(storeTtlSeconds(60, effectiveWindows(undefined, windows), 3600), 60 + 600 + 3600);
  assert.equal(storeTtlSeconds(60, effectiveWindows({ forbid: 'must-revalidate' }, windows), 3600), 60 + 3600);
  assert.equal(storeTtlSeconds(60, effectiveWindows({ swr: 86400 }, windows), 0), 60 + 86400);
  assert.equal(storeTtlSeconds(60, effectiveWindows({ swr: 1, sie: 2 }, windows), 0), 62);
});

// Targeted cache control (RFC 9213; Surrogate-Control).
test('CDN-Cache-Control replaces Cache-Control and Expires for memfront', () => {
  const h = { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=600', expires: 'Thu, 01 Jan 1970 00:00:00 GMT' };
  assert.equal(effectiveControl(h).source, 'cdn-cache-control');
  assert.deepEqual(decideStore({ status: 200, headers: h }, rules, T0), { store: true, ttl: 600 });
  assert.deepEqual(decideStore({ status: 200, headers: { 'cache-control': 'max-age=600', 'cdn-cache-control': 'no-store' } }, rules, T0), { store: false, reason: 'no-store' });
  // No lifetime in it: Expires is still ignored, defaultTtl applies.
  assert.equal(freshnessLifetime({ 'cdn-cache-control': 'public', expires: httpDate(T0 + 60_000), date: httpDate(T0) }, rules, T0), 300);
  assert.deepEqual(staleRule({ 'cache-control': 'max-age=1', 'cdn-cache-control': 'max-age=60, must-revalidate' }), { forbid: 'must-revalidate' });
  assert.deepEqual(staleRule({ 'cache-control': 'max-age=1, must-revalidate', 'cdn-cache-control': 'max-age=60' }), {});
});

test('an empty CDN-Cache-Control is no value: Cache-Control governs', () => {
  assert.equal(effectiveControl({ 'cdn-cache-control': '', 'cache-control': 'max-age=5' }).source, 'cache-control');
});

test('Surrogate-Control max-age / no-store, untargeted or ;memfront', () => {
  assert.deepEqual([...(surrogateControl('max-age=300')?.entries() ?? [])], [['max-age', '300']]);
  assert.deepEqual([...(surrogateControl('content="ESI/1.0", max-age=300+60')?.entries() ?? [])], [['max-age', '300']]);
  assert.deepEqual([...(surrogateControl('no-store')?.entries() ?? [])], [['no-store', true]]);
  assert.deepEqual([...(surrogateControl('max-age=10;other, max-age=20;memfront')?.entries() ?? [])], [['max-age', '20']]);
  assert.equal(surrogateControl('content="ESI/1.0"'), null);
  assert.equal(surrogateControl(undefined), null);
  assert.deepEqual(decideStore({ status: 200, headers: { 'cache-control': 'max-age=5', 'surrogate-control': 'max-age=900' } }, rules, T0), { store: true, ttl: 900 });
  assert.deepEqual(decideStore({ status: 200, headers: { 'cache-control': 'max-age=5', 'surrogate-control': 'no-store' } }, rules, T0), { store: false, reason: 'no-store' });
  // CDN-Cache-Control comes first in memfront's target list.
  assert.equal(effectiveControl({ 'cdn-cache-control': 'max-age=1', 'surrogate-control': 'max-age=2' }).source, 'cdn-cache-control');
});

test('arrivalFacts: the age and stale rule an entry records', () => {
  assert.deepEqual(arrivalFacts({ 'cache-control': 'max-age=60', age: '12' }, T0), { initialAge: 12, stale: undefined });
  assert.deepEqual(arrivalFacts({ 'cache-control': 'max-age=60, stale-if-error=9' }, T0), { initialAge: 0, stale: { sie: 9 } });
});
