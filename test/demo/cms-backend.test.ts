// The demo CMS: deterministic pages of spread sizes, WordPress-like caching headers, cookies,
// sessions, a binary image, a slow page, a feed, cacheable 404s and a request counter.

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { httpProbe } from '../../bench/lib/http-probe.js';
import { postTargetBytes } from '../../demo/cms-pages.js';
import { SLOW_MS } from '../../demo/cms-routes.js';
import { startCmsBackend, type CmsBackend } from '../../demo/cms-backend.js';

let cms: CmsBackend;
before(async () => {
  cms = await startCmsBackend({ pages: 500 });
});
after(() => cms.close());

test('the same URL always gives the same bytes, even from another instance', async () => {
  const other = await startCmsBackend({ pages: 500 });
  try {
    for (const path of ['/', '/post/1', '/post/123', '/feed', '/nope']) {
      const a = await httpProbe(cms.url + path);
      const b = await httpProbe(other.url + path);
      assert.ok(a.body.length > 0, path);
      assert.deepEqual(a.body, b.body, path);
      assert.equal(a.headers['content-length'], String(a.body.length), path);
    }
  } finally {
    await other.close();
  }
});

test('post sizes spread from about 2 KB to about 200 KB', async () => {
  const targets = Array.from({ length: 500 }, (_, i) => postTargetBytes(i + 1));
  assert.ok(Math.min(...targets) >= 2048);
  assert.ok(Math.max(...targets) <= 200 * 1024);
  assert.ok(targets.filter((t) => t < 8 * 1024).length > 50, 'many small posts');
  assert.ok(targets.filter((t) => t > 100 * 1024).length > 25, 'some long reads');
  for (const n of [1, 2, 3, 250]) {
    const res = await httpProbe(`${cms.url}/post/${n}`);
    const want = postTargetBytes(n);
    assert.ok(res.body.length >= want && res.body.length < want + 1024, `post ${n}: ${res.body.length} vs target ${want}`);
    assert.match(res.body.toString('utf8'), /^<!DOCTYPE html>[\s\S]*<\/html>\n$/);
  }
});

test('pages say public max-age=60, except every fifth post, which sends no caching headers', async () => {
  const home = await httpProbe(cms.url + '/');
  assert.equal(home.headers['cache-control'], 'public, max-age=60');
  const post = await httpProbe(cms.url + '/post/7');
  assert.equal(post.headers['cache-control'], 'public, max-age=60');
  assert.ok(post.headers.etag);
  assert.ok(post.headers['last-modified']);
  const stock = await httpProbe(cms.url + '/post/5');
  assert.equal(stock.status, 200);
  assert.equal(stock.headers['cache-control'], undefined);
  assert.equal(stock.headers.expires, undefined);
  assert.equal(stock.headers.etag, undefined);
});

test('/cookie sets a non-session cookie on an otherwise cacheable page', async () => {
  const res = await httpProbe(cms.url + '/cookie');
  assert.deepEqual(res.headers['set-cookie'], ['visited=1; Path=/; Max-Age=31536000']);
  assert.equal(res.headers['cache-control'], 'public, max-age=60');
});

test('/login sets a fresh HttpOnly PHPSESSID each time and /account greets it privately', async () => {
  const sid = async () => {
    const res = await httpProbe(cms.url + '/login');
    const cookie = (res.headers['set-cookie'] ?? [])[0] ?? '';
    assert.match(cookie, /^PHPSESSID=[0-9a-f]{26}; path=\/; HttpOnly$/);
    assert.match(String(res.headers['cache-control']), /no-store/);
    return cookie.split(';')[0].split('=')[1];
  };
  const one = await sid();
  assert.notEqual(one, await sid());
  const account = await httpProbe(cms.url + '/account', { headers: { Cookie: `theme=dark; PHPSESSID=${one}` } });
  assert.equal(account.headers['cache-control'], 'private');
  assert.ok(account.body.toString().includes(`Welcome back, user ${one}!`));
  const anonymous = await httpProbe(cms.url + '/account');
  assert.ok(anonymous.body.toString().includes('You are not logged in'));
});

test('/image.png is a valid PNG whose bytes span 0 to 255', async () => {
  const res = await httpProbe(cms.url + '/image.png');
  assert.equal(res.headers['content-type'], 'image/png');
  assert.deepEqual(res.body.subarray(0, 8), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]));
  assert.equal(new Set(res.body).size, 256);
});

test('/feed is RSS XML', async () => {
  const res = await httpProbe(cms.url + '/feed');
  assert.equal(res.headers['content-type'], 'application/rss+xml; charset=UTF-8');
  const xml = res.body.toString();
  assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<rss version="2.0">/);
  assert.equal(xml.match(/<item>/g)?.length, 10);
});

test('unknown paths, and posts past the last, get a cacheable 404 page', async () => {
  for (const path of ['/nope', '/post/501', '/post/0']) {
    const res = await httpProbe(cms.url + path);
    assert.equal(res.status, 404, path);
    assert.equal(res.headers['cache-control'], 'public, max-age=60', path);
    assert.match(res.body.toString(), /can’t be found/);
  }
});

test('HEAD gets the headers of GET with no body', async () => {
  const get = await httpProbe(cms.url + '/post/3');
  const head = await httpProbe(cms.url + '/post/3', { method: 'HEAD' });
  assert.equal(head.body.length, 0);
  assert.equal(head.headers['content-length'], get.headers['content-length']);
  assert.equal(head.headers.etag, get.headers.etag);
});

test('hits() counts every request', async () => {
  const before = cms.hits();
  await httpProbe(cms.url + '/post/9');
  await httpProbe(cms.url + '/nope');
  await httpProbe(cms.url + '/image.png', { method: 'HEAD' });
  assert.equal(cms.hits() - before, 3);
});

test('renderMs delays every page and /slow takes two seconds', async () => {
  const slowCms = await startCmsBackend({ renderMs: 150 });
  try {
    let t0 = performance.now();
    await httpProbe(slowCms.url + '/post/2');
    assert.ok(performance.now() - t0 >= 145, 'renderMs applied');
    t0 = performance.now();
    const slow = await httpProbe(cms.url + '/slow');
    assert.equal(slow.status, 200);
    assert.ok(performance.now() - t0 >= SLOW_MS - 5, '/slow waits');
  } finally {
    await slowCms.close();
  }
});

test('close() does not wait for a pending slow render', async () => {
  const other = await startCmsBackend();
  const pending = httpProbe(other.url + '/slow').catch((err: Error) => err);
  while (other.hits() === 0) await new Promise((r) => setImmediate(r));
  const t0 = performance.now();
  await other.close();
  assert.ok(performance.now() - t0 < 1000);
  assert.ok((await pending) instanceof Error);
});
