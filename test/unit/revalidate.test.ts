// Table tests for revalidation: the conditional request's headers, and the entry a 304 renews.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renewAfterNotModified, revalidationHeaders, type StoredResponse } from '../../src/policy/revalidate.js';
import type { StoreRules } from '../../src/policy/decide-store.js';

const NOW = Date.UTC(2024, 0, 15, 12, 0, 0);
const rules: StoreRules = { statuses: [200, 404], honorCacheControl: true, defaultTtl: 300, maxTtl: 86400, maxObjectSize: 1 << 20 };

for (const [name, v, want] of [
  ['ETag and Last-Modified: both', { etag: '"a1"', lastModified: 'Mon, 15 Jan 2024 10:00:00 GMT' }, { 'if-none-match': '"a1"', 'if-modified-since': 'Mon, 15 Jan 2024 10:00:00 GMT' }],
  ['weak ETag sent as is', { etag: 'W/"a1"' }, { 'if-none-match': 'W/"a1"' }],
  ['only Last-Modified', { lastModified: 'Mon, 15 Jan 2024 10:00:00 GMT' }, { 'if-modified-since': 'Mon, 15 Jan 2024 10:00:00 GMT' }],
  ['no validators: an unconditional refetch', {}, {}],
  ['blank validators count as none', { etag: ' ', lastModified: '' }, {}],
] as const) {
  test(`revalidationHeaders: ${name}`, () => {
    assert.deepEqual(revalidationHeaders(v), want);
  });
}

/** A stored 200 with a 60 s lifetime, stored 70 s ago. */
function storedBut(o: Partial<StoredResponse> = {}): StoredResponse {
  return {
    status: 200,
    headers: [
      ['Content-Type', 'text/html'],
      ['Cache-Control', 'max-age=60'],
      ['ETag', '"v1"'],
      ['Link', '</a.css>; rel=preload'],
      ['Link', '</b.js>; rel=preload'],
    ],
    storedAt: NOW - 70_000,
    staleAt: NOW - 10_000,
    etag: '"v1"',
    ...o,
  };
}

test('renew: 304 fields replace the stored ones in place; new ones are appended', () => {
  const r = renewAfterNotModified(storedBut(), [['cache-control', 'max-age=120'], ['X-Served-By', 'app2']], rules, NOW);
  assert.deepEqual(r.headers, [
    ['Content-Type', 'text/html'],
    ['cache-control', 'max-age=120'],
    ['ETag', '"v1"'],
    ['Link', '</a.css>; rel=preload'],
    ['Link', '</b.js>; rel=preload'],
    ['X-Served-By', 'app2'],
  ]);
  assert.deepEqual(r.decision, { store: true, ttl: 120 });
});

test('renew: a repeated field in the 304 replaces every stored line of that name', () => {
  const r = renewAfterNotModified(storedBut(), [['Link', '</c.css>; rel=preload']], rules, NOW);
  assert.deepEqual(r.headers.filter(([n]) => n === 'Link'), [['Link', '</c.css>; rel=preload']]);
});

test('renew: a 304 that says nothing of freshness keeps the old lifetime', () => {
  const r = renewAfterNotModified(storedBut(), [['Date', new Date(NOW).toUTCString()]], rules, NOW);
  assert.deepEqual(r.decision, { store: true, ttl: 60 });
});

test('renew: the old lifetime, even when it came from Expires against an old Date', () => {
  const stored = storedBut({
    headers: [['Date', new Date(NOW - 70_000).toUTCString()], ['Expires', new Date(NOW - 10_000).toUTCString()]],
  });
  const r = renewAfterNotModified(stored, [['Date', new Date(NOW).toUTCString()]], rules, NOW);
  assert.deepEqual(r.decision, { store: true, ttl: 60 });
});

test('renew: Expires in the 304 is read against its Date', () => {
  const r = renewAfterNotModified(storedBut({ headers: [['Content-Type', 'text/html']] }), [
    ['Date', new Date(NOW).toUTCString()],
    ['Expires', new Date(NOW + 600_000).toUTCString()],
  ], rules, NOW);
  assert.deepEqual(r.decision, { store: true, ttl: 600 });
});

for (const [name, field, value, reason] of [
  ['no-store', 'Cache-Control', 'no-store', 'no-store'],
  ['private', 'Cache-Control', 'private, max-age=60', 'private'],
  ['Set-Cookie: this visitor\'s, never shared', 'Set-Cookie', 'sid=1', 'set-cookie'],
  ['Vary on a request header', 'Vary', 'Cookie', 'vary'],
] as const) {
  test(`renew: a 304 with ${name} makes the entry unstorable`, () => {
    const r = renewAfterNotModified(storedBut(), [[field, value]], rules, NOW);
    assert.deepEqual(r.decision, { store: false, reason });
    assert.ok(!r.headers.some(([n]) => n.toLowerCase() === 'set-cookie'), 'Set-Cookie never enters the stored headers');
  });
}

test('renew: Content-Length and Content-Encoding of a 304 do not replace the stored ones', () => {
  const stored = storedBut({ headers: [['Content-Type', 'text/html'], ['Cache-Control', 'max-age=60']] });
  const r = renewAfterNotModified(stored, [['Content-Length', '0'], ['Content-Encoding', 'br'], ['Transfer-Encoding', 'chunked']], rules, NOW);
  assert.deepEqual(r.headers, stored.headers);
});

test('renew: a new ETag and Last-Modified from the 304 become the validators', () => {
  const r = renewAfterNotModified(storedBut(), [['ETag', '"v1b"'], ['Last-Modified', 'Mon, 15 Jan 2024 11:00:00 GMT']], rules, NOW);
  assert.equal(r.etag, '"v1b"');
  assert.equal(r.lastModified, 'Mon, 15 Jan 2024 11:00:00 GMT');
  const same = renewAfterNotModified(storedBut({ lastModified: 'Sun, 14 Jan 2024 09:00:00 GMT' }), [], rules, NOW);
  assert.equal(same.etag, '"v1"');
  assert.equal(same.lastModified, 'Sun, 14 Jan 2024 09:00:00 GMT');
});

test('renew: the stored status decides (a stored 404 is renewed as a 404)', () => {
  const r = renewAfterNotModified(storedBut({ status: 404 }), [['Cache-Control', 'max-age=30']], rules, NOW);
  assert.deepEqual(r.decision, { store: true, ttl: 30 });
  const gone = renewAfterNotModified(storedBut({ status: 404 }), [['Cache-Control', 'max-age=30']], { ...rules, statuses: [200] }, NOW);
  assert.deepEqual(gone.decision, { store: false, reason: 'status' });
});

// RFC 9111 4.3.4: a 304 freshens the stored response as if it had just been received: its own
// Age and Date count, never the ones stored with the first response.
test('renewal: the stored Age does not age the renewed entry; the 304\'s does', () => {
  const stored = storedBut({ headers: [['Cache-Control', 'max-age=60'], ['Age', '50'], ['Date', new Date(NOW - 3600_000).toUTCString()]] });
  const plain = renewAfterNotModified(stored, [['Cache-Control', 'max-age=60']], rules, NOW);
  assert.deepEqual(plain.decision, { store: true, ttl: 60 });
  assert.equal(plain.initialAge, 0);
  const aged = renewAfterNotModified(stored, [['Cache-Control', 'max-age=60'], ['Age', '20']], rules, NOW);
  assert.deepEqual(aged.decision, { store: true, ttl: 40 });
  assert.equal(aged.initialAge, 20);
});

test('renewal: the 304\'s targeted field decides, and is not stored; without a word on freshness the stale rule stays', () => {
  const stored = storedBut({ stale: { forbid: 'must-revalidate' } });
  const targeted = renewAfterNotModified(stored, [['Cache-Control', 'no-store']], rules, NOW, [['CDN-Cache-Control', 'max-age=600, stale-if-error=5']]);
  assert.deepEqual(targeted.decision, { store: true, ttl: 600 });
  assert.deepEqual(targeted.stale, { sie: 5 });
  assert.ok(!targeted.headers.some(([n]) => n.toLowerCase() === 'cdn-cache-control'));
  const silent = renewAfterNotModified(stored, [['ETag', '"v1"']], rules, NOW);
  assert.deepEqual(silent.stale, { forbid: 'must-revalidate' });
});
