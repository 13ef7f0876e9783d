// #10 Evicted chunks (SECURITY.md, "stored garbage"): memcached evicts the items of an entry
// stored in chunks one by one, under memory pressure, as part of its normal life. A request
// whose entry lost a chunk must be a miss served whole from the route, known before the first
// byte is sent, never a 200 cut off part way. Against a real memcached; chunks are deleted by
// hand, as an eviction would.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { listenOn } from '../helpers/listen.js';
import { startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { keyOf as keyOfUrl, visit, type Visit } from '../helpers/security.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { MetaCasClient } from '../../src/store/meta-cas.js';
import { MemoryStore } from '../../src/store/memory-store.js';
import { decodeEntry } from '../../src/store/entry-codec.js';
import { chunkKey, chunkSizeFor } from '../../src/store/chunked-entry.js';

const HOST = 'files.test';
const MB = 1024 * 1024;
const FILE = randomBytes(5 * MB);
const CHUNK = chunkSizeFor(MB);
const CHUNKS = Math.ceil(FILE.length / CHUNK);

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;
let store: MemcachedStore;

function get(path: string, headers: Record<string, string> = {}): Promise<Visit> {
  return visit(stack.url, path, { host: HOST, ...headers });
}

function keyOf(path: string): string {
  return keyOfUrl(stack, HOST, path);
}

/** Stores `path` (a 5 MB file, in CHUNKS chunks), then deletes chunk `i` as memcached's LRU would. */
async function storedThenEvicted(path: string, i: number): Promise<string> {
  const miss = await get(path);
  assert.equal(miss.headers['x-cache'], 'MISS');
  await stack.mf.settled();
  const index = decodeEntry(await store.get(keyOf(path)))?.chunks;
  assert.ok(index && index.crcs.length === CHUNKS, `stored in ${CHUNKS} chunks`);
  assert.equal(await store.delete(chunkKey(keyOf(path), index.id, i)), true);
  return index.id;
}

before(async () => {
  mc = await startMemcached({ memoryMB: 128 });
  backend = await startBackend({}, (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': FILE.length, 'Cache-Control': 'max-age=300', ETag: '"f1"' });
    res.end(FILE);
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 5000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, maxObjectSize: 16 * MB, staleWhileRevalidate: 0, staleIfError: 0 },
  });
  store = new MemcachedStore({ servers: [mc.address], timeoutMs: 1000, maxItemSize: 64 * MB });
});

after(async () => {
  await stack?.close();
  await store?.close();
  await backend?.close();
  await mc?.stop();
});

describe('#10 evicted chunks', () => {
  it('#10 a GET whose entry lost a middle chunk is a miss served whole from the route, then stored again', async () => {
    const old = await storedThenEvicted('/middle.bin', 3);
    const again = await get('/middle.bin');
    assert.equal(again.status, 200);
    assert.equal(again.headers['x-cache'], 'MISS', 'known before the answer began: not a HIT cut off at chunk 3');
    assert.ok(again.complete, 'the answer is whole');
    assert.ok(again.body.equals(FILE), 'every byte of the file');
    assert.equal(backend.count('/middle.bin'), 2);
    await stack.mf.settled();
    // Stored again, under chunk keys of its own; the next visitor gets it whole from the cache.
    const renewed = decodeEntry(await store.get(keyOf('/middle.bin')))?.chunks;
    assert.ok(renewed && renewed.id !== old);
    const next = await get('/middle.bin');
    assert.equal(next.headers['x-cache'], 'HIT');
    assert.ok(next.complete && next.body.equals(FILE));
    assert.equal(backend.count('/middle.bin'), 2);
  });

  it('#10 the last chunk gone: a miss, not a 200 that stops short of its Content-Length', async () => {
    await storedThenEvicted('/last.bin', CHUNKS - 1);
    const again = await get('/last.bin');
    assert.equal(again.headers['x-cache'], 'MISS');
    assert.ok(again.complete && again.body.equals(FILE));
    assert.equal(backend.count('/last.bin'), 2);
  });

  it('#10 a Range over a lost chunk is a miss too, answered with the right bytes', async () => {
    await storedThenEvicted('/range.bin', 2);
    const start = 2 * CHUNK - 100;
    const end = 3 * CHUNK + 99;
    const part = await get('/range.bin', { range: `bytes=${start}-${end}` });
    assert.equal(part.status, 206);
    assert.equal(part.headers['x-cache'], 'MISS');
    assert.ok(part.complete);
    assert.ok(part.body.equals(FILE.subarray(start, end + 1)));
    assert.equal(backend.count('/range.bin'), 2);
  });
});

describe('#10 the presence check: memcached meta protocol', () => {
  it('#10 mg without flags tells which keys are there, pipelined, over the meta connection', async () => {
    const client = new MetaCasClient('127.0.0.1', mc.port, 1000);
    try {
      const keys = Array.from({ length: 20 }, (_, i) => `presence:${i}`);
      for (const k of keys.filter((_, i) => i % 3 === 0)) assert.equal(await store.set(k, Buffer.from('x'), 60), true);
      assert.deepEqual(await client.present(keys), keys.map((_, i) => i % 3 === 0));
      assert.deepEqual(await store.present(keys), keys.map((_, i) => i % 3 === 0), 'the store, over its ring');
    } finally {
      client.close();
    }
  });

  it('#10 the memory store answers it too (it evicts items one by one as well)', async () => {
    const mem = new MemoryStore({ maxBytes: 1 << 20 });
    await mem.set('a', Buffer.from('x'), 60);
    await mem.set('c', Buffer.from('x'), 60);
    assert.deepEqual(await mem.present(['a', 'b', 'c']), [true, false, true]);
  });

  it('#10 a server without meta commands cannot tell: undefined, and reads decide as before', async () => {
    // Memcached before 1.6 (or a proxy without meta commands) answers ERROR.
    const old = net.createServer((socket) => {
      socket.on('data', (d) => socket.write(d.toString('latin1').split('\r\n').filter(Boolean).map(() => 'ERROR\r\n').join('')));
    });
    const port = await listenOn(old);
    const client = new MetaCasClient('127.0.0.1', port, 1000);
    try {
      assert.equal(await client.present(['a', 'b', 'c']), undefined);
      assert.equal(await client.present(['a']), undefined, 'and says so at once from then on');
    } finally {
      client.close();
      old.close();
    }
  });
});
