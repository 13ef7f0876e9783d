// Table tests for tolerant Cache-Control parsing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { deltaSeconds, parseCacheControl } from '../../src/policy/cache-control.js';

const cases: Array<{ name: string; value: string | string[] | undefined; want: Array<[string, string | true]> }> = [
  { name: 'absent', value: undefined, want: [] },
  { name: 'empty', value: '', want: [] },
  { name: 'simple', value: 'public, max-age=60', want: [['public', true], ['max-age', '60']] },
  { name: 'odd case', value: 'PRIVATE, Max-Age=60', want: [['private', true], ['max-age', '60']] },
  { name: 'spaces around =', value: 'Max-Age = 60', want: [['max-age', '60']] },
  { name: 'no spaces after commas', value: 'no-cache,no-store,must-revalidate', want: [['no-cache', true], ['no-store', true], ['must-revalidate', true]] },
  { name: 'quoted value', value: 'max-age="60"', want: [['max-age', '60']] },
  { name: 'quoted value with commas', value: 'private="set-cookie, x-a", max-age=5', want: [['private', 'set-cookie, x-a'], ['max-age', '5']] },
  { name: 'escaped quote inside quotes', value: 'ext="a\\"b,c", s-maxage=1', want: [['ext', 'a"b,c'], ['s-maxage', '1']] },
  { name: 'repeated header lines are merged', value: ['public', 'max-age=60'], want: [['public', true], ['max-age', '60']] },
  { name: 'first occurrence wins', value: 'max-age=60, max-age=0', want: [['max-age', '60']] },
  { name: 'first occurrence wins across lines', value: ['max-age=10', 'MAX-AGE=20'], want: [['max-age', '10']] },
  { name: 'garbage pieces skipped', value: ',, ;=; , =5, "x", max age=3, public', want: [['public', true]] },
  { name: 'empty value kept as empty string', value: 'max-age=', want: [['max-age', '']] },
  { name: 'unterminated quote does not throw', value: 'max-age="60, public', want: [['max-age', '"60, public']] },
  { name: 'tabs as whitespace', value: '\tpublic\t,\tmax-age=1', want: [['public', true], ['max-age', '1']] },
];

for (const c of cases) {
  test(`parseCacheControl: ${c.name}`, () => {
    assert.deepEqual([...parseCacheControl(c.value)], c.want);
  });
}

const deltas: Array<{ arg: string | true | undefined; want: number | null }> = [
  { arg: '60', want: 60 },
  { arg: '0', want: 0 },
  { arg: '007', want: 7 },
  { arg: '99999999999999', want: 2147483648 },
  { arg: '-1', want: null },
  { arg: '1.5', want: null },
  { arg: '', want: null },
  { arg: 'abc', want: null },
  { arg: true, want: null },
  { arg: undefined, want: null },
];
for (const c of deltas) {
  test(`deltaSeconds(${JSON.stringify(c.arg)}) = ${c.want}`, () => assert.equal(deltaSeconds(c.arg), c.want));
}
