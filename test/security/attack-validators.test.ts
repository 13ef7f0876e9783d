// Attack suite, representations and validators (issue 15, finding 14): a resumed download must
// never splice two versions or two codings. If-Range is honoured, and when memfront changes a
// body's coding the answer's ETag is weak, so a strong ETag always names one byte sequence.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { visit } from '../helpers/security.js';

const HOST = 'victim.test';
const TEXT = Buffer.from('<!doctype html><p>version two of the document. '.repeat(300));
const LM = 'Wed, 21 Oct 2026 07:28:00 GMT';

let mc: MemcachedProcess;
let backend: RecordingBackend;
let stack: Stack;

before(async () => {
  mc = await startMemcached();
  const v2 = () => ({ status: 200, headers: { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300', ETag: '"v2"', 'Last-Modified': LM }, body: TEXT });
  backend = await startRecordingBackend({
    '*': v2,
    '/gz': () => ({
      status: 200,
      headers: { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300', ETag: '"g1"', 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' },
      body: zlib.gzipSync(TEXT),
    }),
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
  // Stored (identity from the backend, over compressThreshold: stored gzipped).
  await visit(stack.url, '/doc', { host: HOST });
  await stack.mf.settled();
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
});

async function ranged(ifRange: string, path = '/doc') {
  return visit(stack.url, path, { host: HOST, range: 'bytes=0-9', 'if-range': ifRange });
}

describe('#14 If-Range is honoured', () => {
  it('#14 If-Range: Range with If-Range "v1" against an entry at "v2" gets 200 with the whole body', async () => {
    const r = await ranged('"v1"');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(r.status, 200, `got ${r.status} ${r.headers['content-range'] ?? ''}`);
    assert.ok(r.body.equals(TEXT), 'the whole current version');
  });

  it('#14 If-Range: an If-Range date from 1990 gets 200 with the whole body', async () => {
    const r = await ranged('Mon, 01 Jan 1990 00:00:00 GMT');
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.ok(r.body.equals(TEXT));
  });

  it('#14 If-Range: a weak validator never matches (strong comparison): 200 whole', async () => {
    const r = await ranged('W/"v2"');
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.ok(r.body.equals(TEXT));
  });

  it('#14 If-Range: the matching ETag gets 206', async () => {
    const r = await ranged('"v2"');
    assert.equal(r.status, 206);
    assert.equal(r.headers['content-range'], `bytes 0-9/${TEXT.length}`);
    assert.ok(r.body.equals(TEXT.subarray(0, 10)));
  });

  it('#14 If-Range: the exact Last-Modified gets 206', async () => {
    const r = await ranged(LM);
    assert.equal(r.status, 206);
    assert.ok(r.body.equals(TEXT.subarray(0, 10)));
  });

  it('#14 If-Range: on a cacheable miss too, a stale If-Range gets 200 whole', async () => {
    const r = await ranged('"v1"', '/doc-miss');
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.ok(r.body.equals(TEXT));
  });
});

describe('#14 a changed coding has a weak ETag', () => {
  it('#14 weak ETag: when memfront gzips an identity body, the gzip answer\'s ETag is weak; the identity one stays strong', async () => {
    const gz = await visit(stack.url, '/doc', { host: HOST, 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.match(String(gz.headers.etag), /^W\//, `gzip answer ETag: ${gz.headers.etag}`);
    const plain = await visit(stack.url, '/doc', { host: HOST });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers.etag, '"v2"');
    assert.notEqual(gz.headers.etag, plain.headers.etag, 'two representations, two ETags');
  });

  it('#14 weak ETag: a gzip client resuming with If-Range on the gzip representation gets 200 whole, never identity bytes at a gzip offset', async () => {
    const gz = await visit(stack.url, '/doc', { host: HOST, 'accept-encoding': 'gzip' });
    const resumed = await visit(stack.url, '/doc', { host: HOST, 'accept-encoding': 'gzip', range: 'bytes=100-', 'if-range': String(gz.headers.etag) });
    assert.equal(resumed.status, 200, `got ${resumed.status} ${resumed.headers['content-range'] ?? ''}`);
  });

  it('#14 weak ETag: when memfront inflates a gzip body for an identity client, that answer\'s ETag is weak', async () => {
    await visit(stack.url, '/gz', { host: HOST, 'accept-encoding': 'gzip' });
    await stack.mf.settled();
    const gz = await visit(stack.url, '/gz', { host: HOST, 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['x-cache'], 'HIT');
    assert.equal(gz.headers.etag, '"g1"', 'the bytes the backend sent keep its ETag');
    const plain = await visit(stack.url, '/gz', { host: HOST });
    assert.ok(plain.body.equals(TEXT));
    assert.match(String(plain.headers.etag), /^W\//, `identity answer ETag: ${plain.headers.etag}`);
  });

  it('#14 regression: If-None-Match with the weak ETag still gets 304 (weak comparison)', async () => {
    const r = await visit(stack.url, '/doc', { host: HOST, 'accept-encoding': 'gzip', 'if-none-match': 'W/"v2"' });
    assert.equal(r.status, 304);
  });
});

describe('already handled: multi-range (regression)', () => {
  it('#14 regression: a multi-range request on a hit is answered 200 whole (ignored), never a spliced body', async () => {
    const r = await visit(stack.url, '/doc', { host: HOST, range: 'bytes=0-1,5-6' });
    assert.equal(r.status, 200);
    assert.ok(r.body.equals(TEXT));
  });
});
