// Table tests for the request target check done in recv (414 and 400).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkRequestTarget, MAX_HEADER_BYTES, MAX_URL_LENGTH, type TargetVerdict } from '../../src/policy/request-limits.js';

const cases: Array<[string, string | undefined, TargetVerdict]> = [
  ['a path', '/', { ok: true }],
  ['path and query', '/a/b?c=d', { ok: true }],
  ['exactly the limit', '/' + 'x'.repeat(MAX_URL_LENGTH - 1), { ok: true }],
  ['one over the limit', '/' + 'x'.repeat(MAX_URL_LENGTH), { ok: false, status: 414, reason: 'url-too-long' }],
  ['absolute-form (a forward-proxy request)', 'http://example.com/', { ok: false, status: 400, reason: 'not-origin-form' }],
  ['asterisk-form', '*', { ok: false, status: 400, reason: 'not-origin-form' }],
  ['empty', '', { ok: false, status: 400, reason: 'not-origin-form' }],
  ['missing', undefined, { ok: false, status: 400, reason: 'not-origin-form' }],
];
for (const [name, url, want] of cases) {
  test(`checkRequestTarget: ${name}`, () => {
    assert.deepEqual(checkRequestTarget(url), want);
  });
}

test('a URL at the limit still fits in the header limit, so 414 (not 431) is what it gets', () => {
  assert.ok(MAX_URL_LENGTH + 'GET  HTTP/1.1\r\nHost: example.com\r\n'.length < MAX_HEADER_BYTES);
});
