// Objects over memcached's item size (stored in chunks) and over cache.maxObjectSize
// (streamed through, not stored, older entry deleted), against a real memcached.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import zlib from 'node:zlib';
import v8 from 'node:v8';
import vm from 'node:vm';
import { memcachedCommand, startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { keyOf as keyOfUrl, visit, type Visit } from '../helpers/security.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { decodeEntry, type Entry } from '../../src/store/entry-codec.js';
import { chunkKey, chunkSizeFor } from '../../src/store/chunked-entry.js';

const HOST = 'files.test';
const MB = 1024 * 1024;
const FILE = randomBytes(5 * MB);
// Text that gzip halves (random hex): stored gzipped, still over the item size.
const TEXT = Buffer.from(randomBytes(2 * MB).toString('hex'));
const CHUNK = chunkSizeFor(MB);

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;
let store: MemcachedStore;
let growing: 'small' | 'huge' | 'broken' = 'small';
let streamedNoLength = false;

function file(body: Buffer, type: string, extra: Record<string, string> = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': body.length, 'Cache-Control': 'max-age=300', ETag: '"f1"', ...extra });
    res.end(body);
  };
}

/** `total` bytes written 1 MB at a time from one reused buffer, with backpressure: the backend holds 1 MB. */
function streamed(total: number, withLength: boolean) {
  const piece = Buffer.alloc(MB, 'x');
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    const headers: Record<string, string | number> = { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'max-age=300' };
    if (withLength) headers['Content-Length'] = total;
    res.writeHead(200, headers);
    let left = total;
    const pump = () => {
      while (left > 0) {
        const n = Math.min(left, piece.length);
        left -= n;
        if (!res.write(n === piece.length ? piece : piece.subarray(0, n))) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  };
}

before(async () => {
  mc = await startMemcached({ memoryMB: 256 });
  backend = await startBackend({
    '/file.bin': file(FILE, 'application/octet-stream'),
    '/repair.bin': file(FILE, 'application/octet-stream'),
    '/cut.bin': file(FILE, 'application/octet-stream'),
    '/damaged.bin': file(FILE, 'application/octet-stream'),
    '/text.html': file(TEXT, 'text/html'),
    '/huge.bin': streamed(50 * MB, true),
    '/huge-unannounced.bin': streamed(50 * MB, false),
    '/warmup.bin': streamed(8 * MB, true),
    '/growing.bin': (req, res) => {
      if (growing === 'small') return file(Buffer.from('small version'), 'application/octet-stream', { 'Cache-Control': 'max-age=1' })(req, res);
      if (growing === 'huge') return streamedNoLength ? streamed(20 * MB, false)(req, res) : streamed(20 * MB, true)(req, res);
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('backend broken');
    },
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 5000 },
    cache: {
      memcached: { servers: [mc.address], timeoutMs: 1000 },
      maxObjectSize: 16 * MB,
      staleWhileRevalidate: 0,
      staleIfError: 600,
    },
  });
  store = new MemcachedStore({ servers: [mc.address], timeoutMs: 1000, maxItemSize: 64 * MB });
});

after(async () => {
  await stack?.close();
  await store?.close();
  await backend?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
});

function get(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Visit> {
  return visit(stack.url, path, { host: HOST, ...headers }, method);
}

function keyOf(path: string): string {
  return keyOfUrl(stack, HOST, path);
}

async function storedIndex(path: string): Promise<Entry | null> {
  return decodeEntry(await store.get(keyOf(path)));
}

/** memcached's own count of keys asked for (every get of every client). */
async function cmdGets(): Promise<number> {
  const stats = await memcachedCommand(mc.port, 'stats\r\n', 'END\r\n');
  return Number(/STAT cmd_get (\d+)/.exec(stats)![1]);
}

describe('entries over the item size: chunks', () => {
  it('stores a 5 MB binary file as an index plus chunks and serves it byte-identical', async () => {
    const miss = await get('/file.bin');
    assert.equal(miss.headers['x-cache'], 'MISS');
    assert.ok(miss.body.equals(FILE));
    await stack.mf.settled();

    const index = await storedIndex('/file.bin');
    assert.ok(index?.chunks, 'an index item');
    assert.equal(index.body.length, 0);
    assert.equal(index.chunks.length, FILE.length);
    assert.equal(index.chunks.crcs.length, Math.ceil(FILE.length / CHUNK));
    for (let i = 0; i < index.chunks.crcs.length; i++) {
      const chunk = await store.get(chunkKey(keyOf('/file.bin'), index.chunks.id, i));
      assert.ok(chunk && chunk.equals(FILE.subarray(i * CHUNK, (i + 1) * CHUNK)), `chunk ${i}`);
    }

    const hit = await get('/file.bin');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(Number(hit.headers['content-length']), FILE.length);
    assert.equal(hit.headers['content-type'], 'application/octet-stream');
    assert.ok(hit.complete && hit.body.equals(FILE), 'byte-identical');
    assert.equal(backend.count('/file.bin'), 1);
  });

  it('answers Range from only the chunks holding the bytes', async () => {
    await get('/file.bin');
    await stack.mf.settled();
    // Per request: the index, its Host's generation counter, then the chunks (no others).
    for (const [range, start, end, chunks] of [
      ['bytes=2500000-2600000', 2500000, 2600000, 1],
      [`bytes=${CHUNK - 10}-${CHUNK + 9}`, CHUNK - 10, CHUNK + 9, 2],
      ['bytes=-100', FILE.length - 100, FILE.length - 1, 1],
      ['bytes=0-0', 0, 0, 1],
    ] as const) {
      const before = await cmdGets();
      const part = await get('/file.bin', { range });
      const gets = (await cmdGets()) - before;
      assert.equal(part.status, 206, range);
      assert.equal(part.headers['x-cache'], 'HIT');
      assert.equal(part.headers['content-range'], `bytes ${start}-${end}/${FILE.length}`);
      assert.ok(part.body.equals(FILE.subarray(start, end + 1)), `${range}: the right bytes`);
      // Beyond the first, the span's chunks are also checked present before the answer
      // begins (`mg` without a value, which memcached counts as a get too).
      assert.equal(gets, 2 + chunks + (chunks - 1), `${range}: index + counter + ${chunks} chunk(s), ${chunks - 1} checked`);
    }
    const unsatisfiable = await get('/file.bin', { range: `bytes=${FILE.length}-` });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(backend.count('/file.bin'), 1);
  });

  it('answers HEAD and If-None-Match without reading a chunk', async () => {
    await get('/file.bin');
    await stack.mf.settled();
    const before = await cmdGets();
    const head = await get('/file.bin', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(Number(head.headers['content-length']), FILE.length);
    assert.equal(head.body.length, 0);
    const notModified = await get('/file.bin', { 'if-none-match': '"f1"' });
    assert.equal(notModified.status, 304);
    assert.equal((await cmdGets()) - before, 4, 'index and counter, twice');
  });

  it('a chunk deleted by hand makes the next request a miss that stores the file again', async () => {
    await get('/repair.bin');
    await stack.mf.settled();
    const old = (await storedIndex('/repair.bin'))!.chunks!;
    assert.equal(await store.delete(chunkKey(keyOf('/repair.bin'), old.id, 0)), true);

    const repaired = await get('/repair.bin');
    assert.equal(repaired.headers['x-cache'], 'MISS');
    assert.ok(repaired.complete && repaired.body.equals(FILE));
    assert.equal(backend.count('/repair.bin'), 2);
    await stack.mf.settled();

    const renewed = (await storedIndex('/repair.bin'))!.chunks!;
    assert.notEqual(renewed.id, old.id, 'written again, under chunk keys of its own');
    const hit = await get('/repair.bin');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.ok(hit.body.equals(FILE));
    assert.equal(backend.count('/repair.bin'), 2);
  });

  it('a chunk whose bytes fail their check is a miss, never a wrong page', async () => {
    await get('/damaged.bin');
    await stack.mf.settled();
    const index = (await storedIndex('/damaged.bin'))!.chunks!;
    const k = chunkKey(keyOf('/damaged.bin'), index.id, 0);
    const damaged = Buffer.from((await store.get(k))!);
    damaged[1000] ^= 0xff;
    assert.equal(await store.set(k, damaged, 300), true);
    const again = await get('/damaged.bin');
    assert.equal(again.headers['x-cache'], 'MISS');
    assert.ok(again.body.equals(FILE));
    assert.equal(backend.count('/damaged.bin'), 2);
  });

  it('a chunk found bad once the answer has begun cuts the connection; the next request repairs', async () => {
    await get('/cut.bin');
    await stack.mf.settled();
    const index = (await storedIndex('/cut.bin'))!.chunks!;
    // Damaged rather than deleted: a deleted one is found missing before the answer begins
    // (test/security/evicted-chunks.test.ts); a damaged one only when it is read.
    const k = chunkKey(keyOf('/cut.bin'), index.id, 3);
    const damaged = Buffer.from((await store.get(k))!);
    damaged[1000] ^= 0xff;
    assert.equal(await store.set(k, damaged, 300), true);
    const cut = await get('/cut.bin');
    assert.equal(cut.status, 200);
    assert.equal(cut.headers['x-cache'], 'HIT');
    assert.equal(cut.complete, false, 'not presented as complete');
    assert.ok(cut.body.length < FILE.length);
    assert.ok(cut.body.equals(FILE.subarray(0, cut.body.length)), 'what did arrive is the file');
    const next = await get('/cut.bin');
    assert.equal(next.headers['x-cache'], 'MISS');
    assert.ok(next.complete && next.body.equals(FILE));
  });

  it('serves a gzip-stored entry in chunks to gzip and identity clients, and Range from it', async () => {
    const miss = await get('/text.html');
    assert.ok(miss.body.equals(TEXT));
    await stack.mf.settled();
    const index = await storedIndex('/text.html');
    assert.ok(index?.gzip && index.chunks && index.chunks.crcs.length > 1, 'gzip, still in chunks');
    const gz = await get('/text.html', { 'accept-encoding': 'gzip' });
    assert.equal(gz.headers['x-cache'], 'HIT');
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.ok(zlib.gunzipSync(gz.body).equals(TEXT));
    const plain = await get('/text.html');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(Number(plain.headers['content-length']), TEXT.length);
    assert.ok(plain.body.equals(TEXT));
    const part = await get('/text.html', { range: 'bytes=3000000-3000099' });
    assert.equal(part.status, 206);
    assert.ok(part.body.equals(TEXT.subarray(3000000, 3000100)));
    assert.equal(backend.count('/text.html'), 1);
  });
});

describe('bodies over cache.maxObjectSize', () => {
  // A young-generation GC on every RSS sample. The chunks a stream has passed on are garbage
  // that V8 frees only when it collects, and a 64 KB chunk costs the heap so little that a
  // 50 MB stream may not trigger one: RSS then grew 0-35 MB from one run to the next (Node 24)
  // whether or not anything held the body. Collecting first makes the growth what is held.
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as (o?: { type: 'minor' | 'major'; execution: 'sync' }) => void;

  /** Streams `path` through, hashing it; resolves with the peak RSS growth seen while it ran. */
  async function throughput(path: string): Promise<{ bytes: number; sha: string; growth: number; xCache: unknown }> {
    gc({ type: 'major', execution: 'sync' });
    const base = process.memoryUsage.rss();
    let peak = base;
    const sample = () => {
      gc({ type: 'minor', execution: 'sync' });
      peak = Math.max(peak, process.memoryUsage.rss());
    };
    const timer = setInterval(sample, 5);
    try {
      return await new Promise((resolve, reject) => {
        const req = http.get(stack.url + path, { headers: { host: HOST }, agent: false }, (res) => {
          const hash = createHash('sha256');
          let bytes = 0;
          res.on('data', (c: Buffer) => {
            bytes += c.length;
            hash.update(c);
          });
          res.on('end', () => {
            // The stream may outrun the timer: the end is sampled too.
            sample();
            resolve({ bytes, sha: hash.digest('hex'), growth: peak - base, xCache: res.headers['x-cache'] });
          });
          res.on('error', reject);
        });
        req.on('error', reject);
      });
    } finally {
      clearInterval(timer);
    }
  }
  const sha50 = createHash('sha256').update(Buffer.alloc(50 * MB, 'x')).digest('hex');

  it('streams a 50 MB file through with RSS growth under 30 MB, and stores nothing', async (t) => {
    await throughput('/warmup.bin');
    for (const path of ['/huge.bin', '/huge-unannounced.bin']) {
      const r = await throughput(path);
      assert.equal(r.bytes, 50 * MB, path);
      assert.equal(r.sha, sha50, `${path}: every byte, in order`);
      assert.equal(r.xCache, 'MISS');
      t.diagnostic(`${path}: RSS grew ${(r.growth / MB).toFixed(1)} MB while 50 MB went through`);
      assert.ok(r.growth < 30 * MB, `${path}: RSS grew ${(r.growth / MB).toFixed(1)} MB`);
      await stack.mf.settled();
      assert.equal(await store.get(keyOf(path)), null, `${path}: nothing stored`);
      assert.equal((await throughput(path)).xCache, 'MISS');
      assert.equal(backend.count(path), 2);
    }
  });

  for (const announced of [true, false]) {
    it(`an older entry is not served after the object grew past the limit (${announced ? 'by Content-Length' : 'found while streaming'})`, async () => {
      growing = 'small';
      streamedNoLength = !announced;
      const path = `/growing.bin?announced=${announced}`;
      assert.equal((await get(path)).body.toString(), 'small version');
      await stack.mf.settled();
      assert.equal((await get(path)).headers['x-cache'], 'HIT');
      await sleep(1100); // past max-age=1: the next request goes to the backend

      growing = 'huge';
      const grown = await get(path);
      assert.equal(grown.headers['x-cache'], 'MISS');
      assert.equal(grown.body.length, 20 * MB);
      await stack.mf.settled();
      assert.equal(await store.get(keyOf(path)), null, 'the older entry is deleted');

      // Were it still there, staleIfError (600 s) would serve it now.
      growing = 'broken';
      const broken = await get(path);
      assert.equal(broken.status, 500);
      assert.notEqual(broken.headers['x-cache'], 'STALE');
      assert.equal(broken.body.toString(), 'backend broken');
    });
  }
});
