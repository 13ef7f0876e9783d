// Table tests for strict HTTP-date parsing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseHttpDate } from '../../src/policy/http-date.js';

const T = Date.UTC(1994, 10, 6, 8, 49, 37);
const NOW = Date.UTC(2024, 0, 15);

const cases: Array<{ text: string | undefined; want: number | null; why: string }> = [
  { text: 'Sun, 06 Nov 1994 08:49:37 GMT', want: T, why: 'IMF-fixdate' },
  { text: '  Sun, 06 Nov 1994 08:49:37 GMT ', want: T, why: 'surrounding spaces' },
  { text: 'sun, 06 nov 1994 08:49:37 GMT', want: T, why: 'name case tolerated' },
  { text: 'Sunday, 06-Nov-94 08:49:37 GMT', want: T, why: 'RFC 850' },
  { text: 'Sun Nov  6 08:49:37 1994', want: T, why: 'asctime' },
  { text: 'Sun Nov 16 08:49:37 1994', want: Date.UTC(1994, 10, 16, 8, 49, 37), why: 'asctime two-digit day' },
  { text: 'Thursday, 01-Jan-50 00:00:00 GMT', want: Date.UTC(2050, 0, 1), why: 'RFC 850 year up to 50 years ahead' },
  { text: 'Thursday, 01-Jan-75 00:00:00 GMT', want: Date.UTC(1975, 0, 1), why: 'RFC 850 year more than 50 years ahead is past' },
  { text: 'Sun, 06 Nov 1994 08:49:37 +0000', want: null, why: 'numeric zone is not an HTTP-date' },
  { text: '0', want: null, why: 'zero' },
  { text: '-1', want: null, why: 'minus one' },
  { text: '', want: null, why: 'empty' },
  { text: undefined, want: null, why: 'absent' },
  { text: '1994-11-06T08:49:37Z', want: null, why: 'ISO 8601' },
  { text: 'Sun, 06 Foo 1994 08:49:37 GMT', want: null, why: 'unknown month' },
  { text: 'Sun, 06 Nov 1994 24:00:00 GMT', want: null, why: 'hour 24' },
  { text: 'Thu, 30 Feb 2023 00:00:00 GMT', want: null, why: '30 February' },
  { text: 'Thu, 29 Feb 2024 00:00:00 GMT', want: Date.UTC(2024, 1, 29), why: 'leap day' },
  { text: 'Sat, 31 Dec 2016 23:59:60 GMT', want: Date.UTC(2016, 11, 31, 23, 59, 59), why: 'leap second read as :59' },
];
for (const c of cases) {
  test(`parseHttpDate(${JSON.stringify(c.text)}): ${c.why}`, () => assert.equal(parseHttpDate(c.text, NOW), c.want));
}
