// Attack suite, cache deception (issue 15, findings 6 and 7, and coalesced misses never
// sharing a cookie, listed as already handled). A private page must never be stored under a
// public-looking URL: the default session cookies must cover the CMSs memfront fronts, and
// Set-Cookie2 counts as Set-Cookie. The backend here is careless, as real ones are: it
// answers a logged-in request with a cacheable page.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { visit } from '../helpers/security.js';

const HOST = 'victim.test';

let mc: MemcachedProcess;
let backend: RecordingBackend;
/** Default cache.sessionCookies: the contract's list is the floor. */
let stack: Stack;
let cookieSerial = 0;

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend({
    // The account page of whoever the cookie names, cacheable by its headers (a careless CMS).
    '*': (req) => {
      const cookie = req.header('cookie') ?? '';
      return { status: 200, headers: { 'Content-Type': 'text/css', 'Cache-Control': 'public, max-age=300' }, body: `/* account page for the cookies: ${cookie || 'none'} */` };
    },
    '/sc2': () => ({ status: 200, headers: { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300', 'Set-Cookie2': `sid=${++cookieSerial}; Version=1` }, body: 'page with Set-Cookie2' }),
    '/sc2-slow': () => ({
      status: 200,
      delayMs: 200,
      headers: { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300', 'Set-Cookie2': `sid=${++cookieSerial}; Version=1` },
      body: 'slow page with Set-Cookie2',
    }),
    '/sc-slow': () => ({
      status: 200,
      delayMs: 200,
      headers: { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300', 'Set-Cookie': `sid=${++cookieSerial}` },
      body: 'slow page with Set-Cookie',
    }),
  });
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, staleWhileRevalidate: 0, staleIfError: 0 },
  });
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

beforeEach(async () => {
  await stack.mf.settled();
  backend.reset();
});

const COOKIES = [
  'wp-postpass_0123abcd',
  'comment_author_0123abcd',
  'comment_author_email_0123abcd',
  'woocommerce_cart_hash',
  'woocommerce_items_in_cart',
  'wp_woocommerce_session_0123abcd',
  'wordpress_sec_0123abcd',
  'JSESSIONID',
  'laravel_session',
  'connect.sid',
  'myapp_session',
  '_app_session',
  'SESSabc123',
  'SSESSabc123',
  // The old defaults stay covered.
  'PHPSESSID',
  'sessionid',
  'wordpress_logged_in_0123abcd',
];

describe('#6 default session cookies', () => {
  for (const name of COOKIES) {
    it(`#6 deception: ${name}=alice with default sessionCookies is BYPASS, and the next anonymous visitor never gets alice's page`, async () => {
      const path = `/account/${name.replace(/\W/g, '_')}.css`;
      const alice = await visit(stack.url, path, { host: HOST, cookie: `theme=dark; ${name}=alice` });
      assert.equal(alice.status, 200);
      await stack.mf.settled();
      const anon = await visit(stack.url, path, { host: HOST });
      assert.ok(!anon.body.toString().includes('alice'), `the anonymous visitor got: ${anon.body.toString()}`);
      assert.equal(anon.headers['x-cache'], 'MISS');
      assert.equal(alice.headers['x-cache'], 'BYPASS', `${name} is a session cookie`);
      assert.match(String(alice.headers['cache-status']), /detail=session-cookie/);
    });
  }

  it('#6 deception: a cookie that is not a session cookie (theme=dark) is still anonymous and cached', async () => {
    const a = await visit(stack.url, '/account/theme.css', { host: HOST, cookie: 'theme=dark' });
    assert.equal(a.headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const b = await visit(stack.url, '/account/theme.css', { host: HOST });
    assert.equal(b.headers['x-cache'], 'HIT');
  });
});

describe('#7 Set-Cookie2 counts as Set-Cookie', () => {
  it('#7 deception: a response with Set-Cookie2 is not stored; the next visitor gets no one\'s cookie', async () => {
    const first = await visit(stack.url, '/sc2', { host: HOST });
    assert.equal(first.status, 200);
    assert.ok(first.headers['set-cookie2'], 'the one who caused it gets it');
    assert.doesNotMatch(String(first.headers['cache-status']), /stored/, `not stored: ${first.headers['cache-status']}`);
    await stack.mf.settled();
    const second = await visit(stack.url, '/sc2', { host: HOST });
    assert.notEqual(second.headers['x-cache'], 'HIT');
    assert.notEqual(second.headers['set-cookie2'], first.headers['set-cookie2'], 'not the first visitor\'s cookie');
    assert.equal(backend.requests().filter((r) => r.target === '/sc2').length, 2);
  });

  it('#7 deception: concurrent misses never share a Set-Cookie2', async () => {
    const all = await Promise.all(Array.from({ length: 4 }, () => visit(stack.url, '/sc2-slow', { host: HOST })));
    const cookies = all.map((r) => String(r.headers['set-cookie2']));
    assert.equal(new Set(cookies).size, cookies.length, `each visitor its own cookie: ${cookies.join(' | ')}`);
  });

  it('#7 regression: concurrent misses never share a Set-Cookie', async () => {
    const all = await Promise.all(Array.from({ length: 4 }, () => visit(stack.url, '/sc-slow', { host: HOST })));
    const cookies = all.map((r) => String(r.headers['set-cookie']));
    assert.equal(new Set(cookies).size, cookies.length, `each visitor its own cookie: ${cookies.join(' | ')}`);
  });
});
