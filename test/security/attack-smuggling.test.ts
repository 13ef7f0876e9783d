// Attack suite, desync / request smuggling (issue 15, finding 1, and the framing cases the
// issue lists as already handled). Every upstream is a raw recording server: the assertion is
// about the bytes each received, what the attacker got, and what the next visitor gets.
//
// Decision under test: a GET, HEAD, OPTIONS or DELETE carrying a body (Content-Length > 0 or
// any Transfer-Encoding) gets 400 and reaches no upstream, on every route.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { FakeTracker } from '../helpers/fake-tracker.js';
import { rawRequest, req, startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { sleep, startOffloadServer, visit } from '../helpers/security.js';

const HOST = 'victim.test';
/** Long enough for bytes memfront sent upstream to have arrived on loopback. */
const QUIET_MS = 150;

let mc: MemcachedProcess;
let backend: RecordingBackend;
let svc: RecordingBackend;
let statics: RecordingBackend;
let files: RecordingBackend;
let offloadBase: RecordingBackend;
let tracker: FakeTracker;
let stack: Stack;
let offloadServer: Stack;
let n = 0;

const upstreams = () => [backend, svc, statics, files, offloadBase];

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend({
    '/svc/x': () => ({ status: 200, headers: { 'X-Reproxy-Service': 'images', 'Content-Type': 'text/plain' }, body: '' }),
  });
  [svc, statics, files, offloadBase] = await Promise.all([startRecordingBackend(), startRecordingBackend(), startRecordingBackend(), startRecordingBackend()]);
  tracker = await FakeTracker.start();
  tracker.domain = 'www';
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, staleWhileRevalidate: 0, staleIfError: 0 },
    reproxy: { enabled: true, allowedHosts: ['127.0.0.1'], services: { images: [svc.url] } },
    mogile: { trackers: [tracker.address], domain: 'www', timeoutMs: 500 },
    static: { servers: [statics.url] },
    routes: [
      { match: '^/assets/', to: 'static' },
      { match: '^/mb/([^?]*)', to: 'mogile', key: '$1', fallback: 'backend' },
      { match: '^/ms/([^?]*)', to: 'mogile', key: '$1', fallback: 'static' },
      { match: '^/dl/(.*)$', to: 'reproxy', url: `${files.url}/files/$1` },
    ],
  });
  offloadServer = await startOffloadServer(mc.address, offloadBase.url);
});

after(async () => {
  await Promise.all([stack?.close(), offloadServer?.close()]);
  await Promise.all([...upstreams().map((u) => u?.close()), tracker?.close()]);
  await mc?.stop();
});

beforeEach(async () => {
  await Promise.all([stack.mf.settled(), offloadServer.mf.settled()]);
  for (const u of upstreams()) u.reset();
  tracker.lines.length = 0;
});

const port = () => stack.mf.port;

/** A whole request line + headers, hidden as a body: what the backend must never see as a request. */
function hidden(tag: string): string {
  return `GET /smuggled-${tag} HTTP/1.1\r\nHost: ${HOST}\r\nX-Smuggled: yes\r\n\r\n`;
}

function chunkedBody(payload: string): string {
  return `${Buffer.byteLength(payload, 'latin1').toString(16)}\r\n${payload}\r\n0\r\n\r\n`;
}

function allUpstreamBytes(): string {
  return upstreams().map((u) => u.allBytes()).join('');
}

function upstreamRequests(): string[] {
  return upstreams().flatMap((u) => u.requests().map((r) => `${u.port} ${r.method} ${r.target}`));
}

/** 400, and not a byte of it upstream; then the next visitor of the backend gets its own page. */
async function assertRefused(method: string, path: string, headers: string[], body: string, server = port()): Promise<void> {
  const r = await rawRequest(server, req(method, path, [`Host: ${HOST}`, ...headers], body), { methods: [method], timeoutMs: 5000 });
  await sleep(QUIET_MS);
  const status = r.responses[0]?.status;
  assert.equal(status, 400, `${method} ${path} with a body: got ${status ?? 'no answer'}; upstream saw: ${upstreamRequests().join(' | ')}`);
  assert.deepEqual(upstreamRequests(), [], 'no upstream request at all');
  assert.ok(!allUpstreamBytes().includes('smuggled'), 'the hidden request never reached an upstream');
  assert.equal(tracker.queries(), 0, 'no tracker question either');
}

async function assertNextVisitorGetsOwnPage(): Promise<void> {
  const path = `/next-${++n}`;
  const v = await visit(stack.url, path, { host: HOST });
  assert.equal(v.status, 200);
  assert.ok(v.body.toString().startsWith(`GET ${path}\n`), `the next visitor got its own page, not: ${v.body.toString().slice(0, 80)}`);
  assert.ok(!v.body.toString().includes('smuggled'));
}

describe('#1 smuggling: a body on GET/HEAD/OPTIONS/DELETE is refused, per method (backend route)', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'DELETE']) {
    it(`#1 smuggling: ${method} with chunked body gets 400 and reaches no backend`, async () => {
      await assertRefused(method, `/te-${method.toLowerCase()}`, ['Transfer-Encoding: chunked'], chunkedBody(hidden(`te-${method}`)));
      await assertNextVisitorGetsOwnPage();
    });

    it(`#1 smuggling: ${method} with Content-Length body gets 400 and reaches no backend`, async () => {
      const body = hidden(`cl-${method}`);
      await assertRefused(method, `/cl-${method.toLowerCase()}`, [`Content-Length: ${Buffer.byteLength(body)}`], body);
      await assertNextVisitorGetsOwnPage();
    });
  }

  it('#1 smuggling: GET with an empty chunked body (Transfer-Encoding alone) gets 400', async () => {
    await assertRefused('GET', '/te-empty', ['Transfer-Encoding: chunked'], '0\r\n\r\n');
  });

  it('#1 smuggling: the hidden request cannot answer a pending logged-in request nor poison the next anonymous page', async () => {
    // The attack of the issue: a smuggled request whose answer would be taken as the answer
    // to the next request on the pooled backend connection.
    backend.on('/account', () => ({ status: 200, headers: { 'Content-Type': 'text/html', 'Cache-Control': 'private' }, body: 'ALICE ACCOUNT PAGE', delayMs: 100 }));
    const attack = req('GET', '/poison-a', [`Host: ${HOST}`, 'Transfer-Encoding: chunked'], chunkedBody(hidden('poison')));
    const [atk] = await Promise.all([
      rawRequest(port(), attack, { timeoutMs: 5000 }),
      visit(stack.url, '/account', { host: HOST, cookie: 'PHPSESSID=alice' }),
    ]);
    assert.equal(atk.responses[0]?.status, 400);
    await stack.mf.settled();
    const anon = await visit(stack.url, '/poison-b', { host: HOST });
    assert.ok(anon.body.toString().startsWith('GET /poison-b\n'), `anonymous page is its own: ${anon.body.toString().slice(0, 60)}`);
    await stack.mf.settled();
    const again = await visit(stack.url, '/poison-b', { host: HOST });
    assert.ok(!again.body.toString().includes('ALICE'), 'no one is served Alice\'s page');
    assert.ok(!backend.allBytes().includes('smuggled'));
  });
});

describe('#1 smuggling: GET with a chunked body, per route', () => {
  const routes: Array<[string, string]> = [
    ['reproxy service', '/svc/x'],
    ['static', '/assets/app.css'],
    ['mogile, fallback backend', '/mb/missing.jpg'],
    ['mogile, fallback static', '/ms/missing.jpg'],
    ['reproxy route', '/dl/file.txt'],
  ];
  for (const [name, path] of routes) {
    it(`#1 smuggling: ${name} route: GET with chunked body gets 400 and reaches no upstream`, async () => {
      await assertRefused('GET', path, ['Transfer-Encoding: chunked'], chunkedBody(hidden(name.replace(/\W+/g, '-'))));
    });
    it(`#1 smuggling: ${name} route: HEAD with Content-Length body gets 400 and reaches no upstream`, async () => {
      const body = hidden(`head-${name.replace(/\W+/g, '-')}`);
      await assertRefused('HEAD', path, [`Content-Length: ${body.length}`], body);
    });
  }

  it('#1 smuggling: offload base: GET with chunked body to an offload server gets 400 and reaches no base', async () => {
    await assertRefused('GET', '/files/big.bin', ['Transfer-Encoding: chunked'], chunkedBody(hidden('offload')), offloadServer.mf.port);
  });
});

describe('#1 smuggling: POST bodies are framed by memfront', () => {
  it('#1 smuggling: POST with chunked body reaches the backend as exactly one framed request; the next request on that connection is the next client\'s', async () => {
    const payload = `field=1&${hidden('post')}`;
    const r = await rawRequest(port(), req('POST', '/form', [`Host: ${HOST}`, 'Transfer-Encoding: chunked', 'Content-Type: text/plain'], chunkedBody(payload)), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    const next = await visit(stack.url, '/after-post', { host: HOST });
    assert.ok(next.body.toString().startsWith('GET /after-post\n'), 'the next visitor got its own page');
    const posts = backend.requests().filter((q) => q.method === 'POST');
    assert.equal(posts.length, 1);
    assert.equal(posts[0].body.toString('latin1'), payload, 'the body arrived whole, as one framed body');
    assert.ok(posts[0].header('content-length') !== undefined || /chunked/i.test(posts[0].header('transfer-encoding') ?? ''), 'framed');
    assert.ok(!backend.requests().some((q) => q.target.includes('smuggled')), 'no hidden request');
    const conn = backend.connections.find((c) => c.id === posts[0].conn)!;
    const after = conn.requests[posts[0].index + 1];
    if (after) assert.equal(after.target, '/after-post', 'the next request on that backend connection is the next client\'s');
  });

  it('#1 smuggling: POST with Content-Length body is framed with the same length', async () => {
    const payload = `a=1&${hidden('post-cl')}`;
    const r = await rawRequest(port(), req('POST', '/form-cl', [`Host: ${HOST}`, `Content-Length: ${payload.length}`], payload), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    await assertNextVisitorGetsOwnPage();
    const post = backend.requests().find((q) => q.method === 'POST')!;
    assert.equal(post.body.toString('latin1'), payload);
    assert.ok(!backend.requests().some((q) => q.target.includes('smuggled')));
  });
});

describe('already handled: ambiguous framing is refused at the door (regressions)', () => {
  async function refusedOrClosed(bytes: string, what: string) {
    for (const u of upstreams()) u.reset();
    const r = await rawRequest(port(), bytes, { timeoutMs: 5000 });
    await sleep(QUIET_MS);
    const status = r.responses[0]?.status;
    assert.ok(status === 400 || (status === undefined && r.closed), `${what}: 400 or closed, got ${status}`);
    assert.ok(!backend.allBytes().includes('smuggled'), `${what}: nothing hidden reached the backend`);
    assert.equal(backend.requests().length, 0, `${what}: no backend request`);
    await assertNextVisitorGetsOwnPage();
  }

  it('#1 regression: Content-Length together with Transfer-Encoding is refused', async () => {
    const body = chunkedBody(hidden('clte'));
    await refusedOrClosed(`POST /clte HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n${body}`, 'CL+TE');
  });

  it('#1 regression: obfuscated Transfer-Encoding is refused', async () => {
    const body = chunkedBody(hidden('obf'));
    await refusedOrClosed(`POST /obf HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: ${body.length}\r\nTransfer-Encoding : chunked\r\n\r\n${body}`, 'TE with space before colon');
    await refusedOrClosed(`POST /obf2 HTTP/1.1\r\nHost: ${HOST}\r\nTransfer-Encoding: xchunked\r\n\r\n${body}`, 'TE xchunked');
  });

  it('#1 regression: duplicate Content-Length is refused', async () => {
    const body = hidden('dupcl');
    await refusedOrClosed(`POST /dupcl HTTP/1.1\r\nHost: ${HOST}\r\nContent-Length: 0\r\nContent-Length: ${body.length}\r\n\r\n${body}`, 'two Content-Length');
  });

  it('#1 regression: obs-fold in a header is refused', async () => {
    await refusedOrClosed(`GET /fold HTTP/1.1\r\nHost: ${HOST}\r\nX-Folded: a\r\n b\r\n\r\n`, 'obs-fold');
  });

  it('#1 regression: a bare LF in the head is refused', async () => {
    await refusedOrClosed(`GET /barelf HTTP/1.1\r\nHost: ${HOST}\nX-Smuggled: smuggled\r\n\r\n`, 'bare LF');
  });
});
