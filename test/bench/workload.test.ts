// The workload's small parts: visitor mix, purge schedule, the CMS catalog and TTLs.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../demo/seeded-random.js';
import { cmsCatalog, postsFor, ttlFromHeaders, weightedMeanBytes } from '../../bench/workload/cms-catalog.js';
import { PurgeSchedule } from '../../bench/workload/purge-schedule.js';
import { LOGGED_IN_COOKIE, pickVisitor, VISITOR_KINDS, visitorHeaders, visitorIndex } from '../../bench/workload/visitor-mix.js';

test('the visitor mix draws its shares', () => {
  const rand = seededRandom(3);
  let loggedIn = 0;
  let gzip = 0;
  const n = 50_000;
  for (let i = 0; i < n; i++) {
    const v = pickVisitor({ loggedInShare: 0.1, gzipShare: 0.9 }, rand);
    if (v.loggedIn) loggedIn++;
    if (v.gzip) gzip++;
  }
  assert.ok(Math.abs(loggedIn / n - 0.1) < 0.01, `logged in ${loggedIn / n}`);
  assert.ok(Math.abs(gzip / n - 0.9) < 0.01, `gzip ${gzip / n}`);
});

test('logged-in visitors carry a WordPress session cookie; gzip visitors say so', () => {
  assert.match(LOGGED_IN_COOKIE, /^wordpress_logged_in_[^=]*=/);
  assert.equal(visitorHeaders({ loggedIn: true, gzip: false }).cookie, LOGGED_IN_COOKIE);
  assert.equal(visitorHeaders({ loggedIn: false, gzip: false }).cookie, undefined);
  assert.match(visitorHeaders({ loggedIn: false, gzip: true })['accept-encoding'], /gzip/);
  assert.equal(visitorHeaders({ loggedIn: false, gzip: false })['accept-encoding'], undefined);
  VISITOR_KINDS.forEach((v, i) => assert.equal(visitorIndex(v), i));
});

test('purges come evenly at their rate, each handed out once', () => {
  const s = new PurgeSchedule(2); // one every 500 ms
  assert.equal(s.due(0), 0);
  assert.equal(s.nextInMs(0), 500);
  assert.equal(s.due(499), 0);
  assert.equal(s.due(500), 1);
  assert.equal(s.due(500), 0);
  assert.equal(s.due(2100), 3);
  assert.equal(s.nextInMs(2100), 400);
  const off = new PurgeSchedule(0);
  assert.equal(off.due(10_000), 0);
  assert.equal(off.nextInMs(0), Infinity);
});

test('TTL from Cache-Control: s-maxage first, then max-age, else the cache decides', () => {
  const cases: Array<[Record<string, string>, number | undefined]> = [
    [{ 'Cache-Control': 'public, max-age=60' }, 60],
    [{ 'cache-control': 'max-age=60, s-maxage=600' }, 600],
    [{ 'Cache-Control': 'public, max-age=86400' }, 86400],
    [{ 'Content-Type': 'text/html' }, undefined],
  ];
  for (const [h, want] of cases) assert.equal(ttlFromHeaders(h), want, JSON.stringify(h));
});

test('the catalog: home, feed and image first, then every post once, TTLs as the CMS sends them', () => {
  const c = cmsCatalog(100);
  assert.equal(c.length, 100);
  assert.deepEqual(c.slice(0, 3).map((p) => p.path), ['/', '/feed', '/image.png']);
  assert.deepEqual(c.slice(0, 3).map((p) => p.ttlS), [60, 60, 86400]);
  const posts = c.slice(3).map((p) => Number(p.path.split('/')[2])).sort((a, b) => a - b);
  assert.deepEqual(posts, Array.from({ length: postsFor(100) }, (_, i) => i + 1));
  // Every fifth post sends no caching headers: the cache's default TTL applies.
  for (const p of c.slice(3)) assert.equal(p.ttlS, Number(p.path.split('/')[2]) % 5 === 0 ? undefined : 60, p.path);
  for (const p of c) assert.ok(p.bytes > 0 && p.bytes <= 210 * 1024, `${p.path} ${p.bytes}`);
  assert.deepEqual(cmsCatalog(100), c, 'the same seed gives the same order');
  assert.notDeepEqual(cmsCatalog(100, 2), c);
  assert.equal(cmsCatalog(3).length, 3);
  assert.equal(weightedMeanBytes([{ path: '/a', bytes: 100 }, { path: '/b', bytes: 300 }], [0.75, 0.25]), 150);
});
