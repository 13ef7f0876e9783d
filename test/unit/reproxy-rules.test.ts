// Tests for what X-Reproxy-* headers may make memfront do: URL lists, the host/scheme/userinfo
// check, Cache-For, expected sizes, which answers are taken, and the headers either side.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  REPROXY_LIMITS,
  checkTarget,
  compileAllowedHosts,
  compilePreserve,
  judgeAnswer,
  mergeHeaders,
  parseCacheFor,
  parseExpectedSize,
  parseUrlList,
  pickHeaders,
  readInstruction,
  serviceTargets,
  targetRequestHeaders,
} from '../../src/policy/reproxy-rules.js';

// ---- parseUrlList

test('parseUrlList: whitespace-separated, any amount of it', () => {
  assert.deepEqual(parseUrlList('  http://a/1 \thttp://b/2\n http://c/3  '), { ok: true, urls: ['http://a/1', 'http://b/2', 'http://c/3'], ignored: 0 });
});

test('parseUrlList: empty or missing names no URL', () => {
  assert.deepEqual(parseUrlList(''), { ok: false, reason: 'empty' });
  assert.deepEqual(parseUrlList('   '), { ok: false, reason: 'empty' });
  assert.deepEqual(parseUrlList(undefined), { ok: false, reason: 'empty' });
});

test(`parseUrlList: at most ${REPROXY_LIMITS.maxUrls} URLs are tried, the rest counted as ignored`, () => {
  const urls = Array.from({ length: REPROXY_LIMITS.maxUrls + 3 }, (_, i) => `http://h/${i}`);
  const r = parseUrlList(urls.join(' '));
  assert.ok(r.ok);
  assert.deepEqual(r.urls, urls.slice(0, REPROXY_LIMITS.maxUrls));
  assert.equal(r.ignored, 3);
});

test(`parseUrlList: a header over ${REPROXY_LIMITS.maxHeaderLength} characters is refused whole`, () => {
  const long = `http://h/${'a'.repeat(REPROXY_LIMITS.maxHeaderLength)}`;
  assert.deepEqual(parseUrlList(long), { ok: false, reason: 'too-long' });
  assert.equal(parseUrlList('x'.repeat(REPROXY_LIMITS.maxHeaderLength)).ok, true);
});

// ---- checkTarget

const allowedHost = compileAllowedHosts(['127.0.0.1', 'Files.Example', '[::1]', 'localhost']);
const checks: Array<{ url: string; want: string; origin?: string; path?: string }> = [
  { url: 'http://127.0.0.1:8090/files/a.jpg', want: 'ok', origin: 'http://127.0.0.1:8090', path: '/files/a.jpg' },
  { url: 'https://files.example/a?b=c', want: 'ok', origin: 'https://files.example', path: '/a?b=c' },
  { url: 'HTTP://FILES.EXAMPLE:80/x', want: 'ok', origin: 'http://files.example', path: '/x' },
  { url: 'http://[::1]:9000/x', want: 'ok', origin: 'http://[::1]:9000' },
  // The path is normalised by the parser; what is checked is what is asked for.
  { url: 'http://127.0.0.1/a/../b', want: 'ok', path: '/b' },
  // A backslash is a path separator in http URLs: the host is still 127.0.0.1.
  { url: 'http://127.0.0.1\\@evil.example/', want: 'ok', origin: 'http://127.0.0.1' },
  { url: 'http://evil.example/x', want: 'host-not-allowed' },
  { url: 'http://127.0.0.2/x', want: 'host-not-allowed' },
  { url: 'http://127.0.0.1.evil.example/x', want: 'host-not-allowed' },
  { url: 'http://files.example.evil.example/', want: 'host-not-allowed' },
  // Names are matched, not resolved: localhost is allowed by name, its address is a different name.
  { url: 'http://localhost./x', want: 'host-not-allowed' },
  { url: 'http://127.0.0.1@evil.example/x', want: 'userinfo' },
  { url: 'http://127.0.0.1:8090@localhost:9/x', want: 'userinfo' },
  { url: 'http://user:pw@127.0.0.1/x', want: 'userinfo' },
  { url: 'http://@127.0.0.1/x', want: 'userinfo' },
  { url: 'http://:@127.0.0.1/x', want: 'userinfo' },
  { url: 'file:///etc/passwd', want: 'scheme' },
  { url: 'file://127.0.0.1/etc/passwd', want: 'scheme' },
  { url: 'ftp://127.0.0.1/x', want: 'scheme' },
  { url: 'gopher://127.0.0.1:11211/_stats', want: 'scheme' },
  { url: 'data:text/plain,hi', want: 'scheme' },
  { url: 'javascript:alert(1)', want: 'scheme' },
  { url: '/relative/path', want: 'invalid-url' },
  { url: 'http://', want: 'invalid-url' },
  { url: 'http://exa mple/', want: 'invalid-url' },
];
for (const c of checks) {
  test(`checkTarget: ${c.url} → ${c.want}`, () => {
    const r = checkTarget(c.url, { allowedHost });
    if (c.want === 'ok') {
      assert.ok(r.ok, JSON.stringify(r));
      if (c.origin) assert.equal(r.target.origin, c.origin);
      if (c.path) assert.equal(r.target.path, c.path);
    } else {
      assert.deepEqual(r, { ok: false, reason: c.want });
    }
  });
}

test('checkTarget: an empty allowedHosts allows nothing', () => {
  assert.deepEqual(checkTarget('http://127.0.0.1/x', { allowedHost: compileAllowedHosts([]) }), { ok: false, reason: 'host-not-allowed' });
});

test('checkTarget: a trusted origin (a route\'s literal URL) needs no allowedHosts entry, but userinfo is still refused', () => {
  const o = { allowedHost: compileAllowedHosts([]), trustedOrigins: new Set(['http://127.0.0.1:8090']) };
  assert.equal(checkTarget('http://127.0.0.1:8090/files/a', o).ok, true);
  assert.deepEqual(checkTarget('http://127.0.0.1:8091/files/a', o), { ok: false, reason: 'host-not-allowed' });
  assert.deepEqual(checkTarget('http://x@127.0.0.1:8090/files/a', o), { ok: false, reason: 'userinfo' });
});

// ---- serviceTargets

test('serviceTargets: each server with the request\'s path and query; a server path is a prefix', () => {
  assert.deepEqual(serviceTargets(['http://127.0.0.1:8090', 'https://img.example/base/'], '/a/b.jpg?w=1'), [
    { origin: 'http://127.0.0.1:8090', path: '/a/b.jpg?w=1', href: 'http://127.0.0.1:8090/a/b.jpg?w=1' },
    { origin: 'https://img.example', path: '/base/a/b.jpg?w=1', href: 'https://img.example/base/a/b.jpg?w=1' },
  ]);
  // A path starting with // cannot change the server.
  assert.equal(serviceTargets(['http://127.0.0.1:8090'], '//evil.example/x')[0].origin, 'http://127.0.0.1:8090');
});

// ---- parseExpectedSize, parseCacheFor

for (const [v, want] of [['1234', 1234], [' 0 ', 0], ['12a', undefined], ['-1', undefined], ['', undefined], [undefined, undefined], ['1e3', undefined]] as const) {
  test(`parseExpectedSize(${JSON.stringify(v)}) = ${want}`, () => assert.equal(parseExpectedSize(v), want));
}

const cacheFors: Array<[string | undefined, unknown]> = [
  ['60', { seconds: 60, headers: [] }],
  ['60; Content-Type', { seconds: 60, headers: ['Content-Type'] }],
  ['  300 ;  Content-Type   Content-Disposition ', { seconds: 300, headers: ['Content-Type', 'Content-Disposition'] }],
  ['30; Content-Type, ETag', { seconds: 30, headers: ['Content-Type', 'ETag'] }],
  ['30; Bad:Name Content-Type', { seconds: 30, headers: ['Content-Type'] }],
  ['0; Content-Type', undefined],
  ['soon', undefined],
  ['-5', undefined],
  [undefined, undefined],
];
for (const [v, want] of cacheFors) {
  test(`parseCacheFor(${JSON.stringify(v)})`, () => assert.deepEqual(parseCacheFor(v), want));
}

test(`parseCacheFor: at most ${REPROXY_LIMITS.maxCacheForHeaders} headers remembered`, () => {
  const names = Array.from({ length: 40 }, (_, i) => `X-H${i}`);
  assert.equal(parseCacheFor(`10; ${names.join(' ')}`)?.headers.length, REPROXY_LIMITS.maxCacheForHeaders);
});

// ---- judgeAnswer

const answers: Array<{ status: number; headers?: Record<string, string>; expected?: number; want: string }> = [
  { status: 200, want: 'take' },
  { status: 204, want: 'take' },
  { status: 206, want: 'take' },
  { status: 416, want: 'take' },
  { status: 404, want: 'status' },
  { status: 500, want: 'status' },
  { status: 503, want: 'status' },
  // Redirects are never followed, and are not an answer.
  { status: 301, want: 'status' },
  { status: 302, want: 'status' },
  { status: 304, want: 'status' },
  { status: 200, headers: { 'content-length': '10' }, expected: 10, want: 'take' },
  { status: 200, headers: { 'content-length': '11' }, expected: 10, want: 'size-mismatch' },
  { status: 200, headers: {}, expected: 10, want: 'size-mismatch' },
  { status: 206, headers: { 'content-length': '5', 'content-range': 'bytes 0-4/10' }, expected: 10, want: 'take' },
  { status: 206, headers: { 'content-length': '5', 'content-range': 'bytes 0-4/11' }, expected: 10, want: 'size-mismatch' },
  { status: 416, headers: { 'content-range': 'bytes */10' }, expected: 10, want: 'take' },
  { status: 416, headers: { 'content-range': 'bytes */9' }, expected: 10, want: 'size-mismatch' },
  { status: 416, headers: {}, expected: 10, want: 'take' },
  { status: 404, headers: { 'content-length': '10' }, expected: 10, want: 'status' },
];
for (const a of answers) {
  test(`judgeAnswer: ${a.status} ${JSON.stringify(a.headers ?? {})} expected ${a.expected} → ${a.want}`, () => {
    const v = judgeAnswer(a.status, a.headers ?? {}, a.expected);
    assert.equal(v.take ? 'take' : v.reason, a.want);
  });
}

// ---- target request headers

test('targetRequestHeaders: Range (never the client\'s Host: the target URL\'s own goes), memfront\'s forwarding headers; no cookies, credentials or conditionals', () => {
  const h = targetRequestHeaders({
    client: {
      host: 'www.example',
      range: 'bytes=0-9',
      'if-range': '"v1"',
      cookie: 'PHPSESSID=secret',
      authorization: 'Basic eA==',
      'if-none-match': '"v1"',
      'x-reproxy-url': 'http://evil/',
      'user-agent': 'client-ua',
    },
    forwarded: { host: 'www.example', 'x-forwarded-for': '203.0.113.9', 'x-forwarded-proto': 'http', 'accept-encoding': 'gzip', 'user-agent': 'client-ua', 'x-request-id': 'r1', cookie: 'PHPSESSID=secret' },
    range: true,
  });
  assert.deepEqual(h, {
    'user-agent': 'client-ua',
    'accept-encoding': 'gzip',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'http',
    'x-request-id': 'r1',
    range: 'bytes=0-9',
    'if-range': '"v1"',
  });
});

test('targetRequestHeaders: no Range when not carried', () => {
  const h = targetRequestHeaders({ client: { host: 'h', range: 'bytes=0-1' }, forwarded: {}, range: false });
  assert.deepEqual(h, {});
});

// ---- merging headers

test('mergeHeaders: preserved headers come from the backend, the rest from the target', () => {
  const preserve = compilePreserve(['Content-Type', 'Content-Disposition', 'Cache-Control', 'ETag']);
  const backend = ['Content-Type', 'application/pdf', 'Content-Disposition', 'attachment; filename="r.pdf"', 'X-Backend-Only', 'drop me', 'Set-Cookie', 'a=1', 'Content-Length', '5'];
  const target = ['content-type', 'application/octet-stream', 'content-length', '1000', 'etag', '"t1"', 'accept-ranges', 'bytes'];
  assert.deepEqual(mergeHeaders(backend, target, preserve), [
    'content-length', '1000',
    'etag', '"t1"', // the backend sent none: the target's stays
    'accept-ranges', 'bytes',
    'Content-Type', 'application/pdf',
    'Content-Disposition', 'attachment; filename="r.pdf"',
  ]);
});

test('compilePreserve: body framing and hop-by-hop headers are never borrowed from the backend', () => {
  const p = compilePreserve(['Content-Length', 'Content-Range', 'Content-Encoding', 'Transfer-Encoding', 'Connection', 'Content-Type']);
  assert.deepEqual([...p], ['content-type']);
});

test('pickHeaders: the named headers, repeats kept, case-insensitive', () => {
  assert.deepEqual(pickHeaders(['Content-Type', 'a/b', 'Link', '<1>', 'X', 'y', 'link', '<2>'], ['content-type', 'LINK']), ['Content-Type', 'a/b', 'Link', '<1>', 'link', '<2>']);
});

// ---- readInstruction

function lookup(h: Record<string, string>) {
  return (name: string) => h[name];
}

test('readInstruction: URL list with expected size and cache-for', () => {
  assert.deepEqual(readInstruction(lookup({ 'x-reproxy-url': 'http://a/ http://b/', 'x-reproxy-expected-size': '42', 'x-reproxy-cache-for': '60; Content-Type' })), {
    kind: 'urls',
    list: { ok: true, urls: ['http://a/', 'http://b/'], ignored: 0 },
    expectedSize: 42,
    cacheFor: { seconds: 60, headers: ['Content-Type'] },
  });
});

test('readInstruction: service; URLs win when both are given; nothing otherwise', () => {
  assert.deepEqual(readInstruction(lookup({ 'x-reproxy-service': ' images ' })), { kind: 'service', name: 'images', expectedSize: undefined });
  assert.equal(readInstruction(lookup({ 'x-reproxy-service': 'images', 'x-reproxy-url': 'http://a/' })).kind, 'urls');
  assert.deepEqual(readInstruction(lookup({})), { kind: 'none' });
});
