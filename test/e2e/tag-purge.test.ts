// Tag purge (Surrogate-Key, Cache-Tag) and purge-all (the WordPress "Proxy Cache Purge"
// plugin's regex PURGE) through generation counters in a real memcached: one PURGE seen at
// once by every memfront sharing it, here a second instance and a second process.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get as rawGet, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';
import { scratchDir, startCli, type CliRun } from '../ops/cli-process.js';
import { cacheKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { HashRing } from '../../src/store/ring.js';

const HOST = 'blog.test';

let mc: MemcachedProcess;
let backend: FakeBackend;
let a: Stack;
let b: Stack;
let denied: Stack;
let proc: CliRun;
let procUrl: string;
let broken = false;
const scratch = scratchDir();

// Each page says which version of itself it is (the backend's count of requests for it).
const TAGS: Record<string, Record<string, string>> = {
  '/post/1': { 'Surrogate-Key': 'post-1 home' },
  '/post/2': { 'Surrogate-Key': 'post-2 home' },
  '/': { 'Surrogate-Key': 'home' },
  '/about': { 'Surrogate-Key': 'page-about' },
  '/cat/news': { 'Cache-Tag': 'cat-news, home-feed' },
  '/cat/tips': { 'Cache-Tag': 'cat-tips,home-feed' },
  '/in-flight/tagged': { 'Surrogate-Key': 'flight' },
};
/** Paths whose answer waits until the test opens its gate (the backend is making the page). */
const gates = new Map<string, Promise<void>>();

const get = (base: string, path: string, headers: Record<string, string> = {}, method = 'GET') =>
  rawGet(base + path, { method, headers: { host: HOST, ...headers } });
const body = async (base: string, path: string) => (await get(base, path)).body.toString();
const purge = (base: string, path: string, headers: Record<string, string> = {}) => get(base, path, headers, 'PURGE');

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (broken) {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end('backend broken');
      return;
    }
    const text = `${req.headers.host} ${path} v${backend.count(req.url ?? '/')}`;
    const answer = () => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'max-age=300', 'Content-Length': Buffer.byteLength(text), ...(TAGS[path] ?? {}) });
      res.end(text);
    };
    const gate = gates.get(path);
    if (gate) void gate.then(answer);
    else answer();
  });
  const cfg = {
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, staleWhileRevalidate: 0, staleIfError: 600 },
  };
  a = await startStack(cfg);
  b = await startStack(cfg);
  denied = await startStack({ ...cfg, admin: { host: '127.0.0.1', port: 0, purgeAllow: ['192.0.2.0/24'] } });
  // A second memfront process, as operators run it, on the same memcached.
  proc = startCli(['--config', scratch.file('second.json', { ...cfg, listen: { host: '127.0.0.1', port: 0 }, admin: { host: '127.0.0.1', port: 0 }, cache: { ...cfg.cache, l1: { maxBytes: 0 } }, log: { level: 'info' } })]);
  const listening = await proc.line((l) => l.msg === 'memfront listening', 15_000, 'the second process listening');
  procUrl = `http://127.0.0.1:${listening.port}`;
});

after(async () => {
  proc?.kill();
  await proc?.exited;
  await a?.close();
  await b?.close();
  await denied?.close();
  await backend?.close();
  await mc?.stop();
  scratch.remove();
});

beforeEach(async () => {
  broken = false;
  await a.mf.settled();
  await b.mf.settled();
});

/** Fetches each path through `a` and waits until memcached has them. */
async function warm(paths: string[]): Promise<void> {
  for (const p of paths) await get(a.url, p);
  await a.mf.settled();
}

describe('tag purge', () => {
  it('one PURGE with Surrogate-Key invalidates the three pages sharing the tag, for a second instance and a second process', async () => {
    const tagged = ['/post/1', '/post/2', '/'];
    await warm([...tagged, '/about']);
    for (const base of [b.url, procUrl]) {
      for (const p of [...tagged, '/about']) assert.equal((await get(base, p)).headers['x-cache'], 'HIT', `${base}${p} before`);
    }
    const before = backend.total();

    const res = await purge(a.url, '/anything', { 'Surrogate-Key': 'home' });
    assert.equal(res.status, 200);

    // At once, elsewhere: the second process first (it has no L1; neither has b).
    for (const p of tagged) {
      const again = await get(procUrl, p);
      assert.equal(again.headers['x-cache'], 'MISS', `second process ${p}`);
      assert.match(again.body.toString(), / v2$/);
    }
    // Instance b never serves the purged version: it finds the second process's new entry,
    // or (if that write has not landed yet) fetches its own.
    for (const p of tagged) assert.doesNotMatch(await body(b.url, p), / v1$/, `instance b ${p}`);
    assert.equal((await get(b.url, '/about')).headers['x-cache'], 'HIT', 'an untagged page stays');
    assert.equal((await get(procUrl, '/about')).headers['x-cache'], 'HIT');
    assert.ok(backend.total() - before >= 3, 'each invalidated page fetched again');
  });

  it('Cache-Tag tags entries too, and PURGE with Cache-Tag invalidates them', async () => {
    await warm(['/cat/news', '/cat/tips']);
    assert.equal((await purge(a.url, '/', { 'Cache-Tag': 'cat-tips' })).status, 200);
    assert.equal((await get(b.url, '/cat/tips')).headers['x-cache'], 'MISS');
    assert.equal((await get(b.url, '/cat/news')).headers['x-cache'], 'HIT');
    assert.equal((await purge(b.url, '/', { 'Cache-Tag': 'home-feed, unknown' })).status, 200);
    assert.equal((await get(a.url, '/cat/news')).headers['x-cache'], 'MISS');
  });

  it('never sends Surrogate-Key or Cache-Tag to a client', async () => {
    for (const p of ['/post/1', '/cat/news']) {
      for (const res of [await get(a.url, p), await get(b.url, p)]) {
        assert.equal(res.headers['surrogate-key'], undefined);
        assert.equal(res.headers['cache-tag'], undefined);
      }
    }
  });

  it('an invalidated entry is a miss, never served stale', async () => {
    await warm(['/post/1']);
    await purge(a.url, '/', { 'Surrogate-Key': 'post-1' });
    broken = true;
    // staleIfError is 600 s: an expired entry would be served now. A purged one is not.
    const res = await get(b.url, '/post/1');
    assert.equal(res.status, 500);
    assert.equal(res.body.toString(), 'backend broken');
  });

  it('is per Host: the same tag on another Host is untouched', async () => {
    await warm(['/post/2']);
    await get(a.url, '/post/2', { host: 'other.test' });
    await a.mf.settled();
    await purge(a.url, '/', { 'Surrogate-Key': 'post-2' });
    assert.equal((await get(b.url, '/post/2')).headers['x-cache'], 'MISS');
    assert.equal((await get(b.url, '/post/2', { host: 'other.test' })).headers['x-cache'], 'HIT');
  });

  it('answers 200 whether or not an entry had the tag, and 403 to a source not in purgeAllow', async () => {
    assert.equal((await purge(a.url, '/', { 'Surrogate-Key': 'nobody-has-this' })).status, 200);
    await warm(['/about']);
    assert.equal((await purge(denied.url, '/', { 'Surrogate-Key': 'page-about' })).status, 403);
    assert.equal((await get(b.url, '/about')).headers['x-cache'], 'HIT');
  });
});

describe('a purge sent while the backend makes the page', () => {
  /** GETs `path` through `a`, and sends `purgeIt` once the backend has the request and before it answers. */
  async function purgedInFlight(path: string, purgeIt: () => Promise<{ status: number }>): Promise<string> {
    let open!: () => void;
    gates.set(path, new Promise<void>((resolve) => (open = resolve)));
    const before = backend.count(path);
    const pending = get(a.url, path);
    await until(() => backend.count(path) === before + 1, 3000, 'the backend making the page');
    assert.equal((await purgeIt()).status, 200);
    gates.delete(path);
    open();
    const made = (await pending).body.toString();
    await a.mf.settled();
    return made;
  }

  it('purge-all: the page asked for before it is not served afterwards', async () => {
    const made = await purgedInFlight('/in-flight/all', () => purge(a.url, '/.*', { 'X-Purge-Method': 'regex' }));
    assert.match(made, / v1$/);
    const next = await get(a.url, '/in-flight/all');
    assert.equal(next.headers['x-cache'], 'MISS', 'the entry records the Host\'s generation from before the purge');
    assert.match(next.body.toString(), / v2$/);
  });

  it('a tag the page had when last stored: the page asked for before its purge is not served afterwards', async () => {
    await warm(['/in-flight/tagged']);
    // Gone by path (its tags are still known to this process), so the next GET fetches it.
    assert.equal((await purge(a.url, '/in-flight/tagged')).status, 200);
    const made = await purgedInFlight('/in-flight/tagged', () => purge(a.url, '/anything', { 'Surrogate-Key': 'flight' }));
    assert.match(made, / v2$/);
    const next = await get(a.url, '/in-flight/tagged');
    assert.equal(next.headers['x-cache'], 'MISS', 'the entry records the tag\'s generation from before the purge');
    assert.match(next.body.toString(), / v3$/);
  });
});

describe('purge-all and the WordPress plugin\'s methods', () => {
  const pages = ['/post/1', '/about', '/cat/news', '/?p=7'];

  it('PURGE /.* with X-Purge-Method: regex invalidates every entry of the Host, in every memfront', async () => {
    await warm(pages);
    await get(a.url, '/about', { host: 'other.test' });
    await a.mf.settled();
    const res = await purge(a.url, '/.*', { 'X-Purge-Method': 'regex' });
    assert.equal(res.status, 200);
    for (const p of pages) assert.equal((await get(procUrl, p)).headers['x-cache'], 'MISS', p);
    assert.equal((await get(b.url, '/about', { host: 'other.test' })).headers['x-cache'], 'HIT', 'another Host stays');
  });

  it('a subdirectory site\'s /blog/.* and ban-regex are honoured (the whole Host)', async () => {
    const methods: Array<Record<string, string>> = [{ 'X-Purge-Method': 'regex' }, { 'X-Purge-Method': 'ban-regex', 'X-Ban-Regex': '/blog/.*' }];
    for (const headers of methods) {
      await warm(['/blog/post-1', '/about']);
      const res = await purge(a.url, '/blog/.*', headers);
      assert.equal(res.status, 200, JSON.stringify(headers));
      assert.equal((await get(b.url, '/blog/post-1')).headers['x-cache'], 'MISS', 'what it matches');
      assert.equal((await get(b.url, '/about')).headers['x-cache'], 'MISS', 'and the rest of the Host');
    }
  });

  it('X-Purge-Method: default and exact are the path PURGE', async () => {
    await warm(['/about', '/post/1']);
    assert.equal((await purge(a.url, '/about', { 'X-Purge-Method': 'default' })).status, 200);
    assert.equal((await purge(a.url, '/about', { 'X-Purge-Method': 'exact' })).status, 404);
    assert.equal((await get(b.url, '/about')).headers['x-cache'], 'MISS');
    assert.equal((await get(b.url, '/post/1')).headers['x-cache'], 'HIT');
  });

  it('what memfront cannot honour gets 400 and invalidates nothing', async () => {
    await warm(['/about']);
    const refused: Array<Record<string, string>> = [{ 'X-Purge-Method': 'ban-regex', 'X-Ban-Regex': '\\.css$' }, { 'X-Purge-Method': 'soft' }, { 'Surrogate-Key': ' ' }];
    for (const headers of refused) {
      const res = await purge(a.url, '/', headers);
      assert.equal(res.status, 400, JSON.stringify(headers));
    }
    assert.equal((await get(b.url, '/about')).headers['x-cache'], 'HIT');
  });
});

describe('several memcached servers', () => {
  const servers: MemcachedProcess[] = [];
  let c: Stack;
  let d: Stack;
  before(async () => {
    for (let i = 0; i < 3; i++) servers.push(await startMemcached());
    // A generous timeout: a busy machine's slow answer would be a miss too, and this test
    // asserts exactly which requests are hits.
    const cfg = { backend: { url: backend.url, timeoutMs: 2000 }, cache: { memcached: { servers: servers.map((s) => s.address), timeoutMs: 1000 }, staleWhileRevalidate: 0 } };
    c = await startStack(cfg);
    d = await startStack(cfg);
  });
  after(async () => {
    await c?.close();
    await d?.close();
    for (const s of servers) await s.stop();
  });

  it('one tag purge reaches entries on every server, and losing a server loses only its own entries', async () => {
    // Many pages sharing a tag, spread over the three servers by their keys.
    const paths = Array.from({ length: 30 }, (_, i) => `/post/1?page=${i}`);
    for (const p of paths) await get(c.url, p);
    await c.mf.settled();
    for (const p of paths) assert.equal((await get(d.url, p)).headers['x-cache'], 'HIT', p);

    assert.equal((await purge(c.url, '/', { 'Surrogate-Key': 'post-1' })).status, 200);
    for (const p of paths) assert.equal((await get(d.url, p)).headers['x-cache'], 'MISS', `${p} after the purge`);
    await d.mf.settled();

    // The Host's and the tag's counters have a copy on each server: with one server gone,
    // the entries on the other two are still hits.
    await servers[0].stop();
    const ring = new HashRing(servers.map((s) => s.address));
    const keyOf = (p: string) => cacheKey({ method: 'GET', scheme: 'http', host: HOST, url: p }, { keyPrefix: 'mf1:', ignoreQueryParam: compileGlobs(d.config.cache.ignoreQueryParams) });
    const survivors = paths.filter((p) => ring.get(keyOf(p)) !== servers[0].address);
    assert.ok(survivors.length > 5 && survivors.length < 30);
    const results = await Promise.all(paths.map(async (p) => ({ p, r: await get(d.url, p) })));
    assert.ok(results.every(({ r }) => r.status === 200));
    const hits = results.filter(({ r }) => r.headers['x-cache'] === 'HIT').map(({ p }) => p);
    assert.deepEqual(hits.sort(), survivors.sort(), 'exactly the entries of the live servers are hits');
  });
});
