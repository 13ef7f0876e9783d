// Attack suite, stored garbage (issue 15, findings 8, 10 and 13): what is stored can be
// served, and an entry that cannot be served is a miss, never a 5xx and never a cut page.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { directStore, keyOf, visit } from '../helpers/security.js';
import { encodeEntry, decodeEntry } from '../../src/store/entry-codec.js';
import { chunkKey } from '../../src/store/chunked-entry.js';
import type { MemcachedStore } from '../../src/store/memcached-store.js';

const HOST = 'victim.test';
const MB = 1024 * 1024;
const PAGE = Buffer.from('<!doctype html><p>' + 'the real page, whole and correct. '.repeat(200));
/** 5 MB that no two chunks share, so a missing or shifted chunk shows. */
const FILE = Buffer.alloc(5 * MB);
for (let i = 0; i < FILE.length; i += 4) FILE.writeUInt32BE(i, i);

let mc: MemcachedProcess;
let backend: RecordingBackend;
/** A static server, answering broken gzip too. */
let statics: RecordingBackend;
let stack: Stack;
let store: MemcachedStore;

const cacheable = { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300' };

before(async () => {
  mc = await startMemcached({ memoryMB: 128 });
  const gz = zlib.gzipSync(PAGE);
  backend = await startRecordingBackend({
    '*': (req) => ({ status: 200, headers: cacheable, body: `fresh page for ${req.target}` }),
    // Plain bytes labelled gzip.
    '/gz-plain': () => ({ status: 200, headers: { ...cacheable, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' }, body: PAGE }),
    // A gzip stream cut short (its length header matches what is sent).
    '/gz-truncated': () => ({ status: 200, headers: { ...cacheable, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' }, body: gz.subarray(0, gz.length - 40) }),
    // Two Content-Encoding fields: gzip, then br.
    '/gz-br': () => ({
      status: 200,
      headers: [
        ['Content-Type', 'text/html'],
        ['Cache-Control', 'public, max-age=300'],
        ['Content-Encoding', 'gzip'],
        ['Content-Encoding', 'br'],
        ['Vary', 'Accept-Encoding'],
      ],
      body: zlib.brotliCompressSync(zlib.gzipSync(PAGE)),
    }),
    '/gz-good': () => ({ status: 200, headers: { ...cacheable, 'Content-Encoding': 'gzip', Vary: 'Accept-Encoding' }, body: gz }),
    '/big/evicted.bin': () => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=300' }, body: FILE }),
    '/big/evicted-last.bin': () => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=300' }, body: FILE }),
    '/big/evicted-range.bin': () => ({ status: 200, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=300' }, body: FILE }),
  });
  statics = await startRecordingBackend({
    '/static/plain-as-gzip.css': () => ({ status: 200, headers: { 'Content-Type': 'text/css', 'Cache-Control': 'public, max-age=300', 'Content-Encoding': 'gzip' }, body: PAGE }),
  });
  stack = await startStack({
    static: { servers: [statics.url] },
    routes: [{ match: '^/static/', to: 'static' }],
    backend: { url: backend.url, timeoutMs: 3000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, maxObjectSize: 16 * MB, staleWhileRevalidate: 0, staleIfError: 0 },
  });
  store = directStore(mc.address);
});

after(async () => {
  await stack?.close();
  await store?.close();
  await backend?.close();
  await statics?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
  backend.reset();
});

const count = (path: string) => backend.requests().filter((r) => r.target === path).length;

describe('#13 a backend\'s broken gzip is never stored', () => {
  for (const [what, path] of [
    ['plain bytes labelled gzip', '/gz-plain'],
    ['truncated gzip', '/gz-truncated'],
  ]) {
    it(`#13 broken gzip: ${what}, first fetched by a gzip client, is not stored; identity clients then get no 500`, async () => {
      const first = await visit(stack.url, path, { host: HOST, 'accept-encoding': 'gzip' });
      assert.equal(first.status, 200);
      await stack.mf.settled();
      assert.equal(await store.get(keyOf(stack, HOST, path)), null, 'nothing stored under the URL\'s key');
      for (const [method, headers] of [
        ['GET', {}],
        ['HEAD', {}],
        ['GET', { range: 'bytes=0-9' }],
      ] as Array<[string, Record<string, string>]>) {
        const next = await visit(stack.url, path, { host: HOST, ...headers }, method);
        assert.notEqual(next.status, 500, `${method} ${JSON.stringify(headers)} by an identity client`);
        assert.notEqual(next.headers['x-cache'], 'HIT', `${method}: not served from a stored entry`);
      }
    });
  }

  it('#13 broken gzip: from a static route, plain bytes labelled gzip are not stored; identity clients get no 500', async () => {
    const path = '/static/plain-as-gzip.css';
    const first = await visit(stack.url, path, { host: HOST, 'accept-encoding': 'gzip' });
    assert.equal(first.status, 200);
    await stack.mf.settled();
    assert.equal(await store.get(keyOf(stack, HOST, path)), null, 'nothing stored');
    const next = await visit(stack.url, path, { host: HOST });
    assert.notEqual(next.status, 500);
    assert.notEqual(next.headers['x-cache'], 'HIT');
  });

  it('#13 broken gzip: two Content-Encoding fields (gzip, br) are not stored', async () => {
    const first = await visit(stack.url, '/gz-br', { host: HOST, 'accept-encoding': 'gzip, br' });
    assert.equal(first.status, 200);
    await stack.mf.settled();
    assert.equal(await store.get(keyOf(stack, HOST, '/gz-br')), null, 'nothing stored');
    const gzipClient = await visit(stack.url, '/gz-br', { host: HOST, 'accept-encoding': 'gzip' });
    assert.notEqual(gzipClient.headers['x-cache'], 'HIT');
    if (gzipClient.headers['content-encoding'] === 'gzip') {
      assert.doesNotThrow(() => zlib.gunzipSync(gzipClient.body), 'what is labelled gzip alone is gzip');
    }
  });

  it('#13 regression: a good gzip answer is still stored and inflated for identity clients', async () => {
    await visit(stack.url, '/gz-good', { host: HOST, 'accept-encoding': 'gzip' });
    await stack.mf.settled();
    const plain = await visit(stack.url, '/gz-good', { host: HOST });
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['x-cache'], 'HIT');
    assert.ok(plain.body.equals(PAGE));
  });
});

describe('#8 a stored entry Node refuses to send is a miss', () => {
  async function plant(path: string, status: number, headers: Array<[string, string]>) {
    const now = Date.now();
    const entry = { status, headers, storedAt: now, staleAt: now + 300_000, gzip: false, body: Buffer.from('PLANTED BODY') };
    assert.equal(await store.set(keyOf(stack, HOST, path), encodeEntry(entry), 300), true);
  }

  it('#8 stored garbage: an entry with status 42 is served as a MISS from the backend, not 500', async () => {
    await plant('/planted-42', 42, [['Content-Type', 'text/plain']]);
    const r = await visit(stack.url, '/planted-42', { host: HOST });
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(r.body.toString(), 'fresh page for /planted-42');
    assert.equal(count('/planted-42'), 1);
  });

  it('#8 stored garbage: an entry with status 999 is a MISS too', async () => {
    await plant('/planted-999', 999, [['Content-Type', 'text/plain']]);
    const r = await visit(stack.url, '/planted-999', { host: HOST });
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.equal(r.headers['x-cache'], 'MISS');
  });

  it('#8 stored garbage: an entry whose header value holds CR/LF is served as a MISS, not 500, and injects nothing', async () => {
    await plant('/planted-crlf', 200, [['Content-Type', 'text/plain'], ['X-Evil', 'a\r\nSet-Cookie: pwned=1']]);
    const r = await visit(stack.url, '/planted-crlf', { host: HOST });
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(r.headers['set-cookie'], undefined);
    assert.equal(r.body.toString(), 'fresh page for /planted-crlf');
  });

  it('#8 stored garbage: an entry whose header name is not a token is a MISS, not 500', async () => {
    await plant('/planted-name', 200, [['Content-Type', 'text/plain'], ['Bad Name:', 'x']]);
    const r = await visit(stack.url, '/planted-name', { host: HOST });
    assert.equal(r.status, 200, `got ${r.status}`);
    assert.equal(r.headers['x-cache'], 'MISS');
  });

  it('#8 stored garbage: the unreadable entry is replaced: the next request is a HIT of the real page', async () => {
    await plant('/planted-heal', 42, [['Content-Type', 'text/plain']]);
    await visit(stack.url, '/planted-heal', { host: HOST });
    await stack.mf.settled();
    const r = await visit(stack.url, '/planted-heal', { host: HOST });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(r.body.toString(), 'fresh page for /planted-heal');
  });
});

describe('#10 evicted chunks', () => {
  async function storeThenEvict(path: string, chunk: (n: number) => number) {
    const miss = await visit(stack.url, path, { host: HOST });
    assert.ok(miss.complete && miss.body.equals(FILE));
    await stack.mf.settled();
    const index = decodeEntry(await store.get(keyOf(stack, HOST, path)));
    assert.ok(index?.chunks, 'stored as an index plus chunks');
    const n = index.chunks.crcs.length;
    assert.ok(n >= 4, `${n} chunks`);
    assert.equal(await store.delete(chunkKey(keyOf(stack, HOST, path), index.chunks.id, chunk(n))), true);
  }

  it('#10 evicted chunk: a 5 MB entry with a middle chunk deleted is a MISS served whole (full length), not a cut 200', async () => {
    await storeThenEvict('/big/evicted.bin', (n) => Math.floor(n / 2));
    const r = await visit(stack.url, '/big/evicted.bin', { host: HOST });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-cache'], 'MISS', 'known before the first byte');
    assert.ok(r.complete, 'not cut off');
    assert.equal(r.body.length, FILE.length);
    assert.ok(r.body.equals(FILE));
    assert.equal(count('/big/evicted.bin'), 2);
  });

  it('#10 evicted chunk: the last chunk deleted is a MISS served whole too', async () => {
    await storeThenEvict('/big/evicted-last.bin', (n) => n - 1);
    const r = await visit(stack.url, '/big/evicted-last.bin', { host: HOST });
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.ok(r.complete && r.body.equals(FILE));
  });

  it('#10 evicted chunk: a Range across a missing chunk gets the right bytes whole, never a cut 206', async () => {
    await storeThenEvict('/big/evicted-range.bin', (n) => n - 2);
    const from = FILE.length - 2 * MB - 100;
    const r = await visit(stack.url, '/big/evicted-range.bin', { host: HOST, range: `bytes=${from}-` });
    assert.ok(r.status === 206 || r.status === 200, `status ${r.status}`);
    assert.ok(r.complete, 'not cut off');
    assert.ok(r.body.equals(r.status === 206 ? FILE.subarray(from) : FILE), 'the right bytes');
  });
});
