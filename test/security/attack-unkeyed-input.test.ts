// Attack suite, unkeyed input (issue 15, findings 2, 3, 18, and the forwarding headers the
// issue lists as already stripped). The invariant: what the backend saw is a function of the
// cache key. The backend reflects what it received into a cacheable page, as a real
// framework would reflect a parameter or a rebuilt URL; the next visitor must not get it.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawRequest, req, startRecordingBackend, type RecordedRequest, type RecordingBackend } from '../helpers/recording-backend.js';
import { visit } from '../helpers/security.js';

const HOST = 'victim.test';

let mc: MemcachedProcess;
let backend: RecordingBackend;
let svc: RecordingBackend;
let statics: RecordingBackend;
let stack: Stack;
/** Every peer is a trusted proxy here. */
let trusted: Stack;

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend({
    '/svc/x': () => ({ status: 200, headers: { 'X-Reproxy-Service': 'images', 'Content-Type': 'text/plain' }, body: '' }),
  });
  [svc, statics] = await Promise.all([startRecordingBackend(), startRecordingBackend()]);
  const common = {
    backend: { url: backend.url, timeoutMs: 2000 },
    reproxy: { enabled: true, allowedHosts: ['127.0.0.1'], services: { images: [svc.url] } },
    static: { servers: [statics.url] },
    routes: [{ match: '^/assets/', to: 'static' }],
  };
  stack = await startStack({ ...common, cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, staleWhileRevalidate: 0, staleIfError: 0 } });
  trusted = await startStack({
    ...common,
    trustedProxies: ['127.0.0.0/8', '::1/128'],
    cache: { memcached: { servers: [mc.address], timeoutMs: 500, keyPrefix: 'trusted:' }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
});

after(async () => {
  await Promise.all([stack?.close(), trusted?.close()]);
  await Promise.all([backend?.close(), svc?.close(), statics?.close()]);
  await mc?.stop();
});

beforeEach(async () => {
  await Promise.all([stack.mf.settled(), trusted.mf.settled()]);
  backend.reset();
  svc.reset();
  statics.reset();
});

function only(u: RecordingBackend, path: string): RecordedRequest {
  const got = u.requests().filter((r) => r.target.split('?')[0] === path && r.method === 'GET');
  assert.equal(got.length, 1, `one GET ${path} upstream, got: ${u.requests().map((r) => `${r.method} ${r.target}`).join(' | ')}`);
  return got[0];
}

describe('#2 ignored query parameters never reach the backend', () => {
  it('#2 unkeyed query: ?a=1&utm_content=<script> sends ?a=1 upstream; the next visitor of ?a=1 gets no script', async () => {
    const attack = await visit(stack.url, '/q2?a=1&utm_content=%3Cscript%3Ealert(1)%3C%2Fscript%3E', { host: HOST });
    assert.equal(attack.status, 200);
    assert.equal(only(backend, '/q2').target, '/q2?a=1', 'the backend is asked the keyed URL');
    await stack.mf.settled();
    const next = await visit(stack.url, '/q2?a=1', { host: HOST });
    assert.ok(!/script/i.test(next.body.toString()), `the next visitor gets no script: ${next.body.toString().split('\n')[0]}`);
  });

  it('#2 unkeyed query: ?utm_source=x;lang=evil sends no lang upstream; the bare path is not poisoned', async () => {
    await visit(stack.url, '/q2semi?utm_source=x;lang=evil', { host: HOST });
    const seen = only(backend, '/q2semi');
    assert.ok(!seen.target.includes('lang'), `backend saw ${seen.target}`);
    await stack.mf.settled();
    const next = await visit(stack.url, '/q2semi', { host: HOST });
    assert.ok(!next.body.toString().includes('evil'), `next visitor: ${next.body.toString().split('\n')[0]}`);
  });

  it('#2 unkeyed query: an encoded ignored name (utm%5Fsource) is removed upstream too', async () => {
    await visit(stack.url, '/q2enc?b=2&utm%5Fsource=evil', { host: HOST });
    const seen = only(backend, '/q2enc');
    assert.equal(seen.target, '/q2enc?b=2');
  });

  it('#2 keyed form upstream: parameters are sent ordered by name (?b=2&a=1 → ?a=1&b=2)', async () => {
    await visit(stack.url, '/q2order?b=2&a=1', { host: HOST });
    assert.equal(only(backend, '/q2order').target, '/q2order?a=1&b=2');
    await stack.mf.settled();
    const hit = await visit(stack.url, '/q2order?a=1&b=2', { host: HOST });
    assert.equal(hit.headers['x-cache'], 'HIT', 'one entry for both spellings');
  });
});

describe('#18 repeated query parameters keep their order', () => {
  it('#18 query order: ?id=2&id=1 and ?id=1&id=2 are two entries, each fetched as sent', async () => {
    const first = await visit(stack.url, '/q18?id=2&id=1', { host: HOST });
    assert.ok(first.body.toString().startsWith('GET /q18?id=2&id=1\n'), `backend saw: ${first.body.toString().split('\n')[0]}`);
    await stack.mf.settled();
    const second = await visit(stack.url, '/q18?id=1&id=2', { host: HOST });
    assert.equal(second.headers['x-cache'], 'MISS', 'not merged with ?id=2&id=1');
    assert.ok(second.body.toString().startsWith('GET /q18?id=1&id=2\n'), `second got: ${second.body.toString().split('\n')[0]}`);
    assert.equal(backend.requests().filter((r) => r.target.startsWith('/q18')).length, 2);
  });

  it('#18 query order: other names sort around repeated ones, which keep their order (?z=1&id=2&a=0&id=1 → ?a=0&id=2&id=1&z=1)', async () => {
    await visit(stack.url, '/q18b?z=1&id=2&a=0&id=1', { host: HOST });
    assert.equal(only(backend, '/q18b').target, '/q18b?a=0&id=2&id=1&z=1');
  });
});

const FORBIDDEN = [
  'X-Forwarded-Scheme',
  'X-Forwarded-Ssl',
  'X-Forwarded-Port',
  'X-Forwarded-Prefix',
  'X-Forwarded-Server',
  'X-Host',
  'X-HTTP-Method-Override',
  'X-HTTP-Method',
  'X-Method-Override',
  'X-Original-Method',
];

function attackHeaders(): string[] {
  return FORBIDDEN.map((h) => `${h}: ${/method/i.test(h) ? 'DELETE' : /port/i.test(h) ? '4443' : /ssl/i.test(h) ? 'on' : /scheme/i.test(h) ? 'https' : 'evil.example'}`);
}

function assertNoneOf(r: RecordedRequest, where: string) {
  for (const h of FORBIDDEN) assert.equal(r.header(h), undefined, `${h} reached ${where}: ${r.header(h)}`);
}

describe('#3 unkeyed headers never reach any upstream', () => {
  it('#3 unkeyed headers: X-Forwarded-Scheme/-Ssl/-Port/-Prefix/-Server, X-Host and the method overrides do not reach the backend', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/h3', [`Host: ${HOST}`, ...attackHeaders()]), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    assertNoneOf(only(backend, '/h3'), 'the backend');
    await stack.mf.settled();
    const next = await visit(stack.url, '/h3', { host: HOST });
    assert.ok(!next.body.toString().includes('evil.example'), 'the next visitor gets no page built from them');
  });

  for (const h of FORBIDDEN) {
    it(`#3 unkeyed headers: ${h} from a trusted proxy does not reach the backend either`, async () => {
      const path = `/h3t-${h.toLowerCase()}`;
      const r = await rawRequest(trusted.mf.port, req('GET', path, [`Host: ${HOST}`, `${h}: evil`]), { timeoutMs: 5000 });
      assert.equal(r.responses[0]?.status, 200);
      assert.equal(only(backend, path).header(h), undefined, `${h} reached the backend`);
    });
  }

  it('#3 unkeyed headers: not on a bypassed request (POST) either', async () => {
    const r = await rawRequest(stack.mf.port, req('POST', '/h3post', [`Host: ${HOST}`, 'Content-Length: 0', ...attackHeaders()]), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    const seen = backend.requests().find((q) => q.target === '/h3post');
    assert.ok(seen);
    assertNoneOf(seen, 'the backend (POST)');
  });

  it('#3 unkeyed headers: not to an X-Reproxy-Service target', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/svc/x', [`Host: ${HOST}`, ...attackHeaders()]), { timeoutMs: 5000 });
    assert.ok(r.responses[0], 'answered');
    assert.ok(svc.requests().length >= 1, 'the service was asked');
    for (const q of svc.requests()) assertNoneOf(q, 'the reproxy service');
  });

  it('#3 unkeyed headers: not to a static server', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/assets/h3.css', [`Host: ${HOST}`, ...attackHeaders()]), { timeoutMs: 5000 });
    assert.ok(r.responses[0], 'answered');
    assert.ok(statics.requests().length >= 1, 'the static server was asked');
    for (const q of statics.requests()) assertNoneOf(q, 'the static server');
  });
});

describe('already handled: forwarding headers are memfront\'s (regressions)', () => {
  it('#3 regression: client X-Forwarded-Host, Forwarded, X-Original-URL, X-Rewrite-URL are stripped or replaced', async () => {
    const r = await rawRequest(
      stack.mf.port,
      req('GET', '/h3reg', [`Host: ${HOST}`, 'X-Forwarded-Host: evil.example', 'Forwarded: host=evil.example;proto=https', 'X-Original-URL: /admin', 'X-Rewrite-URL: /admin', 'X-Forwarded-Proto: https']),
      { timeoutMs: 2000 },
    );
    assert.equal(r.responses[0]?.status, 200);
    const seen = only(backend, '/h3reg');
    assert.equal(seen.header('x-forwarded-host'), HOST);
    assert.equal(seen.header('x-forwarded-proto'), 'http');
    assert.equal(seen.header('forwarded'), undefined);
    assert.equal(seen.header('x-original-url'), undefined);
    assert.equal(seen.header('x-rewrite-url'), undefined);
  });

  it('#3 regression: headers named in Connection are not forwarded', async () => {
    const r = await rawRequest(stack.mf.port, req('GET', '/h3conn', [`Host: ${HOST}`, 'Connection: keep-alive, X-Secret', 'X-Secret: evil']), { timeoutMs: 5000 });
    assert.equal(r.responses[0]?.status, 200);
    assert.equal(only(backend, '/h3conn').header('x-secret'), undefined);
  });
});
