// Table tests for cache keys: what shares an entry, what does not, and that every key fits memcached.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { KEY_VERSION, cacheKey, normalizeHost, normalizeUrl, tagKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';

const ignore = compileGlobs(['utm_*', 'fbclid', 'gclid']);
const opts = { keyPrefix: 'mf1:', ignoreQueryParam: ignore };

type Req = { method: string; scheme: string; host: string; url: string };
function requestBut(o: Partial<Req> = {}): Req {
  return { method: 'GET', scheme: 'http', host: 'example.com', url: '/page?a=1', ...o };
}
const key = (o: Partial<Req>) => cacheKey(requestBut(o), opts);

// memcached (protocol.txt): keys up to 250 bytes, no whitespace or control characters.
function assertValidMemcachedKey(k: string): void {
  assert.ok(Buffer.byteLength(k) <= 250, `key too long: ${k.length}`);
  assert.doesNotMatch(k, /[\x00-\x20\x7f]/);
}

test('cacheKey has the documented format: prefix, version, sha256 base64url', () => {
  const material = 'GET\nhttp\nexample.com\n/page?a=1';
  const digest = createHash('sha256').update(material).digest('base64url');
  assert.equal(KEY_VERSION, 'p2');
  assert.equal(key({}), `mf1:p2:${digest}`);
});

const same: Array<{ name: string; a: Partial<Req>; b: Partial<Req> }> = [
  { name: 'GET and HEAD share an entry', a: { method: 'GET' }, b: { method: 'HEAD' } },
  { name: 'PURGE addresses the GET entry', a: { method: 'GET' }, b: { method: 'PURGE' } },
  { name: 'host case', a: { host: 'Example.COM' }, b: { host: 'example.com' } },
  { name: 'default http port', a: { host: 'example.com:80' }, b: { host: 'example.com' } },
  { name: 'default https port', a: { scheme: 'https', host: 'example.com:443' }, b: { scheme: 'https', host: 'example.com' } },
  { name: 'empty port', a: { host: 'example.com:' }, b: { host: 'example.com' } },
  { name: 'IPv6 literal with default port', a: { host: '[::1]:80' }, b: { host: '[::1]' } },
  { name: 'scheme case', a: { scheme: 'HTTP' }, b: { scheme: 'http' } },
  { name: 'query order', a: { url: '/p?a=1&b=2' }, b: { url: '/p?b=2&a=1' } },
  { name: 'ignored params dropped', a: { url: '/p?utm_source=x&a=1&fbclid=abc' }, b: { url: '/p?a=1' } },
  { name: 'all params ignored = no query', a: { url: '/p?utm_medium=email&gclid=1' }, b: { url: '/p' } },
  { name: 'percent-encoded ignored name', a: { url: '/p?utm%5Fsource=x&a=1' }, b: { url: '/p?a=1' } },
  { name: 'empty query pieces', a: { url: '/p?&a=1&&' }, b: { url: '/p?a=1' } },
  { name: 'bare question mark', a: { url: '/p?' }, b: { url: '/p' } },
  { name: 'fragment', a: { url: '/p?a=1#top' }, b: { url: '/p?a=1' } },
  { name: 'absolute-form target', a: { url: 'http://example.com/p?a=1' }, b: { url: '/p?a=1' } },
];
for (const c of same) {
  test(`cacheKey: same key for ${c.name}`, () => assert.equal(key(c.a), key(c.b)));
}

const different: Array<{ name: string; a: Partial<Req>; b: Partial<Req> }> = [
  { name: 'GET and POST', a: { method: 'GET' }, b: { method: 'POST' } },
  { name: 'scheme', a: { scheme: 'http' }, b: { scheme: 'https' } },
  { name: 'host', a: { host: 'a.example' }, b: { host: 'b.example' } },
  { name: 'non-default port', a: { host: 'example.com:8080' }, b: { host: 'example.com' } },
  { name: 'port 443 on http is not default', a: { host: 'example.com:443' }, b: { host: 'example.com' } },
  { name: 'path case', a: { url: '/Page' }, b: { url: '/page' } },
  { name: 'path encoding kept as sent', a: { url: '/a%20b' }, b: { url: '/a b' } },
  { name: 'trailing slash', a: { url: '/p/' }, b: { url: '/p' } },
  { name: 'query value', a: { url: '/p?a=1' }, b: { url: '/p?a=2' } },
  { name: 'query encoding kept as sent', a: { url: '/p?a=%41' }, b: { url: '/p?a=A' } },
  { name: 'flag vs empty value', a: { url: '/p?a' }, b: { url: '/p?a=' } },
  { name: 'kept vs ignored param of similar name', a: { url: '/p?xutm_source=1' }, b: { url: '/p' } },
  { name: 'query vs path', a: { url: '/p?a=1' }, b: { url: '/p%3Fa=1' } },
];
for (const c of different) {
  test(`cacheKey: different keys for ${c.name}`, () => assert.notEqual(key(c.a), key(c.b)));
}

const odd: Array<{ name: string; req: Partial<Req> }> = [
  { name: '2 KB path', req: { url: '/' + 'x'.repeat(2048) } },
  { name: 'spaces and control bytes', req: { url: '/a b\tc\r\nd?q=a b' } },
  { name: 'unicode host and path', req: { host: 'bücher.example', url: '/straße/日本語?q=ü' } },
  { name: 'long query', req: { url: '/s?' + Array.from({ length: 300 }, (_, i) => `p${i}=${i}`).join('&') } },
];
for (const c of odd) {
  test(`cacheKey: ${c.name} still gives a valid memcached key`, () => {
    const k = key(c.req);
    assertValidMemcachedKey(k);
    assert.match(k, /^mf1:p2:[A-Za-z0-9_-]{43}$/);
  });
}

test('cacheKey: unicode host is lower-cased like ASCII', () => {
  assert.equal(key({ host: 'BÜCHER.example' }), key({ host: 'bücher.example' }));
});

const urlCases: Array<{ url: string; want: string }> = [
  { url: '/', want: '/' },
  { url: '', want: '/' },
  { url: '?a=1', want: '/?a=1' },
  { url: '/p?b=2&a=1', want: '/p?a=1&b=2' },
  { url: '/p?b=1&a=2&a=1', want: '/p?a=2&a=1&b=1' },
  { url: '/p?utm_source=x', want: '/p' },
  { url: '/p?q=a%20b&Q=1', want: '/p?Q=1&q=a%20b' },
  { url: '/p?q=x=y&q=x', want: '/p?q=x=y&q=x' },
  { url: '/p?utm_source=x;lang=evil&a=1', want: '/p?a=1' },
  { url: '/p?%zz=1', want: '/p?%zz=1' },
  { url: 'https://other.example:8443/x?b&a', want: '/x?a&b' },
  { url: '//double/slash?a=1', want: '//double/slash?a=1' },
];
for (const c of urlCases) {
  test(`normalizeUrl(${JSON.stringify(c.url)}) = ${JSON.stringify(c.want)}`, () => {
    assert.equal(normalizeUrl(c.url, ignore), c.want);
  });
}

const hostCases: Array<{ host: string; scheme: string; want: string }> = [
  { host: 'Example.com', scheme: 'http', want: 'example.com' },
  { host: 'example.com:80', scheme: 'http', want: 'example.com' },
  { host: 'example.com:80', scheme: 'https', want: 'example.com:80' },
  { host: 'example.com:443', scheme: 'https', want: 'example.com' },
  { host: '[::1]:443', scheme: 'https', want: '[::1]' },
  { host: '[::1]', scheme: 'http', want: '[::1]' },
  { host: '[::1]:8080', scheme: 'http', want: '[::1]:8080' },
  { host: ' example.com ', scheme: 'http', want: 'example.com' },
];
for (const c of hostCases) {
  test(`normalizeHost(${JSON.stringify(c.host)}, ${c.scheme}) = ${c.want}`, () => {
    assert.equal(normalizeHost(c.host, c.scheme), c.want);
  });
}

test('tagKey: documented format, host-scoped, case-insensitive host, valid memcached key', () => {
  const digest = createHash('sha256').update('example.com news').digest('base64url');
  assert.equal(tagKey('mf1:', 'example.com', 'news'), `mf1:t1:${digest}`);
  assert.equal(tagKey('mf1:', 'Example.COM:80', 'news'), tagKey('mf1:', 'example.com', 'news'));
  assert.notEqual(tagKey('mf1:', 'example.com', 'news'), tagKey('mf1:', 'other.com', 'news'));
  assert.notEqual(tagKey('mf1:', 'example.com', 'news'), tagKey('mf1:', 'example.com', 'News'));
  assert.notEqual(tagKey('mf1:', 'example.com', 'news'), key({}));
  assertValidMemcachedKey(tagKey('mf1:', 'example.com', 't'.repeat(5000)));
});

test('cacheKey: different prefixes never collide', () => {
  assert.notEqual(cacheKey(requestBut(), { ...opts, keyPrefix: 'a:' }), cacheKey(requestBut(), { ...opts, keyPrefix: 'b:' }));
});

test('cacheKey: repeated names keep their order (two pages: PHP takes the last, Express an array)', () => {
  assert.notEqual(key({ url: '/p?id=2&id=1' }), key({ url: '/p?id=1&id=2' }));
});

test('cacheKey: a Host holding a path does not collide with a longer path (fields joined by a separator none holds)', () => {
  assert.notEqual(key({ host: 'victim.test/foo', url: '/bar' }), key({ host: 'victim.test', url: '/foo/bar' }));
  assert.notEqual(key({ host: 'a', url: '/b' }), key({ host: 'a/b', url: '/' }));
});
