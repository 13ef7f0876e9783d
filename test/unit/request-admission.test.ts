import assert from 'node:assert/strict';
import test from 'node:test';
import { admitRequest, upstreamFraming, validHost } from '../../src/policy/request-admission.js';
import { substitutionRefusal, unsafeGroup, compileRoutes, decideRoute } from '../../src/policy/route-match.js';

const raw = (h: Record<string, string>): string[] => Object.entries(h).flat();

test('validHost: reg-names, IPv4, bracketed IPv6, with digit ports', () => {
  for (const h of ['example.com', 'EXAMPLE.com:8080', '127.0.0.1', '127.0.0.1:80', '[::1]', '[::1]:8080', 'bücher.example'.replace('ü', 'xn--bcher-kva'), 'a-b_c~d', 'host:']) {
    assert.equal(validHost(h), true, h);
  }
});

test('validHost: #12 no /, \\, ?, #, @, whitespace or non-digit port', () => {
  for (const h of ['victim.test/foo', 'victim.test\\foo', 'a?b', 'a#b', 'user@host', 'a b', 'a\tb', 'host:8o', 'host:80:80', '[::1', '', 'x'.repeat(256)]) {
    assert.equal(validHost(h), false, JSON.stringify(h));
  }
});

test('admitRequest: #12 a bad Host or two Host fields are 400', () => {
  assert.deepEqual(admitRequest('GET', { host: 'victim.test/foo' }, raw({ Host: 'victim.test/foo' })), { ok: false, status: 400, reason: 'bad-host' });
  assert.deepEqual(admitRequest('GET', { host: 'a.test' }, ['Host', 'a.test', 'host', 'b.test']), { ok: false, status: 400, reason: 'duplicate-host' });
  assert.deepEqual(admitRequest('GET', { host: 'a.test' }, raw({ Host: 'a.test' })), { ok: true });
  // HTTP/1.0 without Host stays allowed (Node refuses an HTTP/1.1 one itself).
  assert.deepEqual(admitRequest('GET', {}, []), { ok: true });
});

test('admitRequest: #1 a body on GET, HEAD, OPTIONS, DELETE is 400; on POST it is framed', () => {
  for (const method of ['GET', 'HEAD', 'OPTIONS', 'DELETE', 'TRACE']) {
    assert.equal(admitRequest(method, { host: 'a', 'transfer-encoding': 'chunked' }, ['Host', 'a']).ok, false, `${method} chunked`);
    assert.equal(admitRequest(method, { host: 'a', 'content-length': '5' }, ['Host', 'a']).ok, false, `${method} length`);
    assert.equal(admitRequest(method, { host: 'a', 'content-length': '0' }, ['Host', 'a']).ok, true, `${method} empty`);
  }
  assert.equal(admitRequest('POST', { host: 'a', 'transfer-encoding': 'chunked' }, ['Host', 'a']).ok, true);
  assert.deepEqual(upstreamFraming({ 'transfer-encoding': 'chunked' }), { kind: 'chunked' });
  assert.deepEqual(upstreamFraming({ 'content-length': '12' }), { kind: 'length', length: '12' });
  assert.deepEqual(upstreamFraming({}), { kind: 'none' });
});

test('unsafeGroup: #5 dot segments (also %2e), backslashes and encoded slashes', () => {
  for (const g of ['..', '../secret', 'a/../b', './x', '%2e%2e/secret', '%2E%2e', '.%2e', '..\\admin', 'a%2fb', 'a%5cb', 'a/.', 'a/..?x=1']) {
    assert.equal(unsafeGroup(g), true, g);
  }
  for (const g of ['file.txt', 'a/b/c.d', '...', 'a..b', 'x?y=..', '', 'v1.2/..x']) {
    assert.equal(unsafeGroup(g), false, g);
  }
});

test('substitutionRefusal: only routes that substitute groups refuse', () => {
  const routes = compileRoutes([
    { match: '^/dl/(.*)$', to: 'reproxy', url: 'http://files/files/$1' },
    { match: '^/assets/(.*)$', to: 'static' },
  ]);
  assert.equal(substitutionRefusal(decideRoute(routes, '/dl/../secret')), 'unsafe-path');
  assert.equal(substitutionRefusal(decideRoute(routes, '/dl/ok/file.bin')), undefined);
  assert.equal(substitutionRefusal(decideRoute(routes, '/assets/../x')), undefined);
  assert.equal(substitutionRefusal(decideRoute(routes, '/other')), undefined);
});
