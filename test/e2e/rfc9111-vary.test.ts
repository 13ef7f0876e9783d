// Vary end to end, on a real memcached: a page that varies on request headers other than
// Accept-Encoding is stored per variant (cache.maxVariants of them), each request answered
// only by its own; Vary: * / Cookie / Authorization are not stored; PURGE removes them all.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';

let mc: MemcachedProcess;
let backend: FakeBackend;
let stack: Stack;
before(async () => {
  mc = await startMemcached();
  backend = await startBackend();
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, maxVariants: 3 },
  });
});
after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

/** A page in the request's language. */
function byLanguage(vary = 'Accept-Language') {
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    const body = `page in ${req.headers['accept-language'] ?? 'default'}`;
    res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=600', Vary: vary });
    res.end(body);
  };
}

const lang = (path: string, l?: string) => get(stack.url + path, { headers: l === undefined ? {} : { 'Accept-Language': l } });

async function warm(path: string, l?: string): Promise<void> {
  await lang(path, l);
  await stack.mf.settled();
}

describe('Vary', () => {
  it('each language is its own variant: stored, and answered only to its own', async () => {
    backend.route('/v', byLanguage());
    const en = await lang('/v', 'en');
    assert.equal(en.headers['x-cache'], 'MISS');
    assert.equal(en.headers['cache-status'], 'memfront; fwd=miss; stored');
    await stack.mf.settled();
    const fr = await lang('/v', 'fr');
    assert.equal(fr.headers['x-cache'], 'MISS');
    assert.equal(fr.body.toString(), 'page in fr');
    await stack.mf.settled();
    const enHit = await lang('/v', 'en');
    assert.equal(enHit.headers['x-cache'], 'HIT');
    assert.equal(enHit.body.toString(), 'page in en');
    const frHit = await lang('/v', 'fr');
    assert.equal(frHit.headers['x-cache'], 'HIT');
    assert.equal(frHit.body.toString(), 'page in fr');
    assert.equal(frHit.headers['vary'], 'Accept-Language');
    // Absent is not empty, and neither is another language.
    const none = await lang('/v');
    assert.equal(none.headers['x-cache'], 'MISS');
    assert.equal(none.body.toString(), 'page in default');
    assert.equal(backend.count('/v'), 3);
  });

  it('values match after whitespace around commas is normalised', async () => {
    backend.route('/ws', byLanguage());
    await warm('/ws', 'en, fr;q=0.5');
    const r = await lang('/ws', 'en ,fr;q=0.5');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal(backend.count('/ws'), 1);
  });

  it('past cache.maxVariants a variant is not stored: detail=too-many-variants', async () => {
    backend.route('/many', byLanguage());
    for (const l of ['a', 'b', 'c']) await warm('/many', l);
    const d = await lang('/many', 'd');
    assert.equal(d.headers['cache-status'], 'memfront; fwd=uri-miss; detail=too-many-variants');
    assert.equal(d.body.toString(), 'page in d');
    await stack.mf.settled();
    assert.equal((await lang('/many', 'd')).headers['x-cache'], 'MISS');
    // The stored ones are still served.
    assert.equal((await lang('/many', 'b')).headers['x-cache'], 'HIT');
  });

  for (const vary of ['*', 'Cookie', 'Authorization', 'Accept-Language, *']) {
    it(`Vary: ${vary} is not stored`, async () => {
      const path = '/nostore-' + vary.replace(/[^a-z]/gi, '');
      backend.route(path, byLanguage(vary));
      const first = await lang(path, 'en');
      assert.equal(first.headers['cache-status'], 'memfront; fwd=uri-miss; detail=vary');
      await stack.mf.settled();
      assert.equal((await lang(path, 'en')).headers['x-cache'], 'MISS');
    });
  }

  it('PURGE of the URL removes every variant', async () => {
    let version = 1;
    backend.route('/purged', (req, res) => {
      const body = `v${version} ${req.headers['accept-language']}`;
      res.writeHead(200, { 'Content-Length': body.length, 'Cache-Control': 'max-age=600', Vary: 'Accept-Language' });
      res.end(body);
    });
    await warm('/purged', 'en');
    await warm('/purged', 'fr');
    assert.equal((await lang('/purged', 'fr')).headers['x-cache'], 'HIT');
    const purge = await get(stack.url + '/purged', { method: 'PURGE' });
    assert.equal(purge.status, 200);
    version = 2;
    // en is fetched and stored again first: fr must not come back from before the purge.
    const en = await lang('/purged', 'en');
    assert.equal(en.headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const fr = await lang('/purged', 'fr');
    assert.equal(fr.headers['x-cache'], 'MISS');
    assert.equal(fr.body.toString(), 'v2 fr');
  });

  it('a tag purge reaches every variant (they record the generations like any entry)', async () => {
    backend.route('/tagged', (req, res) => {
      const body = `tagged ${req.headers['accept-language']}`;
      res.writeHead(200, { 'Content-Length': body.length, 'Cache-Control': 'max-age=600', Vary: 'Accept-Language', 'Surrogate-Key': 'news' });
      res.end(body);
    });
    await warm('/tagged', 'en');
    await warm('/tagged', 'fr');
    assert.equal((await lang('/tagged', 'fr')).headers['x-cache'], 'HIT');
    const purge = await get(stack.url + '/anything', { method: 'PURGE', headers: { 'Surrogate-Key': 'news' } });
    assert.equal(purge.status, 200);
    assert.equal((await lang('/tagged', 'en')).headers['x-cache'], 'MISS');
    assert.equal((await lang('/tagged', 'fr')).headers['x-cache'], 'MISS');
  });

  it('a page that starts to vary: its plain entry is replaced by the index, refreshed in the background too', async () => {
    let varies = false;
    backend.route('/switch', (req, res) => {
      const body = `${varies ? 'varying' : 'plain'} ${req.headers['accept-language']}`;
      res.writeHead(200, { 'Content-Length': body.length, 'Cache-Control': 'max-age=1', ...(varies ? { Vary: 'Accept-Language' } : {}) });
      res.end(body);
    });
    await warm('/switch', 'en');
    assert.equal((await lang('/switch', 'fr')).body.toString(), 'plain en');
    await new Promise((r) => setTimeout(r, 1100));
    varies = true;
    // Stale (the configured window): the plain page, while the refresh stores fr's variant.
    const stale = await lang('/switch', 'fr');
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body.toString(), 'plain en');
    await until(async () => (await lang('/switch', 'fr')).headers['x-cache'] === 'HIT', 3000, 'the fr variant');
    assert.equal((await lang('/switch', 'fr')).body.toString(), 'varying fr');
    const en = await lang('/switch', 'en');
    assert.equal(en.headers['x-cache'], 'MISS');
    assert.equal(en.body.toString(), 'varying en');
  });

  it('a coalesced crowd of two languages: each gets its own page', async () => {
    backend.route('/crowd', (req, res) => {
      const body = `page in ${req.headers['accept-language']}`;
      setTimeout(() => {
        res.writeHead(200, { 'Content-Length': body.length, 'Cache-Control': 'max-age=600', Vary: 'Accept-Language' });
        res.end(body);
      }, 100);
    });
    const rs = await Promise.all(Array.from({ length: 10 }, (_, i) => lang('/crowd', i % 2 ? 'fr' : 'en').then((r) => ({ i, r }))));
    for (const { i, r } of rs) assert.equal(r.body.toString(), `page in ${i % 2 ? 'fr' : 'en'}`);
  });
});

describe('Vary with the L1 tier on', () => {
  it('variants are held and answered like any entry, each only to its own', async () => {
    const s = await startStack({
      backend: { url: backend.url, timeoutMs: 2000 },
      cache: { memcached: { servers: [mc.address], timeoutMs: 1000, keyPrefix: 'l1v:' }, l1: { maxBytes: 1 << 20, ttlMs: 5000 } },
    });
    try {
      backend.route('/l1v', byLanguage());
      for (const l of ['en', 'fr']) {
        await get(s.url + '/l1v', { headers: { 'Accept-Language': l } });
        await s.mf.settled();
      }
      for (let i = 0; i < 6; i++) {
        const l = i % 2 ? 'fr' : 'en';
        const r = await get(s.url + '/l1v', { headers: { 'Accept-Language': l } });
        assert.equal(r.headers['x-cache'], 'HIT');
        assert.equal(r.body.toString(), `page in ${l}`);
      }
      assert.equal(backend.count('/l1v'), 2);
    } finally {
      await s.close();
    }
  });
});
