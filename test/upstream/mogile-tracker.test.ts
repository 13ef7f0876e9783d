// The MogileFS tracker client against fake trackers speaking the real line protocol over TCP:
// the exact line on the wire, what each answer means, trackers refusing, hanging, answering
// late or in pieces, coming back, and the memo that makes a hot key cost one question.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { UpstreamError } from '../../src/errors.js';
import { MogileTrackers, type MogileTrackersOptions } from '../../src/upstream/mogile-tracker.js';
import { FakeTracker } from '../helpers/fake-tracker.js';
import { freePort, listenOn } from '../helpers/listen.js';

/** Slack on top of a deadline for a loaded machine running test files in parallel. */
const MARGIN_MS = 250;
const HANG_GUARD = { timeout: 20_000 };
const PATHS = ['http://10.0.0.1:7500/dev1/0/000/000/0000000001.fid', 'http://10.0.0.2:7500/dev2/0/000/000/0000000001.fid'];

function clock() {
  let t = 1_000_000;
  return { now: () => t, step: (ms: number) => (t += ms) };
}

/** A client over `trackers`, always starting at the first (random pinned), memo off unless asked. */
function client(trackers: string[], o: Partial<MogileTrackersOptions> = {}): MogileTrackers {
  return new MogileTrackers({ trackers, timeoutMs: 1000, memoTtlMs: 0, random: () => 0, ...o });
}

async function assertUnavailable(p: Promise<unknown>): Promise<UpstreamError> {
  let caught: unknown;
  await p.then(
    () => assert.fail('expected MF_TRACKER_UNAVAILABLE'),
    (err) => (caught = err),
  );
  assert.ok(caught instanceof UpstreamError, `not an UpstreamError: ${caught}`);
  assert.equal(caught.code, 'MF_TRACKER_UNAVAILABLE');
  return caught;
}

test('a key with spaces, &, %, + and CR/LF reaches the tracker as exactly one correctly encoded line', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  const mogile = client([fake.address]);
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  const key = 'photos/my cat & dog 100%+1.jpg\r\nget_paths domain=www&key=other';
  fake.setPaths(key, PATHS);

  const r = await mogile.getPaths('www', key);

  assert.equal(
    fake.raw,
    'get_paths domain=www&key=photos/my+cat+%26+dog+100%25%2B1.jpg%0D%0Aget_paths+domain%3Dwww%26key%3Dother&noverify=1&pathcount=2\r\n',
  );
  assert.equal(fake.lines.length, 1);
  // The tracker decoded it back to the very key it knows: the answer is that key's paths.
  assert.deepEqual(r, { kind: 'paths', paths: PATHS });
});

test('a unicode key is sent as its UTF-8 bytes, escaped', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  const mogile = client([fake.address]);
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  fake.setPaths('café/日本.png', PATHS);
  assert.deepEqual(await mogile.getPaths('www', 'café/日本.png'), { kind: 'paths', paths: PATHS });
  assert.deepEqual(fake.lines, ['get_paths domain=www&key=caf%C3%A9/%E6%97%A5%E6%9C%AC.png&noverify=1&pathcount=2']);
});

test('pathcount is asked for as given', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  const mogile = client([fake.address], { pathcount: 3 });
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  fake.setPaths('k', [...PATHS, 'http://10.0.0.3:7500/x.fid']);
  const r = await mogile.getPaths('www', 'k');
  assert.equal(r.kind === 'paths' && r.paths.length, 3);
  await mogile.getPaths('www', 'k', 1);
  assert.deepEqual(fake.lines, [
    'get_paths domain=www&key=k&noverify=1&pathcount=3',
    'get_paths domain=www&key=k&noverify=1&pathcount=1',
  ]);
});

test('an unknown key is unknown-key, and the next tracker is not asked', HANG_GUARD, async (t) => {
  const a = await FakeTracker.start();
  const b = await FakeTracker.start();
  const mogile = client([a.address, b.address]);
  t.after(async () => {
    mogile.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.deepEqual(await mogile.getPaths('www', 'nope'), { kind: 'unknown-key' });
  assert.equal(a.queries('nope'), 1);
  assert.equal(b.queries(), 0);
});

test('another ERR is an error with its code and decoded text; a tracker that answers is final', HANG_GUARD, async (t) => {
  const a = await FakeTracker.start();
  const b = await FakeTracker.start();
  b.setPaths('k', PATHS);
  a.domain = 'www';
  const mogile = client([a.address, b.address]);
  t.after(async () => {
    mogile.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.deepEqual(await mogile.getPaths('other', 'k'), { kind: 'error', code: 'domain_not_found', message: 'Domain not found' });
  a.setError('k2', 'no_devices', 'no devices & more');
  assert.deepEqual(await mogile.getPaths('www', 'k2'), { kind: 'error', code: 'no_devices', message: 'no devices & more' });
  assert.equal(b.queries(), 0, 'the second tracker is never asked after an ERR');
  assert.deepEqual(mogile.status().map((s) => s.up), [true, true]);
});

test('first tracker down (port closed): the second answers, and the first is skipped while dead', HANG_GUARD, async (t) => {
  const down = await freePort();
  const b = await FakeTracker.start();
  b.setPaths('k', PATHS);
  const mogile = client([`127.0.0.1:${down}`, b.address]);
  t.after(async () => {
    mogile.close();
    await b.close();
  });
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
  assert.deepEqual(mogile.status(), [
    { tracker: `127.0.0.1:${down}`, up: false },
    { tracker: b.address, up: true },
  ]);
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
  assert.equal(b.queries('k'), 2);
});

test('a tracker that accepts and never answers: the next tracker answers within the timeout', HANG_GUARD, async (t) => {
  const hung = await FakeTracker.start();
  hung.silent = true;
  const b = await FakeTracker.start();
  b.setPaths('k', PATHS);
  const timeoutMs = 200;
  const mogile = client([hung.address, b.address], { timeoutMs });
  t.after(async () => {
    mogile.close();
    await Promise.all([hung.close(), b.close()]);
  });
  const started = performance.now();
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
  const ms = performance.now() - started;
  assert.equal(hung.lines.length, 1, 'the hung tracker did get the question');
  assert.ok(ms >= timeoutMs - 20, `answered after ${ms} ms: the hung tracker was not waited for`);
  assert.ok(ms < timeoutMs + MARGIN_MS, `answered after ${ms} ms`);
  assert.equal(mogile.status()[0].up, false);
});

test('all trackers down: the typed error within a second, then at once while they are dead', HANG_GUARD, async (t) => {
  const ports = [await freePort(), await freePort(), await freePort()];
  const mogile = client(ports.map((p) => `127.0.0.1:${p}`));
  t.after(() => mogile.close());

  const started = performance.now();
  const err = await assertUnavailable(mogile.getPaths('www', 'k'));
  assert.ok(performance.now() - started < 1000);
  assert.match(err.message, /ECONNREFUSED/);
  assert.equal((err.cause as { code?: string }).code, 'ECONNREFUSED');
  assert.deepEqual(mogile.status().map((s) => s.up), [false, false, false]);

  const again = performance.now();
  await assertUnavailable(mogile.getPaths('www', 'k'));
  assert.ok(performance.now() - again < 50, 'dead trackers are not dialled again');
});

test('a tracker coming back is used again once its dead period is over', HANG_GUARD, async (t) => {
  const c = clock();
  const a = await FakeTracker.start();
  const b = await FakeTracker.start();
  a.setPaths('k', ['http://a/1.fid']);
  b.setPaths('k', ['http://b/1.fid']);
  const mogile = client([a.address, b.address], { now: c.now, deadMs: 5000 });
  t.after(async () => {
    mogile.close();
    await Promise.all([a.close(), b.close()]);
  });
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: ['http://a/1.fid'] });

  await a.stop();
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: ['http://b/1.fid'] });
  await a.restart();
  c.step(4999);
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: ['http://b/1.fid'] }, 'still dead');
  assert.equal(a.queries(), 1);

  c.step(1);
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: ['http://a/1.fid'] });
  assert.equal(a.queries(), 2);
  assert.deepEqual(mogile.status().map((s) => s.up), [true, true]);
});

test('the only tracker coming back is used again after its dead period', HANG_GUARD, async (t) => {
  const c = clock();
  const a = await FakeTracker.start();
  a.setPaths('k', PATHS);
  const mogile = client([a.address], { now: c.now, deadMs: 2000 });
  t.after(async () => {
    mogile.close();
    await a.close();
  });
  await a.stop();
  await assertUnavailable(mogile.getPaths('www', 'k'));
  await a.restart();
  await assertUnavailable(mogile.getPaths('www', 'k'));
  c.step(2000);
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
});

test('a reply split across packets (one cut between its CR and LF) parses', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  fake.split = true;
  fake.setPaths('k', PATHS);
  const mogile = client([fake.address]);
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
  assert.deepEqual(await mogile.getPaths('www', 'nope'), { kind: 'unknown-key' });
  assert.equal(fake.connections, 1, 'the connection stays usable after a split reply');
});

test('a late reply after a timeout is never taken as the answer to the next question', HANG_GUARD, async (t) => {
  const c = clock();
  const fake = await FakeTracker.start();
  // The slow reply comes 50 ms after the timeout: while the next question waits for its own.
  fake.setPaths('slow', ['http://slow/1.fid'], { delayMs: 150 });
  fake.setPaths('fast', ['http://fast/1.fid']);
  const mogile = client([fake.address], { timeoutMs: 100, now: c.now, deadMs: 1000 });
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  await assertUnavailable(mogile.getPaths('www', 'slow'));
  c.step(1000);
  // Asked at once, so on a reused connection the slow reply would arrive while this one waits.
  const [fast] = await Promise.all([mogile.getPaths('www', 'fast'), fake.untilReplies(2)]);
  assert.deepEqual(fast, { kind: 'paths', paths: ['http://fast/1.fid'] });
  assert.deepEqual(fake.lines.map((l) => /key=(\w+)/.exec(l)?.[1]), ['slow', 'fast']);
  assert.equal(fake.connections, 2, 'the timed-out connection was closed, not reused');
});

test('connections are reused, one question at a time each', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  fake.setPaths('k', PATHS);
  const mogile = client([fake.address]);
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  for (let i = 0; i < 5; i++) await mogile.getPaths('www', 'k');
  assert.equal(fake.connections, 1);
  // Concurrent questions each get their own connection, and each its own answer.
  fake.setPaths('k2', ['http://k2/1.fid']);
  const [r1, r2] = await Promise.all([mogile.getPaths('www', 'k'), mogile.getPaths('www', 'k2')]);
  assert.deepEqual(r1, { kind: 'paths', paths: PATHS });
  assert.deepEqual(r2, { kind: 'paths', paths: ['http://k2/1.fid'] });
  assert.equal(fake.connections, 2);
});

test('a pooled connection the tracker closed is replaced, not counted as the tracker failing', HANG_GUARD, async (t) => {
  const a = await FakeTracker.start();
  const b = await FakeTracker.start();
  a.setPaths('k', ['http://a/1.fid']);
  const mogile = client([a.address, b.address]);
  t.after(async () => {
    mogile.close();
    await Promise.all([a.close(), b.close()]);
  });
  await mogile.getPaths('www', 'k');
  await a.restart();
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: ['http://a/1.fid'] });
  assert.equal(b.queries(), 0);
  assert.equal(mogile.status()[0].up, true);
});

test('something that is not a tracker (an HTTP server) is skipped like a dead one', HANG_GUARD, async (t) => {
  const http = net.createServer((s) => s.once('data', () => s.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n')));
  const port = await listenOn(http);
  const b = await FakeTracker.start();
  b.setPaths('k', PATHS);
  const mogile = client([`127.0.0.1:${port}`, b.address]);
  t.after(async () => {
    mogile.close();
    await b.close();
    await new Promise((resolve) => http.close(resolve));
  });
  assert.deepEqual(await mogile.getPaths('www', 'k'), { kind: 'paths', paths: PATHS });
  assert.equal(mogile.status()[0].up, false);
});

test('the memo: a hot key costs one tracker question, also when asked concurrently', HANG_GUARD, async (t) => {
  const c = clock();
  const fake = await FakeTracker.start();
  fake.setPaths('hot', PATHS);
  const mogile = client([fake.address], { memoTtlMs: 3000, now: c.now });
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  const first = await Promise.all(Array.from({ length: 10 }, () => mogile.getPaths('www', 'hot')));
  for (let i = 0; i < 10; i++) await mogile.getPaths('www', 'hot');
  assert.ok(first.every((r) => r.kind === 'paths' && r.paths.join() === PATHS.join()));
  assert.equal(fake.queries('hot'), 1);

  c.step(3000);
  await mogile.getPaths('www', 'hot');
  assert.equal(fake.queries('hot'), 2, 'asked again once the memo ttl passed');

  mogile.forget('www', 'hot');
  await mogile.getPaths('www', 'hot');
  assert.equal(fake.queries('hot'), 3, 'asked again after forget (a path failed)');

  await mogile.getPaths('other', 'hot');
  assert.equal(fake.queries('hot'), 4, 'another domain is another key');
});

test('the memo keeps no negative answers: an unknown key is asked again', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  const mogile = client([fake.address], { memoTtlMs: 3000 });
  t.after(async () => {
    mogile.close();
    await fake.close();
  });
  assert.deepEqual(await mogile.getPaths('www', 'new'), { kind: 'unknown-key' });
  fake.setPaths('new', PATHS);
  assert.deepEqual(await mogile.getPaths('www', 'new'), { kind: 'paths', paths: PATHS });
  assert.equal(fake.queries('new'), 2);
});

test('a bad tracker address is a config error naming the key', () => {
  assert.throws(() => new MogileTrackers({ trackers: ['host:99999'], timeoutMs: 100 }), { code: 'MF_CONFIG_INVALID', message: /mogile\.trackers/ });
  assert.throws(() => new MogileTrackers({ trackers: ['a b:1'], timeoutMs: 100 }), { code: 'MF_CONFIG_INVALID' });
  const m = new MogileTrackers({ trackers: ['tracker.example', '[::1]:7002'], timeoutMs: 100 });
  assert.deepEqual(m.status().map((s) => s.tracker), ['tracker.example', '[::1]:7002']);
  m.close();
});

test('after close(), questions fail with the typed error and no connection is left open', HANG_GUARD, async (t) => {
  const fake = await FakeTracker.start();
  fake.setPaths('k', PATHS);
  t.after(() => fake.close());
  const mogile = client([fake.address]);
  await mogile.getPaths('www', 'k');
  mogile.close();
  await assertUnavailable(mogile.getPaths('www', 'k'));
});
