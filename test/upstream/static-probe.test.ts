// The static-server prober against fake file servers: HEAD for the request's own path, the
// first server that has it wins, a hot path costs one HEAD, and a dead server is skipped
// without a connect attempt per request until its dead period is over.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { StaticServers, type StaticServersOptions } from '../../src/upstream/static-probe.js';
import { FakeFileServer } from '../helpers/fake-file-server.js';
import { freePort, listenOn } from '../helpers/listen.js';

const MARGIN_MS = 250;
const HANG_GUARD = { timeout: 20_000 };

function clock() {
  let t = 1_000_000;
  return { now: () => t, step: (ms: number) => (t += ms) };
}

function prober(servers: string[], o: Partial<StaticServersOptions> = {}): StaticServers {
  return new StaticServers({ servers, memoTtlMs: 0, ...o });
}

/** Accepts TCP connections and counts them; resets each at once, or holds it open unanswered. */
async function brokenServer(mode: 'reset' | 'hang') {
  const open = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    open.add(s);
    s.on('error', () => {});
    s.on('close', () => open.delete(s));
    if (mode === 'reset') s.resetAndDestroy();
  });
  const port = await listenOn(server);
  return {
    url: `http://127.0.0.1:${port}`,
    accepted: () => accepted,
    close: async () => {
      for (const s of open) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

test('HEAD 404 on the first server, found on the second: the second is the answer', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start();
  const b = await FakeFileServer.start({ '/assets/site.css': 'body{}' });
  const statics = prober([a.url, b.url]);
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal(await statics.find('/assets/site.css'), b.url);
  assert.equal(a.count('HEAD', '/assets/site.css'), 1);
  assert.equal(b.count('HEAD', '/assets/site.css'), 1);
  assert.equal(a.count('GET') + b.count('GET'), 0, 'only HEAD is used to probe');
  assert.equal(statics.urlFor(b.url, '/assets/site.css'), `${b.url}/assets/site.css`);
});

test('the first server that has it wins; the others are not asked', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start({ '/f.js': 'a' });
  const b = await FakeFileServer.start({ '/f.js': 'b' });
  const statics = prober([a.url, b.url]);
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal(await statics.find('/f.js'), a.url);
  assert.equal(b.seen.length, 0);
});

test('none has it: null, each server asked once', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start();
  const b = await FakeFileServer.start();
  const statics = prober([a.url, b.url], { memoTtlMs: 5000 });
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal(await statics.find('/missing.png'), null);
  assert.equal(a.count('HEAD', '/missing.png'), 1);
  assert.equal(b.count('HEAD', '/missing.png'), 1);
  // Not remembered: a file put there since is found on the next request.
  b.put('/missing.png', 'png');
  assert.equal(await statics.find('/missing.png'), b.url);
});

test('HEAD carries the request path and query exactly, under the base URL path', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start({ '/static/assets/a%20b.css': 'x' });
  const statics = prober([`${a.url}/static/`]);
  t.after(async () => {
    await statics.close();
    await a.close();
  });
  assert.equal(await statics.find('/assets/a%20b.css?v=3'), `${a.url}/static`);
  assert.deepEqual(a.seen.map((r) => `${r.method} ${r.url}`), ['HEAD /static/assets/a%20b.css?v=3']);
  assert.equal(statics.urlFor(`${a.url}/static`, '/assets/a%20b.css?v=3'), `${a.url}/static/assets/a%20b.css?v=3`);
});

test('a 3xx counts as having it (the client follows it); a 5xx does not', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start();
  const b = await FakeFileServer.start();
  a.redirect('/moved.css', 'http://cdn.example/moved.css', 301);
  const statics = prober([a.url, b.url]);
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal(await statics.find('/moved.css'), a.url);
  assert.equal(b.seen.length, 0);
  a.failWith('/sick.css', 503);
  b.put('/sick.css', 'ok');
  assert.equal(await statics.find('/sick.css'), b.url);
  assert.equal(statics.status()[0].up, true, 'a server that answers 5xx is not down');
});

test('a hot path costs one HEAD, also when asked concurrently; forget and the ttl ask again', HANG_GUARD, async (t) => {
  const c = clock();
  const a = await FakeFileServer.start({ '/hot.png': 'png' });
  const statics = prober([a.url], { memoTtlMs: 5000, now: c.now });
  t.after(async () => {
    await statics.close();
    await a.close();
  });
  const concurrent = await Promise.all(Array.from({ length: 10 }, () => statics.find('/hot.png')));
  for (let i = 0; i < 10; i++) assert.equal(await statics.find('/hot.png'), a.url);
  assert.deepEqual(new Set(concurrent), new Set([a.url]));
  assert.equal(a.count('HEAD', '/hot.png'), 1);

  statics.forget('/hot.png');
  await statics.find('/hot.png');
  assert.equal(a.count('HEAD', '/hot.png'), 2, 'forgotten after a failed fetch: asked again');

  c.step(5000);
  await statics.find('/hot.png');
  assert.equal(a.count('HEAD', '/hot.png'), 3, 'asked again once the memo ttl passed');
});

test('probes reuse keep-alive connections', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start({ '/1': 'x', '/2': 'x', '/3': 'x' });
  const statics = prober([a.url]);
  t.after(async () => {
    await statics.close();
    await a.close();
  });
  for (const p of ['/1', '/2', '/3', '/1']) assert.equal(await statics.find(p), a.url);
  assert.equal(a.connections, 1);
});

test('a dead server (resets connections) is skipped without a connect attempt per request, and retried later', HANG_GUARD, async (t) => {
  const c = clock();
  const dead = await brokenServer('reset');
  const b = await FakeFileServer.start({ '/a': 'x', '/b': 'x', '/c': 'x', '/d': 'x' });
  const statics = prober([dead.url, b.url], { now: c.now, deadMs: 5000 });
  t.after(async () => {
    await statics.close();
    await Promise.all([dead.close(), b.close()]);
  });
  assert.equal(await statics.find('/a'), b.url);
  const attempts = dead.accepted();
  assert.ok(attempts >= 1);
  assert.deepEqual(statics.status(), [
    { server: dead.url, up: false },
    { server: b.url, up: true },
  ]);

  assert.equal(await statics.find('/b'), b.url);
  assert.equal(await statics.find('/c'), b.url);
  assert.equal(dead.accepted(), attempts, 'no connection attempt while it is marked down');

  c.step(5000);
  assert.equal(await statics.find('/d'), b.url);
  assert.ok(dead.accepted() > attempts, 'asked again after its dead period');
});

test('a server whose port is closed is marked down; back on its port, it is used again after its dead period', HANG_GUARD, async (t) => {
  const c = clock();
  const a = await FakeFileServer.start({ '/x': 'a' });
  const b = await FakeFileServer.start({ '/x': 'b' });
  const statics = prober([a.url, b.url], { now: c.now, deadMs: 5000 });
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  await a.close();
  assert.equal(await statics.find('/x'), b.url);
  assert.equal(statics.status()[0].up, false);
  await a.reopen();
  assert.equal(await statics.find('/x'), b.url);
  assert.equal(a.seen.length, 0);
  c.step(5000);
  assert.equal(await statics.find('/x'), a.url);
  assert.equal(statics.status()[0].up, true);
});

test('a server that accepts and never answers: the next one answers within the timeout', HANG_GUARD, async (t) => {
  const hung = await brokenServer('hang');
  const b = await FakeFileServer.start({ '/x': 'b' });
  const timeoutMs = 200;
  const statics = prober([hung.url, b.url], { timeoutMs });
  t.after(async () => {
    await statics.close();
    await Promise.all([hung.close(), b.close()]);
  });
  const started = performance.now();
  assert.equal(await statics.find('/x'), b.url);
  const ms = performance.now() - started;
  assert.ok(ms < timeoutMs + MARGIN_MS, `answered after ${ms} ms`);
  assert.equal(statics.status()[0].up, false);
});

test('every server down: null at once, no connect attempt', HANG_GUARD, async (t) => {
  const c = clock();
  const port = await freePort();
  const dead = await brokenServer('reset');
  const statics = prober([`http://127.0.0.1:${port}`, dead.url], { now: c.now });
  t.after(async () => {
    await statics.close();
    await dead.close();
  });
  assert.equal(await statics.find('/x'), null);
  const attempts = dead.accepted();
  const started = performance.now();
  assert.equal(await statics.find('/y'), null);
  assert.ok(performance.now() - started < 50);
  assert.equal(dead.accepted(), attempts);
});

test('markDown after a failed fetch: the remembered server is skipped and the path asked again elsewhere', HANG_GUARD, async (t) => {
  const c = clock();
  const a = await FakeFileServer.start({ '/x': 'a' });
  const b = await FakeFileServer.start({ '/x': 'b' });
  const statics = prober([a.url, b.url], { now: c.now, memoTtlMs: 5000 });
  t.after(async () => {
    await statics.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.equal(await statics.find('/x'), a.url);
  statics.markDown(`${a.url}/`);
  assert.equal(await statics.find('/x'), b.url);
  assert.equal(a.count('HEAD'), 1);
  assert.equal(b.count('HEAD', '/x'), 1);
});

test('a path Node will not send (a raw space) is nobody\'s: null, and no server marked down', HANG_GUARD, async (t) => {
  const a = await FakeFileServer.start();
  const statics = prober([a.url]);
  t.after(async () => {
    await statics.close();
    await a.close();
  });
  assert.equal(await statics.find('/a b'), null);
  assert.equal(a.seen.length, 0);
  assert.equal(statics.status()[0].up, true);
});

test('bad static.servers entries are config errors naming the key', () => {
  assert.throws(() => new StaticServers({ servers: ['not a url'] }), { code: 'MF_CONFIG_INVALID', message: /static\.servers/ });
  assert.throws(() => new StaticServers({ servers: ['ftp://files.example'] }), { code: 'MF_CONFIG_INVALID' });
  assert.throws(() => new StaticServers({ servers: ['http://files.example/?x=1'] }), { code: 'MF_CONFIG_INVALID' });
});
