// Attack suite, key confusion (issue 15, finding 12, and absolute-form targets, listed as
// already handled): two different requests must never share a cache key, and a Host that is
// not a host is refused before any upstream sees it.
import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawRequest, req, startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';
import { sleep, visit } from '../helpers/security.js';

const HOST = 'victim.test';

let mc: MemcachedProcess;
let backend: RecordingBackend;
let stack: Stack;

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend();
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

async function refused(hostLines: string[], path: string, what: string) {
  const r = await rawRequest(stack.mf.port, req('GET', path, hostLines), { timeoutMs: 5000 });
  await sleep(100);
  assert.equal(r.responses[0]?.status, 400, `${what}: got ${r.responses[0]?.status ?? 'no answer'}`);
  assert.deepEqual(backend.requests().map((q) => `${q.target} Host: ${q.header('host')}`), [], `${what}: no upstream request`);
}

describe('#12 a Host with a / collides with a path', () => {
  it('#12 key confusion: GET /bar with Host victim.test/foo gets 400, reaches no backend, and /foo/bar on victim.test is its own page', async () => {
    backend.on('/bar', () => ({ status: 404, headers: { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=300' }, body: 'ATTACKER /bar PAGE' }));
    await refused(['Host: victim.test/foo'], '/bar', 'Host victim.test/foo');
    await stack.mf.settled();
    const innocent = await visit(stack.url, '/foo/bar', { host: HOST });
    assert.equal(innocent.status, 200, `the visitor of /foo/bar got ${innocent.status}: ${innocent.body.toString().slice(0, 40)}`);
    assert.ok(innocent.body.toString().startsWith('GET /foo/bar\n'));
  });

  it('#12 key confusion: even when the odd Host is answered, it is never stored under the victim\'s key', async () => {
    // Whatever happens to the attack, what matters is the next visitor of the victim's URL.
    await rawRequest(stack.mf.port, req('GET', '/baz', ['Host: victim.test/qux']), { timeoutMs: 5000 });
    await stack.mf.settled();
    const innocent = await visit(stack.url, '/qux/baz', { host: HOST });
    assert.ok(innocent.body.toString().startsWith('GET /qux/baz\n'), `the visitor of /qux/baz got: ${innocent.body.toString().split('\n')[0]}`);
  });
});

describe('#12 Host is a host: anything else gets 400 and reaches no upstream', () => {
  const bad: Array<[string, string]> = [
    ['a slash', 'victim.test/foo'],
    ['a backslash', 'victim.test\\foo'],
    ['a question mark', 'victim.test?x=1'],
    ['a hash', 'victim.test#frag'],
    ['an at sign (userinfo)', 'evil@victim.test'],
    ['inner whitespace', 'victim .test'],
    ['a tab', 'victim\t.test'],
    ['a non-digit port', 'victim.test:80x'],
    ['a port of letters', 'victim.test:http'],
    ['two colons', 'victim.test:80:81'],
    ['an unbracketed IPv6 literal', '::1'],
  ];
  for (const [what, host] of bad) {
    it(`#12 invalid Host: ${what} (${JSON.stringify(host)}) gets 400 and reaches no backend`, async () => {
      await refused([`Host: ${host}`], '/h12', what);
    });
  }

  it('#12 duplicate Host: two Host headers get 400 and reach no backend', async () => {
    await refused([`Host: ${HOST}`, 'Host: evil.example'], '/h12dup', 'two Host headers');
  });

  it('#12 duplicate Host: two identical Host headers get 400 too', async () => {
    await refused([`Host: ${HOST}`, `Host: ${HOST}`], '/h12dup2', 'two equal Host headers');
  });

  it('#12 valid Hosts still pass: reg-name with port, IPv4, bracketed IPv6', async () => {
    for (const host of ['victim.test:8080', '127.0.0.1', '[::1]:8080', 'Victim.Test']) {
      backend.reset();
      const r = await rawRequest(stack.mf.port, req('GET', '/h12ok', [`Host: ${host}`]), { timeoutMs: 5000 });
      assert.equal(r.responses[0]?.status, 200, `Host ${host}`);
    }
  });
});

describe('already handled: absolute-form targets (regression)', () => {
  it('#12 regression: an absolute-form target for another authority does not poison the Host\'s page', async () => {
    await rawRequest(stack.mf.port, req('GET', 'http://evil.example/abs', [`Host: ${HOST}`]), { timeoutMs: 5000 });
    await stack.mf.settled();
    for (const q of backend.requests()) {
      assert.ok(q.target.startsWith('/'), `origin-form upstream, got ${q.target}`);
    }
    const innocent = await visit(stack.url, '/abs', { host: HOST });
    assert.equal(innocent.status, 200);
    assert.ok(!innocent.body.toString().includes('evil.example/abs'), 'no page keyed from the other authority');
  });
});

describe('already handled: limits and hashed keys (regressions)', () => {
  it('#12 regression: a 9,000-byte target gets 414 and a 20 KB header 431; neither reaches the backend', async () => {
    const long = await rawRequest(stack.mf.port, req('GET', '/' + 'a'.repeat(9000), [`Host: ${HOST}`]), { timeoutMs: 5000 });
    assert.equal(long.responses[0]?.status, 414);
    const fat = await rawRequest(stack.mf.port, req('GET', '/fat', [`Host: ${HOST}`, `X-Fat: ${'b'.repeat(20_000)}`]), { timeoutMs: 5000 });
    assert.ok(fat.responses[0]?.status === 431 || (fat.responses[0] === undefined && fat.closed), `got ${fat.responses[0]?.status}`);
    await sleep(100);
    assert.deepEqual(backend.requests().map((q) => q.target.slice(0, 20)), []);
  });

  it('#12 regression: memcached protocol text in a URL is only key material (keys are hashed)', async () => {
    await visit(stack.url, '/keep-me', { host: HOST });
    await stack.mf.settled();
    const evil = '/k?x=%0D%0Aflush_all%0D%0Aset%20a%200%200%201%0D%0A';
    const first = await visit(stack.url, evil, { host: HOST });
    assert.equal(first.status, 200);
    await stack.mf.settled();
    assert.equal((await visit(stack.url, evil, { host: HOST })).headers['x-cache'], 'HIT');
    assert.equal((await visit(stack.url, '/keep-me', { host: HOST })).headers['x-cache'], 'HIT', 'nothing flushed');
  });
});
