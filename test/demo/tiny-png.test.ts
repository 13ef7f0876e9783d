// The generated PNG is well formed: signature, chunk CRCs, IHDR and an IDAT that inflates to
// exactly the image's scanlines.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inflateSync } from 'node:zlib';
import { crc32, makePng } from '../../demo/tiny-png.js';

test('crc32 matches the standard check value', () => {
  assert.equal(crc32(Buffer.from('123456789')), 0xcbf43926);
});

test('makePng builds IHDR, IDAT and IEND chunks with valid CRCs and full scanlines', () => {
  const png = makePng(96, 64);
  let at = 8;
  const chunks: Array<{ type: string; data: Buffer }> = [];
  while (at < png.length) {
    const len = png.readUInt32BE(at);
    const type = png.subarray(at + 4, at + 8).toString('latin1');
    const data = png.subarray(at + 8, at + 8 + len);
    assert.equal(png.readUInt32BE(at + 8 + len), crc32(png.subarray(at + 4, at + 8 + len)), `${type} CRC`);
    chunks.push({ type, data });
    at += 12 + len;
  }
  assert.equal(at, png.length);
  assert.deepEqual(chunks.map((c) => c.type), ['IHDR', 'IDAT', 'IEND']);
  const ihdr = chunks[0].data;
  assert.deepEqual([ihdr.readUInt32BE(0), ihdr.readUInt32BE(4), ihdr[8], ihdr[9]], [96, 64, 8, 2]);
  assert.equal(inflateSync(chunks[1].data).length, 64 * (1 + 96 * 3));
  assert.deepEqual(makePng(96, 64), png, 'deterministic');
});
