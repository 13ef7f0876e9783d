// Table tests for If-None-Match / If-Modified-Since on stored entries and single byte ranges.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionalStatus, ifRangeHolds, parseRange, weakened, type RangeResult, type Validators } from '../../src/policy/conditional.js';
import type { Headers } from '../../src/policy/headers.js';

const LM = 'Mon, 15 Jan 2024 12:00:00 GMT';
const stored: Validators = { etag: '"v1"', lastModified: LM };

const cases: Array<{ name: string; validators?: Validators; req: Headers; want: 304 | null }> = [
  { name: 'no conditions', req: {}, want: null },
  { name: 'matching ETag', req: { 'if-none-match': '"v1"' }, want: 304 },
  { name: 'different ETag', req: { 'if-none-match': '"v2"' }, want: null },
  { name: 'weak client tag matches strong stored tag', req: { 'if-none-match': 'W/"v1"' }, want: 304 },
  { name: 'strong client tag matches weak stored tag', validators: { etag: 'W/"v1"' }, req: { 'if-none-match': '"v1"' }, want: 304 },
  { name: 'tag in a list', req: { 'if-none-match': '"a", W/"b" ,"v1"' }, want: 304 },
  { name: 'tag list without spaces', req: { 'if-none-match': '"a","v1"' }, want: 304 },
  { name: 'repeated If-None-Match lines', req: { 'if-none-match': ['"a"', '"v1"'] }, want: 304 },
  { name: 'comma inside a tag is part of it', validators: { etag: '"a,b"' }, req: { 'if-none-match': '"x", "a,b"' }, want: 304 },
  { name: 'comma-tag does not match its halves', validators: { etag: '"a"' }, req: { 'if-none-match': '"a,b"' }, want: null },
  { name: 'unquoted tag is not a tag', req: { 'if-none-match': 'v1' }, want: null },
  { name: 'tags are case-sensitive', req: { 'if-none-match': '"V1"' }, want: null },
  { name: '* matches any stored entry', req: { 'if-none-match': '*' }, want: 304 },
  { name: '* matches an entry without ETag', validators: { lastModified: LM }, req: { 'if-none-match': ' * ' }, want: 304 },
  { name: 'entry without ETag never matches a tag', validators: { lastModified: LM }, req: { 'if-none-match': '"v1"' }, want: null },
  {
    name: 'If-None-Match present: If-Modified-Since ignored even if it would match',
    req: { 'if-none-match': '"other"', 'if-modified-since': LM },
    want: null,
  },
  { name: 'empty If-None-Match is absent: IMS applies', req: { 'if-none-match': '', 'if-modified-since': LM }, want: 304 },
  { name: 'IMS equal to Last-Modified', req: { 'if-modified-since': LM }, want: 304 },
  { name: 'IMS after Last-Modified', req: { 'if-modified-since': 'Tue, 16 Jan 2024 00:00:00 GMT' }, want: 304 },
  { name: 'IMS one second before Last-Modified', req: { 'if-modified-since': 'Mon, 15 Jan 2024 11:59:59 GMT' }, want: null },
  { name: 'IMS in RFC 850 form', req: { 'if-modified-since': 'Monday, 15-Jan-24 12:00:00 GMT' }, want: 304 },
  { name: 'IMS in asctime form', req: { 'if-modified-since': 'Mon Jan 15 12:00:00 2024' }, want: 304 },
  { name: 'invalid IMS ignored', req: { 'if-modified-since': 'yesterday' }, want: null },
  { name: 'IMS "0" ignored', req: { 'if-modified-since': '0' }, want: null },
  { name: 'two IMS members ignored', req: { 'if-modified-since': [LM, LM] }, want: null },
  { name: 'entry without Last-Modified', validators: { etag: '"v1"' }, req: { 'if-modified-since': LM }, want: null },
  { name: 'invalid stored Last-Modified', validators: { lastModified: 'garbage' }, req: { 'if-modified-since': LM }, want: null },
  { name: 'impossible date (31 Feb) is invalid', req: { 'if-modified-since': 'Sat, 31 Feb 2024 12:00:00 GMT' }, want: null },
];
for (const c of cases) {
  test(`conditionalStatus: ${c.name}`, () => {
    assert.equal(conditionalStatus(c.validators ?? stored, c.req), c.want);
  });
}

const ranges: Array<{ range: string | undefined; length: number; want: RangeResult }> = [
  { range: undefined, length: 1000, want: null },
  { range: '', length: 1000, want: null },
  { range: 'bytes=0-499', length: 1000, want: { start: 0, end: 499 } },
  { range: 'bytes=500-999', length: 1000, want: { start: 500, end: 999 } },
  { range: 'bytes=500-', length: 1000, want: { start: 500, end: 999 } },
  { range: 'bytes=-500', length: 1000, want: { start: 500, end: 999 } },
  { range: 'bytes=-5000', length: 1000, want: { start: 0, end: 999 } },
  { range: 'bytes=0-0', length: 1000, want: { start: 0, end: 0 } },
  { range: 'bytes=999-999', length: 1000, want: { start: 999, end: 999 } },
  { range: 'bytes=900-5000', length: 1000, want: { start: 900, end: 999 } },
  { range: 'bytes=0-99999999999999999999', length: 1000, want: { start: 0, end: 999 } },
  { range: 'BYTES=1-2', length: 1000, want: { start: 1, end: 2 } },
  { range: 'bytes= 1-2 ', length: 1000, want: { start: 1, end: 2 } },
  { range: 'bytes=1-2,', length: 1000, want: { start: 1, end: 2 } },
  { range: 'bytes=1000-', length: 1000, want: 'unsatisfiable' },
  { range: 'bytes=1000-2000', length: 1000, want: 'unsatisfiable' },
  { range: 'bytes=99999999999999999999-', length: 1000, want: 'unsatisfiable' },
  { range: 'bytes=-0', length: 1000, want: 'unsatisfiable' },
  { range: 'bytes=0-', length: 0, want: 'unsatisfiable' },
  { range: 'bytes=-10', length: 0, want: null },
  { range: 'bytes=0-1,5-6', length: 1000, want: null },
  { range: 'bytes=5-1', length: 1000, want: null },
  { range: 'bytes=-', length: 1000, want: null },
  { range: 'bytes=a-b', length: 1000, want: null },
  { range: 'bytes=1.5-2', length: 1000, want: null },
  { range: 'bytes=--5', length: 1000, want: null },
  { range: 'items=0-5', length: 1000, want: null },
  { range: 'bytes 0-5', length: 1000, want: null },
];
for (const c of ranges) {
  test(`parseRange(${JSON.stringify(c.range)}, ${c.length})`, () => assert.deepEqual(parseRange(c.range, c.length), c.want));
}

// #14: If-Range (RFC 9110 13.1.5) and weak tags for answers whose coding memfront changed.
const ifRangeCases: Array<{ name: string; ifRange: string | string[] | undefined; current: Validators; want: boolean }> = [
  { name: 'no If-Range', ifRange: undefined, current: stored, want: true },
  { name: 'the same strong tag', ifRange: '"v1"', current: stored, want: true },
  { name: 'an older tag', ifRange: '"v0"', current: stored, want: false },
  { name: 'a weak tag never matches', ifRange: 'W/"v1"', current: stored, want: false },
  { name: 'a strong tag does not match a weak current tag', ifRange: '"v1"', current: { etag: 'W/"v1"' }, want: false },
  { name: 'a tag against an entry without one', ifRange: '"v1"', current: { lastModified: LM }, want: false },
  { name: 'a tag list is not an If-Range', ifRange: '"v0", "v1"', current: stored, want: false },
  { name: 'an unquoted tag', ifRange: 'v1', current: stored, want: false },
  { name: 'the exact Last-Modified date', ifRange: LM, current: stored, want: true },
  { name: 'the same date in another form', ifRange: 'Monday, 15-Jan-24 12:00:00 GMT', current: stored, want: true },
  { name: 'a date from 1990', ifRange: 'Mon, 15 Jan 1990 12:00:00 GMT', current: stored, want: false },
  { name: 'a later date is not a match either', ifRange: 'Tue, 16 Jan 2024 12:00:00 GMT', current: stored, want: false },
  { name: 'a date against an entry without Last-Modified', ifRange: LM, current: { etag: '"v1"' }, want: false },
  { name: 'garbage', ifRange: 'yesterday', current: stored, want: false },
  { name: 'two If-Range lines', ifRange: ['"v1"', '"v1"'], current: stored, want: false },
];

for (const c of ifRangeCases) {
  test(`#14 If-Range: ${c.name}`, () => {
    assert.equal(ifRangeHolds(c.ifRange, c.current), c.want);
  });
}

test('#14 weakened: a strong tag gets W/, a weak one stays as it is', () => {
  assert.equal(weakened('"v1"'), 'W/"v1"');
  assert.equal(weakened('W/"v1"'), 'W/"v1"');
});
