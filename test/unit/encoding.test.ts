// Table tests for gzip negotiation (Accept-Encoding q-values) and which types are worth gzipping.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { acceptsGzip, isCompressible, storedCoding } from '../../src/policy/encoding.js';

const accepts: Array<{ header: string | string[] | undefined; want: boolean }> = [
  { header: undefined, want: false },
  { header: '', want: false },
  { header: 'gzip', want: true },
  { header: 'gzip, deflate, br', want: true },
  { header: 'br, deflate', want: false },
  { header: 'GZIP', want: true },
  { header: ' Gzip ; Q=1.0 ', want: true },
  { header: 'x-gzip', want: true },
  { header: 'gzip;q=0', want: false },
  { header: 'gzip; q=0.000', want: false },
  { header: 'gzip;q=0.001', want: true },
  { header: 'gzip;q=0.5, identity;q=1', want: true },
  { header: 'gzip;q = 0', want: false },
  { header: 'gzip;q=nope', want: false },
  { header: '*', want: true },
  { header: '*;q=0', want: false },
  { header: 'br, *;q=0.1', want: true },
  { header: 'gzip;q=0, *', want: false },
  { header: '*, gzip;q=0', want: false },
  { header: 'identity', want: false },
  { header: 'identity;q=1, *;q=0', want: false },
  { header: ['br', 'gzip'], want: true },
  { header: ['gzip', 'gzip;q=0'], want: false },
  { header: 'gzip;level=9', want: true },
  { header: ',,gzip,,', want: true },
  { header: 'gzipx', want: false },
];
for (const c of accepts) {
  test(`acceptsGzip(${JSON.stringify(c.header)}) = ${c.want}`, () => assert.equal(acceptsGzip(c.header), c.want));
}

const types: Array<{ type: string | undefined; want: boolean }> = [
  { type: undefined, want: false },
  { type: '', want: false },
  { type: 'text/html', want: true },
  { type: 'text/html; charset=UTF-8', want: true },
  { type: 'TEXT/CSS', want: true },
  { type: 'text/plain;charset=utf-8', want: true },
  { type: 'text/event-stream', want: false },
  { type: 'application/json', want: true },
  { type: 'application/ld+json', want: true },
  { type: 'application/vnd.api+json; charset=utf-8', want: true },
  { type: 'application/javascript', want: true },
  { type: 'application/x-javascript', want: true },
  { type: 'application/xml', want: true },
  { type: 'application/rss+xml', want: true },
  { type: 'application/atom+xml', want: true },
  { type: 'image/svg+xml', want: true },
  { type: 'image/x-icon', want: true },
  { type: 'font/ttf', want: true },
  { type: 'application/wasm', want: true },
  { type: 'image/png', want: false },
  { type: 'image/jpeg', want: false },
  { type: 'image/webp', want: false },
  { type: 'video/mp4', want: false },
  { type: 'audio/mpeg', want: false },
  { type: 'application/zip', want: false },
  { type: 'application/gzip', want: false },
  { type: 'application/x-gzip', want: false },
  { type: 'application/zstd', want: false },
  { type: 'font/woff2', want: false },
  { type: 'application/octet-stream', want: false },
  { type: 'application/pdf', want: false },
  { type: 'garbage', want: false },
];
for (const c of types) {
  test(`isCompressible(${JSON.stringify(c.type)}) = ${c.want}`, () => assert.equal(isCompressible(c.type), c.want));
}

// #13: which Content-Encoding field lines leave a body storable, and in which coding.
const codings: Array<{ fields: string[]; want: 'identity' | 'gzip' | null }> = [
  { fields: [], want: 'identity' },
  { fields: ['identity'], want: 'identity' },
  { fields: [''], want: 'identity' },
  { fields: ['gzip'], want: 'gzip' },
  { fields: [' GZIP '], want: 'gzip' },
  { fields: ['x-gzip'], want: 'gzip' },
  { fields: ['identity, gzip'], want: 'gzip' },
  { fields: ['br'], want: null },
  { fields: ['deflate'], want: null },
  { fields: ['gzip, br'], want: null },
  { fields: ['gzip, gzip'], want: null },
  { fields: ['gzip', 'br'], want: null },
  { fields: ['gzip', 'gzip'], want: null },
  { fields: ['gzip', 'identity'], want: null },
];

for (const c of codings) {
  test(`#13 storedCoding(${JSON.stringify(c.fields)}) = ${c.want}`, () => {
    assert.equal(storedCoding(c.fields), c.want);
  });
}
