// Table tests for the RFC 9211 Cache-Status values memfront sends.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatCacheStatus, type CacheStatusInput } from '../../src/policy/cache-status.js';

const cases: Array<{ input: CacheStatusInput; want: string }> = [
  { input: { hit: true, ttl: 240 }, want: 'memfront; hit; ttl=240' },
  { input: { hit: true, ttl: 239.9 }, want: 'memfront; hit; ttl=239' },
  { input: { hit: true, ttl: -5 }, want: 'memfront; hit; ttl=-5' },
  { input: { fwd: 'miss', stored: true }, want: 'memfront; fwd=miss; stored' },
  { input: { fwd: 'miss', stored: false }, want: 'memfront; fwd=miss' },
  { input: { fwd: 'miss', stored: true, ttl: 300 }, want: 'memfront; fwd=miss; stored; ttl=300' },
  { input: { fwd: 'uri-miss', detail: 'set-cookie' }, want: 'memfront; fwd=uri-miss; detail=set-cookie' },
  { input: { fwd: 'bypass', detail: 'session-cookie' }, want: 'memfront; fwd=bypass; detail=session-cookie' },
  { input: { fwd: 'stale', fwdStatus: 304 }, want: 'memfront; fwd=stale; fwd-status=304' },
  { input: { fwd: 'request', detail: 'coalesced' }, want: 'memfront; fwd=request; detail=coalesced' },
  { input: { fwd: 'miss', fwdStatus: 200, stored: true, detail: 'chunked' }, want: 'memfront; fwd=miss; fwd-status=200; stored; detail=chunked' },
  { input: { fwd: 'miss', detail: 'too large' }, want: 'memfront; fwd=miss; detail="too large"' },
  { input: { fwd: 'miss', detail: 'say "hi"\\' }, want: 'memfront; fwd=miss; detail="say \\"hi\\"\\\\"' },
  { input: { fwd: 'miss', detail: '1st' }, want: 'memfront; fwd=miss; detail="1st"' },
  { input: { fwd: 'miss', detail: 'café\n' }, want: 'memfront; fwd=miss; detail="caf??"' },
  { input: { fwd: 'miss', detail: '' }, want: 'memfront; fwd=miss; detail=""' },
  { input: { fwd: 'miss', detail: 'cache:down/ECONNREFUSED' }, want: 'memfront; fwd=miss; detail=cache:down/ECONNREFUSED' },
];
for (const c of cases) {
  test(`formatCacheStatus → ${c.want}`, () => assert.equal(formatCacheStatus(c.input), c.want));
}

test('formatCacheStatus output is always a valid header value (no control bytes, ASCII only)', () => {
  const v = formatCacheStatus({ fwd: 'miss', detail: '\r\nSet-Cookie: x=1\u2028' });
  assert.match(v, /^[\x20-\x7e]+$/);
});
