// MogileFS and static-server routes end to end (issue 4): a real memcached, fake trackers on
// the real line protocol, fake storage nodes and static servers that count what they are
// asked, a counting fake backend, and memfront between. Each behaviour of the issue's "Done
// when" list has its test; the counting ones use a memfront without a page cache, so the
// cache does not hide the dispatcher.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { FakeTracker } from '../helpers/fake-tracker.js';
import { FakeFileServer } from '../helpers/fake-file-server.js';
import { get, startBackend, startStack, until, type FakeBackend, type Got, type Stack } from '../helpers/stack.js';
import { parsePrometheusText, sumOf } from '../ops/prom-text.js';

const HANG_GUARD = { timeout: 30_000 };
/** Slack on top of a deadline for a loaded machine running test files in parallel. */
const MARGIN_MS = 400;
const TRACKER_TIMEOUT_MS = 400;

const CAT = Buffer.from('JPEG bytes of a cat, from storage node B\n');
const FID = (n: number) => `/dev2/0/000/000/${String(n).padStart(10, '0')}.fid`;

let mc: MemcachedProcess;
let backend: FakeBackend;
let tracker: FakeTracker;
/** A storage node that is down: its port refuses. */
let deadNode: FakeFileServer;
let nodeB: FakeFileServer;
let static1: FakeFileServer;
let static2: FakeFileServer;
/** With the page cache in memcached. */
let stack: Stack;
/** The same routes without a page cache: every request reaches the dispatcher. */
let uncached: Stack;
const extraStacks: Stack[] = [];
const extraTrackers: FakeTracker[] = [];

const routes = [
  { match: '^/media/([^?]*)', to: 'mogile', key: '$1' },
  // A key template holding what no URL can carry raw: a space, `&`, `%`, CR and LF.
  { match: '^/odd/([^?]*)', to: 'mogile', key: 'dir with space & 100%\r\nx/$1' },
  { match: '^/mix/([^?]*)', to: 'mogile', key: '$1', fallback: 'static' },
  { match: '^/mb/([^?]*)', to: 'mogile', key: '$1', fallback: 'backend' },
  { match: '^/assets/', to: 'static' },
];

function stackConfig(trackers: string[], statics: string[], o: { cache?: boolean; timeoutMs?: number } = {}) {
  return {
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { enabled: o.cache ?? true, memcached: { servers: [mc.address], timeoutMs: 200 }, staleWhileRevalidate: 0, staleIfError: 0 },
    // Tracker paths and static servers are the operator's: no reproxy.allowedHosts needed.
    reproxy: { enabled: false, allowedHosts: [] },
    mogile: { trackers, domain: 'www', timeoutMs: o.timeoutMs ?? TRACKER_TIMEOUT_MS },
    static: { servers: statics },
    routes,
  };
}

/** Another memfront (closed after the file), with its own trackers. */
async function extraStack(trackers: string[], statics: string[] = [static1.url, static2.url], o: { timeoutMs?: number; cache?: boolean } = {}): Promise<Stack> {
  const s = await startStack(stackConfig(trackers, statics, o));
  extraStacks.push(s);
  return s;
}

async function extraTracker(): Promise<FakeTracker> {
  const t = await FakeTracker.start();
  t.domain = 'www';
  extraTrackers.push(t);
  return t;
}

/** A tracker address that refuses connections. */
async function downTracker(): Promise<FakeTracker> {
  const t = await extraTracker();
  await t.stop();
  return t;
}

async function metric(s: Stack, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const r = await get(`http://127.0.0.1:${s.mf.adminPort}/metrics`);
  const e = parsePrometheusText(r.body.toString());
  if (!e.samples.some((x) => x.name === name && Object.entries(labels).every(([k, v]) => x.labels[k] === v))) return undefined;
  return sumOf(e, name, labels);
}

async function healthz(s: Stack): Promise<Record<string, any>> {
  return JSON.parse((await get(`http://127.0.0.1:${s.mf.adminPort}/healthz`)).body.toString());
}

async function timed(p: () => Promise<Got>): Promise<Got & { ms: number }> {
  const t0 = performance.now();
  const r = await p();
  return { ...r, ms: performance.now() - t0 };
}

before(async () => {
  mc = await startMemcached();
  deadNode = await FakeFileServer.start();
  await deadNode.close();
  nodeB = await FakeFileServer.start();
  static1 = await FakeFileServer.start();
  static2 = await FakeFileServer.start();
  tracker = await FakeTracker.start();
  tracker.domain = 'www';
  backend = await startBackend({}, (req, res) => {
    const body = `backend: ${req.method} ${req.url}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'public, max-age=60' });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  stack = await startStack(stackConfig([tracker.address], [static1.url, static2.url]));
  uncached = await startStack(stackConfig([tracker.address], [static1.url, static2.url], { cache: false }));
});

after(async () => {
  await Promise.all([stack?.close(), uncached?.close(), ...extraStacks.map((s) => s.close())]);
  await Promise.all([backend?.close(), tracker?.close(), nodeB?.close(), static1?.close(), static2?.close(), ...extraTrackers.map((t) => t.close())]);
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
});

/** Puts `body` on storage node B under a new fid and tells the tracker `key` lives there (after a dead node). */
let fids = 0;
function storeInMogile(key: string, body: Buffer, o: { deadFirst?: boolean; on?: FakeTracker } = {}): string {
  const fid = FID(++fids);
  nodeB.put(fid, body, 'image/jpeg');
  const paths = [`${nodeB.url}${fid}`];
  if (o.deadFirst) paths.unshift(`${deadNode.url}${fid}`);
  (o.on ?? tracker).setPaths(key, paths);
  return fid;
}

describe('to: "mogile"', () => {
  it('two paths, the first on a dead node: served from the second, stored, and the paths asked for again', HANG_GUARD, async () => {
    const fid = storeInMogile('photos/cat.jpg', CAT, { deadFirst: true });
    const r = await get(`${stack.url}/media/photos/cat.jpg`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, CAT);
    assert.equal(r.headers['content-type'], 'image/jpeg');
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal(nodeB.count('GET', fid), 1);
    assert.equal(tracker.queries('photos/cat.jpg'), 1);
    assert.match(tracker.lines.at(-1)!, /^get_paths domain=www&key=photos\/cat\.jpg&noverify=1&pathcount=2$/);

    await stack.mf.settled();
    const hit = await get(`${stack.url}/media/photos/cat.jpg`);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.deepEqual(hit.body, CAT);
    assert.equal(nodeB.count('GET', fid), 1, 'a hit never reaches the storage node');

    // A path failed, so the remembered paths were forgotten: the next trip asks the tracker.
    const bypass = await get(`${stack.url}/media/photos/cat.jpg`, { headers: { Authorization: 'Bearer x' } });
    assert.equal(bypass.status, 200);
    assert.equal(bypass.headers['x-cache'], 'BYPASS');
    assert.equal(tracker.queries('photos/cat.jpg'), 2);
  });

  it('unknown key: 404, cacheable for a few seconds only', HANG_GUARD, async () => {
    const r = await get(`${stack.url}/media/no/such.jpg`);
    assert.equal(r.status, 404);
    assert.equal(r.headers['cache-control'], 'max-age=10');
    assert.equal(r.headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const again = await get(`${stack.url}/media/no/such.jpg`);
    assert.equal(again.status, 404);
    assert.equal(again.headers['x-cache'], 'HIT');
    const ttl = Number(/ttl=(\d+)/.exec(String(again.headers['cache-status']))?.[1]);
    assert.ok(ttl <= 10, `stored for ${ttl}s, not defaultTtl`);
    assert.equal(tracker.queries('no/such.jpg'), 1);
  });

  it('another ERR: 502, with the tracker asked once', HANG_GUARD, async () => {
    tracker.setError('broken.jpg', 'some_failure', 'Something broke');
    const r = await get(`${stack.url}/media/broken.jpg`);
    assert.equal(r.status, 502);
    assert.match(String(r.headers['cache-status']), /fwd=miss/);
    assert.equal(tracker.queries('broken.jpg'), 1);
  });

  it('every path failing: 502', HANG_GUARD, async () => {
    tracker.setPaths('lost.jpg', [`${deadNode.url}${FID(9001)}`, `${nodeB.url}${FID(9002)}`]);
    const r = await get(`${stack.url}/media/lost.jpg`);
    assert.equal(r.status, 502);
    assert.equal(nodeB.count('GET', FID(9002)), 1);
  });

  it('a key with spaces, &, % and CR/LF reaches the tracker as exactly one correctly encoded line', HANG_GUARD, async () => {
    // The template gives the space, `&`, `%` and CR LF; the URL part is raw (still
    // percent-encoded) text, so its %20, %25, %0D%0A reach the key as they are spelt.
    const key = 'dir with space & 100%\r\nx/a%20b&c%25%0D%0A';
    storeInMogile(key, CAT);
    const linesBefore = tracker.lines.length;
    const rawBefore = tracker.raw.length;
    const r = await get(`${stack.url}/odd/a%20b&c%25%0D%0A`);
    assert.equal(r.status, 200, 'the tracker decoded the very key it knows');
    assert.deepEqual(r.body, CAT);
    assert.equal(tracker.lines.length, linesBefore + 1, 'one line');
    assert.equal(
      tracker.raw.slice(rawBefore),
      'get_paths domain=www&key=dir+with+space+%26+100%25%0D%0Ax/a%2520b%26c%2525%250D%250A&noverify=1&pathcount=2\r\n',
    );
  });

  it('HEAD and Range are carried to the storage node; neither answer is stored', HANG_GUARD, async () => {
    const fid = storeInMogile('range.bin', Buffer.from('0123456789'));
    const part = await get(`${stack.url}/media/range.bin`, { headers: { Range: 'bytes=2-5' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), '2345');
    assert.equal(part.headers['content-range'], 'bytes 2-5/10');
    const head = await get(`${stack.url}/media/range.bin`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.body.length, 0);
    assert.equal(nodeB.count('HEAD', fid), 1);
    assert.equal(nodeB.seen.find((s) => s.method === 'GET' && s.url === fid)?.headers.range, 'bytes=2-5');
    await stack.mf.settled();
    const whole = await get(`${stack.url}/media/range.bin`);
    assert.equal(whole.headers['x-cache'], 'MISS', 'neither the part nor the head was stored');
    assert.equal(whole.body.toString(), '0123456789');
  });

  it('a reply split across packets parses', HANG_GUARD, async () => {
    storeInMogile('split/reply.jpg', CAT);
    tracker.split = true;
    try {
      const r = await get(`${stack.url}/media/split/reply.jpg`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, CAT);
    } finally {
      tracker.split = false;
    }
  });

  it('a hot key costs one tracker query', HANG_GUARD, async () => {
    const fid = storeInMogile('hot/key.jpg', CAT);
    for (let i = 0; i < 5; i++) {
      const r = await get(`${uncached.url}/media/hot/key.jpg`);
      assert.equal(r.status, 200);
      assert.deepEqual(r.body, CAT);
    }
    assert.equal(nodeB.count('GET', fid), 5, 'every request reached the route');
    assert.equal(tracker.queries('hot/key.jpg'), 1);
  });
});

describe('trackers going up and down', () => {
  it('first tracker down, the second answers (every request served; the dead one is marked and skipped)', HANG_GUARD, async () => {
    const down = await downTracker();
    const good = await extraTracker();
    const s = await extraStack([down.address, good.address]);
    // The client starts at a random tracker: ask until a question has started at the dead one.
    for (let i = 0; i < 40 && (await metric(s, 'memfront_mogile_tracker_up', { tracker: down.address })) !== 0; i++) {
      storeInMogile(`failover/${i}.jpg`, CAT, { on: good });
      const r = await timed(() => get(`${s.url}/media/failover/${i}.jpg`));
      assert.equal(r.status, 200);
      assert.ok(r.ms < 1000, `served in ${r.ms} ms`);
    }
    assert.equal(await metric(s, 'memfront_mogile_tracker_up', { tracker: down.address }), 0);
    assert.equal(await metric(s, 'memfront_mogile_tracker_up', { tracker: good.address }), 1);
    const h = await healthz(s);
    assert.deepEqual(
      h.trackers.map((t: any) => [t.server, t.up, t.inRotation]),
      [[down.address, false, false], [good.address, true, true]],
    );
  });

  it('a tracker that accepts and never answers: the next tracker, within the timeout', HANG_GUARD, async () => {
    const silent = await extraTracker();
    silent.silent = true;
    const good = await extraTracker();
    const s = await extraStack([silent.address, good.address]);
    let hung: (Got & { ms: number }) | undefined;
    for (let i = 0; i < 40 && !hung; i++) {
      storeInMogile(`silent/${i}.jpg`, CAT, { on: good });
      const asked = silent.lines.length;
      const r = await timed(() => get(`${s.url}/media/silent/${i}.jpg`));
      assert.equal(r.status, 200);
      if (silent.lines.length > asked) hung = r;
    }
    assert.ok(hung, 'a question started at the silent tracker');
    assert.deepEqual(hung.body, CAT);
    assert.ok(hung.ms >= TRACKER_TIMEOUT_MS - 50, `waited ${hung.ms} ms for the silent tracker`);
    assert.ok(hung.ms < TRACKER_TIMEOUT_MS + MARGIN_MS, `moved on after ${hung.ms} ms`);
    // Marked dead: the next questions go straight to the good tracker.
    const asked = silent.lines.length;
    storeInMogile('silent/after.jpg', CAT, { on: good });
    const next = await timed(() => get(`${s.url}/media/silent/after.jpg`));
    assert.equal(next.status, 200);
    assert.equal(silent.lines.length, asked);
    assert.ok(next.ms < TRACKER_TIMEOUT_MS, `${next.ms} ms`);
  });

  it('all trackers down: 503 within a second, and no fallback', HANG_GUARD, async () => {
    const a = await downTracker();
    const b = await downTracker();
    const s = await extraStack([a.address, b.address], [static1.url, static2.url], { timeoutMs: 1000 });
    static1.put('/mix/while-down.png', 'on the static server');
    const r = await timed(() => get(`${s.url}/media/anything.jpg`));
    assert.equal(r.status, 503);
    assert.ok(r.ms < 1000, `${r.ms} ms`);
    assert.match(String(r.headers['cache-status']), /detail=tracker-unavailable/);
    // Tracker trouble is not "the file is not there": the route's fallback is not taken.
    const mix = await get(`${s.url}/mix/while-down.png`);
    assert.equal(mix.status, 503);
    assert.equal(static1.count('HEAD', '/mix/while-down.png'), 0);
    const line = s.log.requests().find((l) => l.url === '/media/anything.jpg');
    assert.equal(line?.status, 503);
  });

  it('a tracker coming back is used again', HANG_GUARD, async () => {
    const t = await extraTracker();
    const s = await extraStack([t.address]);
    storeInMogile('back/1.jpg', CAT, { on: t });
    assert.equal((await get(`${s.url}/media/back/1.jpg`)).status, 200);
    await t.stop();
    assert.equal((await get(`${s.url}/media/back/2.jpg`)).status, 503);
    assert.equal(await metric(s, 'memfront_mogile_tracker_up', { tracker: t.address }), 0);
    await t.restart();
    storeInMogile('back/3.jpg', CAT, { on: t });
    // It was marked dead for a few seconds after failing; then it is asked again.
    await until(async () => (await metric(s, 'memfront_mogile_tracker_up', { tracker: t.address })) === 1, 10_000, 'the tracker back in rotation');
    const r = await get(`${s.url}/media/back/3.jpg`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, CAT);
    assert.equal(t.queries('back/3.jpg'), 1);
  });
});

describe('to: "static"', () => {
  it('HEAD 404 on the first server: served from the second, with the request\'s own path', HANG_GUARD, async () => {
    static2.put('/assets/app.css', 'body { color: teal }', 'text/css');
    const r = await get(`${stack.url}/assets/app.css?v=3`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'body { color: teal }');
    assert.equal(r.headers['content-type'], 'text/css');
    assert.equal(static1.count('HEAD', '/assets/app.css'), 1);
    assert.equal(static2.count('HEAD', '/assets/app.css'), 1);
    assert.equal(static2.count('GET', '/assets/app.css'), 1);
    assert.deepEqual(static2.seen.filter((x) => x.url.startsWith('/assets/app.css')).map((x) => x.url), ['/assets/app.css?v=3', '/assets/app.css?v=3']);
    assert.equal(static1.count('GET', '/assets/app.css'), 0);
  });

  it('none has it: the backend answers', HANG_GUARD, async () => {
    const r = await get(`${stack.url}/assets/backend-only.css`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'backend: GET /assets/backend-only.css\n');
    assert.equal(backend.count('/assets/backend-only.css'), 1);
    assert.equal(static1.count('HEAD', '/assets/backend-only.css'), 1);
    assert.equal(static2.count('HEAD', '/assets/backend-only.css'), 1);
  });

  it('a 3xx is the server knowing where the file is: passed on to the client', HANG_GUARD, async () => {
    static1.redirect('/assets/old.css', '/assets/new.css', 301);
    const r = await get(`${stack.url}/assets/old.css`);
    assert.equal(r.status, 301);
    assert.equal(r.headers.location, '/assets/new.css');
    assert.equal(backend.count('/assets/old.css'), 0);
  });

  it('Range is carried to the static server and the part is not stored', HANG_GUARD, async () => {
    static1.put('/assets/digits.txt', '0123456789', 'text/plain');
    const part = await get(`${stack.url}/assets/digits.txt`, { headers: { Range: 'bytes=-3' } });
    assert.equal(part.status, 206);
    assert.equal(part.body.toString(), '789');
    await stack.mf.settled();
    const whole = await get(`${stack.url}/assets/digits.txt`);
    assert.equal(whole.headers['x-cache'], 'MISS');
    assert.equal(whole.body.toString(), '0123456789');
  });

  it('methods other than GET and HEAD go to the backend', HANG_GUARD, async () => {
    static1.put('/assets/form', 'a static file');
    const r = await get(`${stack.url}/assets/form`, { method: 'POST' });
    assert.equal(r.body.toString(), 'backend: POST /assets/form\n');
    assert.equal(static1.count('HEAD', '/assets/form'), 0);
  });

  it('a hot path costs one HEAD, not one per request', HANG_GUARD, async () => {
    static2.put('/assets/hot.css', 'hot', 'text/css');
    for (let i = 0; i < 5; i++) {
      const r = await get(`${uncached.url}/assets/hot.css`);
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'hot');
    }
    assert.equal(static2.count('GET', '/assets/hot.css'), 5, 'every request reached the route');
    assert.equal(static1.count('HEAD', '/assets/hot.css'), 1);
    assert.equal(static2.count('HEAD', '/assets/hot.css'), 1);
  });

  it('the remembered server no longer serving the path: the servers are asked again at once', HANG_GUARD, async () => {
    const a = await FakeFileServer.start({ '/assets/moving.css': 'on A' });
    const b = await FakeFileServer.start({ '/assets/moving.css': 'on B' });
    try {
      const s = await extraStack([tracker.address], [a.url, b.url], { cache: false });
      assert.equal((await get(`${s.url}/assets/moving.css`)).body.toString(), 'on A');
      // The file leaves A: the remembered answer fails, and the next server is found.
      a.remove('/assets/moving.css');
      const moved = await get(`${s.url}/assets/moving.css`);
      assert.equal(moved.status, 200);
      assert.equal(moved.body.toString(), 'on B');
      assert.deepEqual([a.count('HEAD', '/assets/moving.css'), a.count('GET', '/assets/moving.css')], [2, 2]);
      assert.equal(b.count('HEAD', '/assets/moving.css'), 1);
      // A dies while remembered for another path: it is marked down and not asked again.
      b.put('/assets/other.css', 'other on B');
      a.put('/assets/other.css', 'other on A');
      assert.equal((await get(`${s.url}/assets/other.css`)).body.toString(), 'other on A');
      await a.close();
      assert.equal((await get(`${s.url}/assets/other.css`)).body.toString(), 'other on B');
      assert.equal(await metric(s, 'memfront_static_server_up', { server: a.url }), 0);
      assert.equal(backend.count('/assets/moving.css') + backend.count('/assets/other.css'), 0);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a dead static server is skipped, marked down in /healthz and /metrics', HANG_GUARD, async () => {
    const dead = await FakeFileServer.start();
    await dead.close();
    const s = await extraStack([tracker.address], [dead.url, static2.url]);
    static2.put('/assets/after-dead.css', 'from the second');
    const r = await get(`${s.url}/assets/after-dead.css`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'from the second');
    assert.equal(await metric(s, 'memfront_static_server_up', { server: dead.url }), 0);
    assert.equal(await metric(s, 'memfront_static_server_up', { server: static2.url }), 1);
    const h = await healthz(s);
    assert.deepEqual(
      h.staticServers.map((x: any) => [x.server, x.up, x.inRotation]),
      [[dead.url, false, false], [static2.url, true, true]],
    );
  });
});

describe('fallback', () => {
  it('mogile to static: an unknown key is served from the static servers', HANG_GUARD, async () => {
    static2.put('/mix/logo.png', 'PNG from the old static server', 'image/png');
    const r = await get(`${stack.url}/mix/logo.png`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'PNG from the old static server');
    assert.equal(tracker.queries('logo.png'), 1);
    assert.equal(static2.count('GET', '/mix/logo.png'), 1);
  });

  it('mogile to static: no path answering falls back too; with the file in MogileFS, static is never asked', HANG_GUARD, async () => {
    tracker.setPaths('gone.png', [`${deadNode.url}${FID(9100)}`]);
    static1.put('/mix/gone.png', 'still on the static server');
    const r = await get(`${stack.url}/mix/gone.png`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'still on the static server');

    storeInMogile('moved.png', CAT);
    const moved = await get(`${stack.url}/mix/moved.png`);
    assert.deepEqual(moved.body, CAT);
    assert.equal(static1.count('HEAD', '/mix/moved.png') + static2.count('HEAD', '/mix/moved.png'), 0);
  });

  it('mogile to static, neither has it: the backend answers', HANG_GUARD, async () => {
    const r = await get(`${stack.url}/mix/nowhere.png`);
    assert.equal(r.status, 200);
    assert.equal(r.body.toString(), 'backend: GET /mix/nowhere.png\n');
  });

  it('mogile to backend; a tracker ERR is a 502 whatever the fallback', HANG_GUARD, async () => {
    const r = await get(`${stack.url}/mb/not-in-mogile.txt`);
    assert.equal(r.body.toString(), 'backend: GET /mb/not-in-mogile.txt\n');
    tracker.setError('err.png', 'some_failure', 'nope');
    const err = await get(`${stack.url}/mix/err.png`);
    assert.equal(err.status, 502);
    assert.equal(static1.count('HEAD', '/mix/err.png') + static2.count('HEAD', '/mix/err.png'), 0);
  });
});

describe('health', () => {
  it('/healthz lists the trackers and static servers, /metrics has their gauges', HANG_GUARD, async () => {
    const h = await healthz(stack);
    assert.equal(h.status, 'ok');
    assert.deepEqual(h.trackers.map((t: any) => [t.server, t.up, t.inRotation]), [[tracker.address, true, true]]);
    assert.deepEqual(h.staticServers.map((x: any) => [x.server, x.up, x.inRotation]), [[static1.url, true, true], [static2.url, true, true]]);
    assert.equal(await metric(stack, 'memfront_mogile_tracker_up', { tracker: tracker.address }), 1);
    assert.equal(await metric(stack, 'memfront_static_server_up', { server: static1.url }), 1);
    assert.equal(await metric(stack, 'memfront_static_server_up', { server: static2.url }), 1);
  });
});
