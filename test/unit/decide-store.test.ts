// Table tests for "What is stored" and the lifetime rules of the contract.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideStore, lifetime, type StoreDecision, type StoreRules } from '../../src/policy/decide-store.js';
import type { Headers } from '../../src/policy/headers.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const httpDate = (ms: number) => new Date(ms).toUTCString();

const rules: StoreRules = {
  statuses: [200, 203, 300, 301, 308, 404, 410],
  honorCacheControl: true,
  defaultTtl: 300,
  maxTtl: 86400,
  maxObjectSize: 1048576,
};

function responseBut(o: { status?: number; headers?: Headers } = {}): { status: number; headers: Headers } {
  return { status: o.status ?? 200, headers: { 'content-type': 'text/html', date: httpDate(NOW), ...o.headers } };
}

const cases: Array<{ name: string; res: { status: number; headers: Headers }; rules?: Partial<StoreRules>; want: StoreDecision }> = [
  // status
  { name: 'plain 200 gets defaultTtl', res: responseBut(), want: { store: true, ttl: 300 } },
  { name: '404 is in the default list', res: responseBut({ status: 404 }), want: { store: true, ttl: 300 } },
  { name: '302 is not', res: responseBut({ status: 302 }), want: { store: false, reason: 'status' } },
  { name: '206 partial is not', res: responseBut({ status: 206 }), want: { store: false, reason: 'status' } },
  { name: '500 is not', res: responseBut({ status: 500, headers: { 'cache-control': 'max-age=60' } }), want: { store: false, reason: 'status' } },
  { name: 'custom statuses', res: responseBut({ status: 302 }), rules: { statuses: [302] }, want: { store: true, ttl: 300 } },

  // Set-Cookie
  { name: 'Set-Cookie', res: responseBut({ headers: { 'set-cookie': ['a=1'] } }), want: { store: false, reason: 'set-cookie' } },
  { name: 'Set-Cookie as a string', res: responseBut({ headers: { 'set-cookie': 'a=1' } }), want: { store: false, reason: 'set-cookie' } },
  { name: 'Set-Cookie beats public max-age', res: responseBut({ headers: { 'set-cookie': ['a=1'], 'cache-control': 'public, s-maxage=600' } }), want: { store: false, reason: 'set-cookie' } },
  { name: 'empty Set-Cookie array is no Set-Cookie', res: responseBut({ headers: { 'set-cookie': [] } }), want: { store: true, ttl: 300 } },
  {
    name: 'Set-Cookie even with honorCacheControl false',
    res: responseBut({ headers: { 'set-cookie': ['sid=1'] } }),
    rules: { honorCacheControl: false },
    want: { store: false, reason: 'set-cookie' },
  },

  // Cache-Control
  { name: 'private', res: responseBut({ headers: { 'cache-control': 'private' } }), want: { store: false, reason: 'private' } },
  { name: 'PRIVATE in caps', res: responseBut({ headers: { 'cache-control': 'PRIVATE, max-age=60' } }), want: { store: false, reason: 'private' } },
  { name: 'qualified private', res: responseBut({ headers: { 'cache-control': 'private="x-user", max-age=60' } }), want: { store: false, reason: 'private' } },
  { name: 'no-store', res: responseBut({ headers: { 'cache-control': 'no-store' } }), want: { store: false, reason: 'no-store' } },
  { name: 'No-Cache', res: responseBut({ headers: { 'cache-control': 'max-age=60, No-Cache' } }), want: { store: false, reason: 'no-cache' } },
  { name: 'no-cache on a second header line', res: responseBut({ headers: { 'cache-control': ['public', 'no-cache'] } }), want: { store: false, reason: 'no-cache' } },
  { name: 'public', res: responseBut({ headers: { 'cache-control': 'public' } }), want: { store: true, ttl: 300 } },
  { name: 'must-revalidate is storable', res: responseBut({ headers: { 'cache-control': 'max-age=60, must-revalidate' } }), want: { store: true, ttl: 60 } },
  {
    name: 'honorCacheControl false ignores private and max-age',
    res: responseBut({ headers: { 'cache-control': 'private, no-store, no-cache, max-age=0' } }),
    rules: { honorCacheControl: false },
    want: { store: true, ttl: 300 },
  },
  {
    name: 'honorCacheControl false still caps defaultTtl at maxTtl',
    res: responseBut(),
    rules: { honorCacheControl: false, defaultTtl: 1000, maxTtl: 100 },
    want: { store: true, ttl: 100 },
  },

  // Vary
  { name: 'Vary: Accept-Encoding', res: responseBut({ headers: { vary: 'Accept-Encoding' } }), want: { store: true, ttl: 300 } },
  { name: 'Vary: accept-encoding with odd case and spacing', res: responseBut({ headers: { vary: '  ACCEPT-encoding ,, ' } }), want: { store: true, ttl: 300 } },
  { name: 'empty Vary', res: responseBut({ headers: { vary: '' } }), want: { store: true, ttl: 300 } },
  { name: 'Vary: Cookie', res: responseBut({ headers: { vary: 'Accept-Encoding, Cookie' } }), want: { store: false, reason: 'vary' } },
  { name: 'Vary: *', res: responseBut({ headers: { vary: '*' } }), want: { store: false, reason: 'vary' } },
  { name: 'Vary repeated, second line names a request header: a variant', res: responseBut({ headers: { vary: ['Accept-Encoding', 'User-Agent'] } }), want: { store: true, ttl: 300 } },
  { name: 'Vary: Authorization', res: responseBut({ headers: { vary: 'Accept-Language, authorization' } }), want: { store: false, reason: 'vary' } },
  { name: 'Vary: a, * (star anywhere)', res: responseBut({ headers: { vary: 'Accept-Language, *' } }), want: { store: false, reason: 'vary' } },
  {
    name: 'Vary applies even with honorCacheControl false',
    res: responseBut({ headers: { vary: 'Cookie' } }),
    rules: { honorCacheControl: false },
    want: { store: false, reason: 'vary' },
  },

  // size
  { name: 'Content-Length at the limit', res: responseBut({ headers: { 'content-length': '1048576' } }), want: { store: true, ttl: 300 } },
  { name: 'Content-Length over the limit', res: responseBut({ headers: { 'content-length': '1048577' } }), want: { store: false, reason: 'too-large' } },
  { name: 'Content-Length repeated, largest counts', res: responseBut({ headers: { 'content-length': '10, 2000000' } }), want: { store: false, reason: 'too-large' } },
  { name: 'unreadable Content-Length left to the stream check', res: responseBut({ headers: { 'content-length': 'lots' } }), want: { store: true, ttl: 300 } },

  // lifetime
  { name: 'max-age', res: responseBut({ headers: { 'cache-control': 'max-age=60' } }), want: { store: true, ttl: 60 } },
  { name: 'Max-Age = 60 with spaces', res: responseBut({ headers: { 'cache-control': 'Max-Age = 60' } }), want: { store: true, ttl: 60 } },
  { name: 'quoted max-age', res: responseBut({ headers: { 'cache-control': 'max-age="60"' } }), want: { store: true, ttl: 60 } },
  { name: 's-maxage beats max-age', res: responseBut({ headers: { 'cache-control': 'max-age=60, s-maxage=120' } }), want: { store: true, ttl: 120 } },
  { name: 's-maxage=0 beats max-age', res: responseBut({ headers: { 'cache-control': 'max-age=60, s-maxage=0' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'max-age=0', res: responseBut({ headers: { 'cache-control': 'max-age=0' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'invalid max-age means stale', res: responseBut({ headers: { 'cache-control': 'max-age=soon' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'negative max-age means stale', res: responseBut({ headers: { 'cache-control': 'max-age=-5' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'max-age above maxTtl is capped', res: responseBut({ headers: { 'cache-control': 'max-age=31536000' } }), want: { store: true, ttl: 86400 } },
  {
    name: 'max-age beats Expires',
    res: responseBut({ headers: { 'cache-control': 'max-age=60', expires: httpDate(NOW + 3600_000) } }),
    want: { store: true, ttl: 60 },
  },
  { name: 'Expires relative to Date', res: responseBut({ headers: { expires: httpDate(NOW + 600_000) } }), want: { store: true, ttl: 600 } },
  {
    // The lifetime is Expires - Date (RFC 9111 4.2.1), but a Date an hour old says the
    // response is an hour old (4.2.3 apparent_age): its 120 s were spent before it came.
    name: 'Expires relative to Date; a Date an hour old makes it already stale',
    res: responseBut({ headers: { date: httpDate(NOW - 3600_000), expires: httpDate(NOW - 3600_000 + 120_000) } }),
    want: { store: false, reason: 'already-stale' },
  },
  {
    name: 'Expires relative to Date, less the apparent age beyond Date\'s own second',
    res: responseBut({ headers: { date: httpDate(NOW - 30_000), expires: httpDate(NOW - 30_000 + 120_000) } }),
    want: { store: true, ttl: 91 },
  },
  {
    name: 'Expires relative to now without Date',
    res: { status: 200, headers: { expires: httpDate(NOW + 90_000) } },
    want: { store: true, ttl: 90 },
  },
  {
    name: 'Expires relative to now when Date is invalid',
    res: responseBut({ headers: { date: 'yesterday', expires: httpDate(NOW + 90_000) } }),
    want: { store: true, ttl: 90 },
  },
  { name: 'Expires in the past', res: responseBut({ headers: { expires: httpDate(NOW - 1000) } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'Expires: 0 means already expired', res: responseBut({ headers: { expires: '0' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'Expires: -1 means already expired', res: responseBut({ headers: { expires: '-1' } }), want: { store: false, reason: 'zero-ttl' } },
  { name: 'Expires in RFC 850 form', res: responseBut({ headers: { expires: 'Monday, 15-Jan-24 12:05:00 GMT' } }), want: { store: true, ttl: 300 } },
  { name: 'Expires in asctime form', res: responseBut({ headers: { expires: 'Mon Jan 15 12:01:00 2024' } }), want: { store: true, ttl: 60 } },
  { name: 'Expires far ahead is capped', res: responseBut({ headers: { expires: httpDate(NOW + 365 * 86400_000) } }), want: { store: true, ttl: 86400 } },
  { name: 'defaultTtl 0 means never stored without freshness', res: responseBut(), rules: { defaultTtl: 0 }, want: { store: false, reason: 'zero-ttl' } },
];

for (const c of cases) {
  test(`decideStore: ${c.name}`, () => {
    assert.deepEqual(decideStore(c.res, { ...rules, ...c.rules }, NOW), c.want);
  });
}

test('lifetime: whole seconds, floor of a sub-second Expires distance', () => {
  const headers = { expires: httpDate(NOW + 10_000) };
  assert.equal(lifetime(headers, rules, NOW + 500), 9);
});

test('lifetime: honorCacheControl false gives defaultTtl whatever the headers say', () => {
  assert.equal(lifetime({ 'cache-control': 's-maxage=5' }, { honorCacheControl: false, defaultTtl: 42, maxTtl: 100 }, NOW), 42);
});

test('lifetime: never negative', () => {
  assert.equal(lifetime({ expires: httpDate(NOW - 86400_000) }, rules, NOW), 0);
});
