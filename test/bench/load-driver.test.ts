// The load driver against a small server that says HIT, MISS or BYPASS by itself and counts
// what it was sent: the driver's counts, bytes, visitor mix, purges, rate and child process.

import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import type { DriverPlan } from '../../bench/driver/driver-plan.js';
import { runLoad } from '../../bench/driver/load-driver.js';
import { runDriver } from '../../bench/driver/start-driver.js';

interface Seen {
  gets: Record<string, number>;
  anonymous: number;
  gzip: number;
  bytes: number;
  purges: string[];
  updates: string[];
  /** Each PURGE's path, with whether its update came first. */
  order: string[];
}

async function fakeCache(): Promise<{ origin: string; seen: Seen; server: Server }> {
  const seen: Seen = { gets: {}, anonymous: 0, gzip: 0, bytes: 0, purges: [], updates: [], order: [] };
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x.invalid');
    if (req.method === 'PURGE') {
      seen.purges.push(url.pathname);
      seen.order.push(`purge ${url.pathname}`);
      res.writeHead(seen.purges.length % 2 ? 200 : 404).end();
      return;
    }
    if (req.method === 'POST' && url.pathname === '/__bench/update') {
      const path = url.searchParams.get('path') ?? '';
      seen.updates.push(path);
      seen.order.push(`update ${path}`);
      res.writeHead(200).end('{}');
      return;
    }
    seen.gets[url.pathname] = (seen.gets[url.pathname] ?? 0) + 1;
    const loggedIn = /wordpress_logged_in_/.test(req.headers.cookie ?? '');
    if (!loggedIn) seen.anonymous++;
    if (/gzip/.test(req.headers['accept-encoding'] ?? '')) seen.gzip++;
    const body = Buffer.alloc(url.pathname === '/a' ? 1000 : 3000, 'x');
    seen.bytes += body.length;
    const xCache = loggedIn ? 'BYPASS' : url.pathname === '/a' ? 'HIT' : 'MISS';
    res.writeHead(200, { 'X-Cache': xCache, 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

function plan(origin: string, over: Partial<DriverPlan> = {}): DriverPlan {
  return {
    label: 'test',
    origin,
    paths: ['/a', '/b', '/c'],
    zipfS: 1,
    mix: { loggedInShare: 0.2, gzipShare: 0.5 },
    connections: 4,
    seed: 1,
    timeoutMs: 5000,
    progressEveryMs: 50,
    ...over,
  };
}

test('counts every answer by outcome, with bytes and the visitor mix', async () => {
  const { origin, seen, server } = await fakeCache();
  try {
    const progress: number[] = [];
    const r = await runLoad(plan(origin, { requests: 2000 }), (p) => progress.push(p.requests));
    assert.equal(r.requests, 2000);
    assert.equal(r.errors, 0);
    assert.deepEqual(r.statuses, { 200: 2000 });
    const total = Object.values(seen.gets).reduce((a, b) => a + b, 0);
    assert.equal(total, 2000);
    assert.equal(r.bytes, seen.bytes);
    assert.equal(r.anonymous.requests, seen.anonymous);
    const hits = r.outcomes.hit!.summary.count;
    const misses = r.outcomes.miss!.summary.count;
    const bypass = r.outcomes.bypass!.summary.count;
    assert.equal(hits + misses + bypass, 2000);
    assert.equal(bypass, 2000 - seen.anonymous);
    assert.equal(r.hitRate, hits / 2000);
    assert.equal(r.anonymous.hitRate, hits / seen.anonymous);
    // Zipf s=1 over 3 pages: /a gets 6/11 of the requests.
    assert.ok(Math.abs(seen.gets['/a'] / 2000 - 6 / 11) < 0.05, `/a share ${seen.gets['/a'] / 2000}`);
    assert.ok(Math.abs(seen.anonymous / 2000 - 0.8) < 0.04, `anonymous ${seen.anonymous}`);
    assert.ok(Math.abs(seen.gzip / 2000 - 0.5) < 0.05, `gzip ${seen.gzip}`);
    assert.equal(r.timeline.reduce((s, p) => s + p.requests, 0), 2000);
    assert.equal(r.timeline.reduce((s, p) => s + p.hit, 0), hits);
    assert.equal(progress.at(-1), 2000);
    assert.deepEqual(r.purges, { sent: 0, purged: 0, notFound: 0, failed: 0, updated: 0 });
  } finally {
    server.close();
  }
});

test('purges come at their rate from the same popularity, each after its page update', async () => {
  const { origin, seen, server } = await fakeCache();
  try {
    const r = await runLoad(plan(origin, { durationS: 1, purge: { ratePerS: 10, updateOrigin: origin } }));
    assert.ok(r.purges.sent >= 8 && r.purges.sent <= 11, `${r.purges.sent} purges`);
    assert.equal(seen.purges.length, r.purges.sent);
    assert.equal(r.purges.purged + r.purges.notFound, r.purges.sent);
    assert.equal(r.purges.updated, r.purges.sent);
    for (const path of seen.purges) assert.ok(['/a', '/b', '/c'].includes(path));
    for (let i = 0; i < seen.purges.length; i++) {
      const p = seen.order.indexOf(`purge ${seen.purges[i]}`);
      assert.ok(seen.order.slice(0, p).includes(`update ${seen.purges[i]}`), `update before purge of ${seen.purges[i]}`);
    }
    assert.ok(r.durationS >= 0.99 && r.durationS < 2, `${r.durationS} s`);
  } finally {
    server.close();
  }
});

test('--rate paces the requests', async () => {
  const { origin, server } = await fakeCache();
  try {
    const r = await runLoad(plan(origin, { durationS: 1, ratePerS: 200 }));
    // Never more than the schedule allows; a little under when the machine is busy.
    assert.ok(r.requests >= 150 && r.requests <= 201, `${r.requests} requests in 1 s at 200/s`);
  } finally {
    server.close();
  }
});

test('a refused target is counted as errors, not as answers', async () => {
  const { origin, server } = await fakeCache();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const r = await runLoad(plan(origin, { durationS: 0.3, connections: 2 }));
  assert.equal(r.requests, 0);
  assert.ok(r.errors > 0);
  assert.ok((r.errorCodes.ECONNREFUSED ?? 0) > 0, JSON.stringify(r.errorCodes));
});

test('the warm pass requests every page once, unrecorded', async () => {
  const { origin, seen, server } = await fakeCache();
  try {
    const r = await runLoad(plan(origin, { warm: true, requests: 0 }));
    assert.deepEqual(r.warm && { requests: r.warm.requests, errors: r.warm.errors }, { requests: 3, errors: 0 });
    assert.deepEqual(seen.gets, { '/a': 1, '/b': 1, '/c': 1 });
    assert.equal(r.requests, 0);
  } finally {
    server.close();
  }
});

test('in its own process: progress arrives, then the result', async () => {
  const { origin, server } = await fakeCache();
  try {
    let progressed = 0;
    const r = await runDriver(plan(origin, { requests: 500 }), { onProgress: () => progressed++ });
    assert.equal(r.requests, 500);
    assert.ok(progressed >= 1);
    assert.ok(r.outcomes.hit && r.outcomes.hit.summary.count > 0);
  } finally {
    server.close();
  }
});
