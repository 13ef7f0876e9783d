// Attack suite, routes (issue 15, findings 5, 11 and the Host half of 19, and the reproxy SSRF
// forms listed as already handled): a route's `$1` cannot leave its template, every upstream
// other than the backend gets the Host of the URL it is sent to, and the offload loop guard
// belongs to the request that carries it.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { FakeTracker } from '../helpers/fake-tracker.js';
import { rawRequest, req, startRecordingBackend, type RecordingBackend, type Reply } from '../helpers/recording-backend.js';
import { sleep, startOffloadServer, visit } from '../helpers/security.js';

const HOST = 'victim.test';
const MB = 1024 * 1024;
const BIG = Buffer.alloc(2 * MB, 'b');
/** Large enough that storing it (in chunks) takes a while after the answer was sent. */
const BIGGER = Buffer.alloc(12 * MB, 'c');

let mc: MemcachedProcess;
let backend: RecordingBackend;
let files: RecordingBackend;
/** An allowed reproxy host (127.0.0.2, loopback on Linux). */
let files2: RecordingBackend;
let svc: RecordingBackend;
let statics: RecordingBackend;
let storage: RecordingBackend;
let offloadBase: RecordingBackend;
/** Must never be contacted: 127.0.0.1 is not an allowed reproxy host here. */
let trap: RecordingBackend;
/** On an allowed host, reached only through URL forms that must be refused. */
let trap2: RecordingBackend;
let tracker: FakeTracker;
let stack: Stack;
let offloadServer: Stack;

const all = () => [backend, files, files2, svc, statics, storage, offloadBase, trap, trap2];

before(async () => {
  mc = await startMemcached({ memoryMB: 128 });
  [files, svc, statics, storage, offloadBase, trap] = await Promise.all([
    startRecordingBackend(),
    startRecordingBackend(),
    startRecordingBackend(),
    startRecordingBackend(),
    startRecordingBackend(),
    startRecordingBackend(),
  ]);
  [files2, trap2] = await Promise.all([startRecordingBackend({}, '127.0.0.2'), startRecordingBackend({}, '127.0.0.2')]);
  const big = (delayMs: number, body = BIG) => (): Reply => ({ status: 200, delayMs, headers: { 'Content-Type': 'application/octet-stream', 'Cache-Control': 'public, max-age=300' }, body });
  backend = await startRecordingBackend({
    '/svc/x': () => ({ status: 200, headers: { 'X-Reproxy-Service': 'images', 'Content-Type': 'text/plain' }, body: '' }),
    '/xr': () => ({ status: 200, headers: { 'X-Reproxy-URL': `${files2.url}/files/xr.txt`, 'Content-Type': 'text/plain' }, body: '' }),
    '/offload/concurrent.bin': big(300),
    '/offload/after.bin': big(0, BIGGER),
    '/offload/head.bin': big(300),
  });
  tracker = await FakeTracker.start();
  tracker.domain = 'www';
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, maxObjectSize: 16 * MB, staleWhileRevalidate: 0, staleIfError: 0 },
    reproxy: { enabled: true, allowedHosts: ['127.0.0.2'], services: { images: [svc.url] } },
    mogile: { trackers: [tracker.address], domain: 'www', timeoutMs: 500 },
    static: { servers: [statics.url] },
    routes: [
      { match: '^/dl/(.*)$', to: 'reproxy', url: `${files.url}/files/$1` },
      { match: '^/media/([^?]*)', to: 'mogile', key: 'img/$1' },
      { match: '^/assets/', to: 'static' },
      { match: '^/offload/', to: 'offload', servers: ['http://127.0.0.1:9'], minSize: MB },
    ],
  });
  offloadServer = await startOffloadServer(mc.address, offloadBase.url);
});

after(async () => {
  await Promise.all([stack?.close(), offloadServer?.close()]);
  await Promise.all([...all().map((u) => u?.close()), tracker?.close()]);
  await mc?.stop();
});

beforeEach(async () => {
  await Promise.all([stack.mf.settled(), offloadServer.mf.settled()]);
  for (const u of all()) u.reset();
  tracker.lines.length = 0;
});

describe('#5 substituted paths stay in their template', () => {
  const escapes = [
    '/dl/../secret',
    '/dl/sub/../../secret',
    '/dl/..\\admin',
    '/dl/%2e%2e/secret',
    '/dl/.%2E/secret',
    '/dl/%2E%2e%2fsecret',
    '/dl/a%2fb',
    '/dl/a%2F..%2F..%2Fsecret',
    '/dl/./x',
    '/dl/%2e/x',
  ];
  for (const path of escapes) {
    it(`#5 route escape: ${path} gets 400 and the file server is asked nothing`, async () => {
      const r = await rawRequest(stack.mf.port, req('GET', path, [`Host: ${HOST}`]), { timeoutMs: 5000 });
      await sleep(100);
      assert.equal(r.responses[0]?.status, 400, `got ${r.responses[0]?.status}; file server saw: ${files.requests().map((q) => q.target).join(' | ')}`);
      assert.deepEqual(files.requests().map((q) => q.target), []);
      assert.ok(!backend.requests().some((q) => /secret|admin/.test(q.target)), 'nor the backend');
    });
  }

  it('#5 route escape: a mogile key with a dot-dot segment gets 400 and the tracker is asked nothing', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/media/%2e%2e/secret.jpg', [`Host: ${HOST}`]), { timeoutMs: 5000 });
    await sleep(100);
    assert.equal(r.responses[0]?.status, 400);
    assert.equal(tracker.queries(), 0);
  });

  it('#5 route escape: a clean path still goes where the template says', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/dl/sub/file.txt?v=1', [`Host: ${HOST}`]), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    assert.ok(files.requests().some((q) => q.target.startsWith('/files/sub/file.txt')), `asked: ${files.requests().map((q) => q.target).join(' | ')}`);
  });
});

describe('#5/#19 every upstream gets its own Host, never the client\'s', () => {
  it('#5 upstream Host: a reproxy route\'s file server gets the Host of its URL', async () => {
    await visit(stack.url, '/dl/host.txt', { host: HOST });
    const q = files.requests().find((x) => x.target === '/files/host.txt');
    assert.ok(q);
    assert.equal(q.header('host'), files.hostPort);
  });

  it('#5 upstream Host: an X-Reproxy-URL target gets the Host of its URL', async () => {
    await visit(stack.url, '/xr', { host: HOST });
    const q = files2.requests().find((x) => x.target === '/files/xr.txt');
    assert.ok(q, 'fetched');
    assert.equal(q.header('host'), files2.hostPort);
  });

  it('#5 upstream Host: a static server gets its own Host (probe and request)', async () => {
    await visit(stack.url, '/assets/site.css', { host: HOST });
    assert.ok(statics.requests().length >= 1);
    for (const q of statics.requests()) assert.equal(q.header('host'), statics.hostPort, `${q.method} ${q.target}`);
  });

  it('#19 upstream Host: an X-Reproxy-Service server gets its own Host', async () => {
    await visit(stack.url, '/svc/x', { host: HOST });
    assert.ok(svc.requests().length >= 1, 'the service was asked');
    for (const q of svc.requests()) assert.equal(q.header('host'), svc.hostPort, `${q.method} ${q.target}`);
  });

  it('#19 upstream Host: a MogileFS storage node gets its own Host', async () => {
    tracker.setPaths('img/cat.jpg', [`${storage.url}/dev1/0/000/000/0000000001.fid`]);
    const r = await visit(stack.url, '/media/cat.jpg', { host: HOST });
    assert.equal(r.status, 200);
    assert.ok(storage.requests().length >= 1, 'the storage node was asked');
    for (const q of storage.requests()) assert.equal(q.header('host'), storage.hostPort, `${q.method} ${q.target}`);
  });

  it('#19 regression: an offload server asks its base with the base\'s Host', async () => {
    await visit(offloadServer.url, '/files/x.bin', { host: HOST });
    assert.ok(offloadBase.requests().length >= 1);
    for (const q of offloadBase.requests()) assert.equal(q.header('host'), offloadBase.hostPort);
  });
});

describe('already handled: reproxy SSRF forms (regression)', () => {
  it('#5 regression: decimal, octal, hex and IPv6-mapped forms of a host not allowed, userinfo (even on an allowed host) and localhost(.) are never fetched', async () => {
    const P = trap.port;
    const forms = [
      `http://2130706433:${P}/x`,
      `http://0177.0.0.1:${P}/x`,
      `http://0x7f000001:${P}/x`,
      `http://[::ffff:127.0.0.1]:${P}/x`,
      `http://127.1:${P}/x`,
      `http://user:pw@127.0.0.2:${trap2.port}/x`,
      `http://localhost.:${P}/x`,
      `http://localhost:${P}/x`,
    ];
    for (const url of forms) {
      backend.on('/ssrf', () => ({ status: 200, headers: { 'X-Reproxy-URL': url, 'Content-Type': 'text/plain' }, body: '' }));
      const r = await visit(stack.url, `/ssrf?u=${encodeURIComponent(url)}`, { host: HOST });
      assert.equal(r.status, 502, `${url}: got ${r.status}`);
    }
    await sleep(100);
    assert.equal(trap.connections.length, 0, 'the trap on 127.0.0.1 was never contacted');
    assert.equal(trap2.connections.length, 0, 'the trap on 127.0.0.2 was never contacted');
  });
});

describe('#11 the offload loop guard is per request', () => {
  it('#11 offload guard: a request without X-Memfront-Offload arriving while a guarded one is fetched is redirected', async () => {
    const guarded = visit(stack.url, '/offload/concurrent.bin', { host: HOST, 'x-memfront-offload': '1' });
    await sleep(50);
    const plain = await visit(stack.url, '/offload/concurrent.bin', { host: HOST });
    const g = await guarded;
    assert.equal(g.status, 200, 'the guarded one is served');
    assert.equal(plain.status, 307, `the unguarded one is redirected, got ${plain.status} ${plain.headers['x-cache']} with ${plain.body.length} bytes`);
    assert.equal(plain.body.length, 0);
  });

  it('#11 offload guard: a request without the guard right after a guarded one (entry being stored) is redirected', async () => {
    const g = await visit(stack.url, '/offload/after.bin', { host: HOST, 'x-memfront-offload': '1' });
    assert.equal(g.status, 200);
    const plain = await visit(stack.url, '/offload/after.bin', { host: HOST });
    assert.equal(plain.status, 307, `got ${plain.status} ${plain.headers['x-cache']}`);
  });

  it('#11 offload guard: a HEAD without the guard alongside a guarded GET is redirected', async () => {
    const guarded = visit(stack.url, '/offload/head.bin', { host: HOST, 'x-memfront-offload': '1' });
    await sleep(50);
    const head = await visit(stack.url, '/offload/head.bin', { host: HOST }, 'HEAD');
    await guarded;
    assert.equal(head.status, 307, `got ${head.status} ${head.headers['x-cache']}`);
  });
});
