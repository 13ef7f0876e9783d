// buildEntry gzips an identity body over the threshold at the configured level (cache.gzipLevel).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { buildEntry, isUnstorable } from '../../src/engine/entry-build.js';
import type { UpstreamResponse } from '../../src/upstream/upstream.js';

function page(): Buffer {
  const words = ['cache', 'page', 'the', 'of', 'visitor', 'article', 'market', 'river', 'editor', 'history'];
  let s = '<!DOCTYPE html><html><body>';
  for (let i = 0; s.length < 60_000; i++) s += `<p class="p${i % 7}">${words[(i * 7) % 10]} ${words[(i * 3) % 10]} ${i}</p>\n`;
  return Buffer.from(s + '</body></html>');
}

function upstream(): UpstreamResponse {
  return { status: 200, rawHeaders: ['Content-Type', 'text/html', 'Cache-Control', 'max-age=60'], body: Readable.from([]), complete: () => true, abort: () => {} };
}

test('an identity body is stored gzipped at cache.gzipLevel, and says how long it inflates to', async () => {
  const body = page();
  const sizes: number[] = [];
  for (const level of [1, 9]) {
    const built = await buildEntry(upstream(), body, 60, 0, 1024, 1 << 20, level);
    assert.ok(!isUnstorable(built));
    assert.equal(built.gzip, true);
    assert.equal(built.gzippedHere, true);
    assert.equal(built.identityLength, body.length);
    assert.deepEqual(built.body, zlib.gzipSync(body, { level }), `level ${level}`);
    assert.deepEqual(zlib.gunzipSync(built.body), body);
    sizes.push(built.body.length);
  }
  assert.ok(sizes[0] > sizes[1], `level 1 (${sizes[0]} bytes) is larger than level 9 (${sizes[1]})`);
});
