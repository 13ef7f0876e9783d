// Table tests for Vary (RFC 9111 4.1): which names, normalised values, variant ids and keys,
// and the index's bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  baseOfKey,
  decodeIndex,
  encodeIndex,
  indexTtlSeconds,
  newIndex,
  normalisedValue,
  placeVariant,
  variantId,
  variantKey,
  varyOf,
  type VaryVerdict,
} from '../../src/policy/vary.js';

const verdicts: Array<{ vary: string | string[] | undefined; want: VaryVerdict }> = [
  { vary: undefined, want: { kind: 'none' } },
  { vary: 'Accept-Encoding', want: { kind: 'none' } },
  { vary: 'accept-encoding, ACCEPT-LANGUAGE', want: { kind: 'names', names: ['accept-language'] } },
  { vary: ['X-Device', 'Accept-Language', 'x-device'], want: { kind: 'names', names: ['accept-language', 'x-device'] } },
  { vary: '*', want: { kind: 'refused', reason: 'vary' } },
  { vary: 'Accept-Language, *', want: { kind: 'refused', reason: 'vary' } },
  { vary: 'Cookie', want: { kind: 'refused', reason: 'vary' } },
  { vary: 'authorization', want: { kind: 'refused', reason: 'vary' } },
];
for (const c of verdicts) test(`varyOf(${JSON.stringify(c.vary)})`, () => assert.deepEqual(varyOf({ vary: c.vary }), c.want));

test('normalisedValue: whitespace around commas removed, runs collapsed; absent is null, empty is ""', () => {
  assert.equal(normalisedValue({ 'accept-language': ' en ,  fr;q=0.5 ' }, 'accept-language'), 'en,fr;q=0.5');
  assert.equal(normalisedValue({ 'x-a': ['a', 'b'] }, 'x-a'), 'a,b');
  assert.equal(normalisedValue({ 'x-a': 'one   two' }, 'x-a'), 'one two');
  assert.equal(normalisedValue({}, 'x-a'), null);
  assert.equal(normalisedValue({ 'x-a': '' }, 'x-a'), '');
  // Case is kept: a value may be case-sensitive.
  assert.equal(normalisedValue({ 'x-a': 'Mobile' }, 'x-a'), 'Mobile');
});

test('variantId: equal after normalising → equal; absent ≠ empty; other names → other ids', () => {
  const names = ['accept-language'];
  assert.equal(variantId(names, { 'accept-language': 'en, fr' }), variantId(names, { 'accept-language': 'en,fr' }));
  assert.notEqual(variantId(names, { 'accept-language': 'en' }), variantId(names, { 'accept-language': 'fr' }));
  assert.notEqual(variantId(names, {}), variantId(names, { 'accept-language': '' }));
  assert.notEqual(variantId(['a', 'b'], { a: 'x,y' }), variantId(['a', 'b'], { a: 'x', b: 'y' }));
  assert.match(variantId(names, {}), /^[A-Za-z0-9_-]{22}$/);
});

test('variantKey: the URL key, the index id and the variant; baseOfKey undoes it', () => {
  const index = { id: 'abcDEF12', names: ['accept-language'], variants: {} };
  const key = variantKey('mf1:p1:xyz', index, { 'accept-language': 'en' });
  assert.ok(key.startsWith('mf1:p1:xyz:v:abcDEF12:'));
  assert.ok(key.length < 250);
  assert.equal(baseOfKey(key), 'mf1:p1:xyz');
  assert.equal(baseOfKey('mf1:p1:xyz'), 'mf1:p1:xyz');
  // A new index (after a purge) keys the same request elsewhere.
  assert.notEqual(variantKey('mf1:p1:xyz', { ...index, id: 'other' }, { 'accept-language': 'en' }), key);
});

test('placeVariant: bounded by maxVariants, counting only live variants; known ones renewed', () => {
  const now = 1_000_000;
  let index = newIndex(['accept-language']);
  for (const id of ['a', 'b']) {
    const p = placeVariant(index, id, now + 60_000, 2, now);
    assert.equal(p.kind, 'placed');
    if (p.kind === 'placed') index = p.index;
  }
  assert.deepEqual(placeVariant(index, 'c', now + 60_000, 2, now), { kind: 'refused', reason: 'too-many-variants' });
  const again = placeVariant(index, 'a', now + 60_000, 2, now);
  assert.equal(again.kind === 'placed' && again.changed, false);
  // Once 'b' has expired, 'c' fits.
  const later = placeVariant(index, 'c', now + 200_000, 2, now + 61_000);
  assert.equal(later.kind, 'placed');
  if (later.kind === 'placed') assert.deepEqual(Object.keys(later.index.variants).sort(), ['c']);
  assert.equal(indexTtlSeconds({ ...index, variants: { a: now + 90_500 } }, now), 91);
});

test('index codec: round trip; foreign or damaged values are not indexes', () => {
  const index = { id: 'abc', names: ['accept-language', 'x-device'], variants: { q: 5 } };
  assert.deepEqual(decodeIndex(encodeIndex(index)), index);
  assert.equal(decodeIndex(Buffer.from('MFE\x02garbage')), null);
  assert.equal(decodeIndex(Buffer.from('MFV\x01{not json')), null);
  assert.equal(decodeIndex(Buffer.from('MFV\x01{"id":"abc","names":[],"variants":{}}')), null);
  assert.equal(decodeIndex(Buffer.from('MFV\x01{"id":"abc","names":["Bad Name"],"variants":{}}')), null);
  assert.equal(decodeIndex(null), null);
});
