// The bench's CMS backend process: it counts what it renders, changes a page on update, and
// starts over on reset; /__bench/* requests are not counted.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cmsAnswer } from '../../demo/cms-routes.js';
import { httpProbe } from '../../bench/lib/http-probe.js';
import { revised } from '../../bench/lib/page-revision.js';
import { startBenchBackend } from '../../bench/lib/start-bench-backend.js';

test('a revised page: a marker in HTML, a new ETag, binary bodies untouched', () => {
  const page = cmsAnswer('/post/7', undefined, 20);
  assert.equal(revised(page, 0), page);
  const r2 = revised(page, 2);
  assert.ok(r2.body.toString().endsWith('<!-- revision 2 -->\n'));
  assert.equal(r2.body.length, page.body.length + '<!-- revision 2 -->\n'.length);
  assert.equal(r2.headers.ETag, page.headers.ETag.replace(/"$/, '-r2"'));
  const png = cmsAnswer('/image.png', undefined, 20);
  assert.equal(revised(png, 3).body, png.body);
});

test('counts, updates and resets', async () => {
  const backend = await startBenchBackend({ pages: 20, renderMs: 0 });
  try {
    const a = await httpProbe(`${backend.url}/post/3`);
    assert.equal(a.status, 200);
    await httpProbe(`${backend.url}/image.png`);
    let stats = await backend.stats();
    assert.equal(stats.requests, 2);
    assert.equal(stats.bytes, a.body.length + cmsAnswer('/image.png', undefined, 20).body.length);

    const u = await httpProbe(`${backend.url}/__bench/update?path=${encodeURIComponent('/post/3')}`, { method: 'POST' });
    assert.deepEqual(JSON.parse(u.body.toString()), { path: '/post/3', revision: 1 });
    const b = await httpProbe(`${backend.url}/post/3`);
    assert.ok(b.body.toString().endsWith('<!-- revision 1 -->\n'));
    assert.notEqual(b.headers.etag, a.headers.etag);

    await backend.reset();
    stats = await backend.stats();
    assert.deepEqual(stats, { requests: 0, bytes: 0 });
    const c = await httpProbe(`${backend.url}/post/3`);
    assert.deepEqual(c.body, a.body);
  } finally {
    await backend.close();
  }
});

test('the render time is paid per request', async () => {
  const backend = await startBenchBackend({ pages: 5, renderMs: 60 });
  try {
    const t0 = Date.now();
    await httpProbe(`${backend.url}/post/1`);
    assert.ok(Date.now() - t0 >= 55, `${Date.now() - t0} ms`);
  } finally {
    await backend.close();
  }
});
