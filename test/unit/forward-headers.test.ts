// Tests for what the backend sees (forwarding, hop-by-hop, client-forged headers) and which backend headers are kept.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backendRequestHeaders,
  compileCidrs,
  responseHeadersFromRaw,
  type ForwardContext,
} from '../../src/policy/forward-headers.js';
import { ConfigError } from '../../src/errors.js';
import type { Headers } from '../../src/policy/headers.js';

// ---- compileCidrs

const trusted = compileCidrs(['10.0.0.0/8', '192.168.1.7', '::1/128', '2001:db8::/32']);
const peers: Array<{ ip: string; want: boolean }> = [
  { ip: '10.1.2.3', want: true },
  { ip: '11.0.0.1', want: false },
  { ip: '192.168.1.7', want: true },
  { ip: '192.168.1.8', want: false },
  { ip: '::ffff:10.9.9.9', want: true },
  { ip: '::FFFF:10.9.9.9', want: true },
  { ip: '::ffff:11.0.0.1', want: false },
  { ip: '::1', want: true },
  { ip: '::2', want: false },
  { ip: '2001:db8:abcd::1', want: true },
  { ip: '2001:db9::1', want: false },
  { ip: '2001:DB8::1', want: true },
  { ip: 'fe80::1%eth0', want: false },
  { ip: '', want: false },
  { ip: 'not-an-ip', want: false },
];
for (const c of peers) {
  test(`compileCidrs: ${JSON.stringify(c.ip)} trusted = ${c.want}`, () => assert.equal(trusted(c.ip), c.want));
}

test('compileCidrs: an IPv4-mapped rule matches a plain IPv4 peer, and an empty list trusts nobody', () => {
  assert.equal(compileCidrs(['::ffff:10.0.0.0/104'])('10.2.3.4'), true);
  assert.equal(compileCidrs([])('127.0.0.1'), false);
});

test('compileCidrs: a zone-scoped peer matches its address', () => {
  assert.equal(compileCidrs(['fe80::/10'])('fe80::1%eth0'), true);
});

for (const bad of ['10.0.0.0/33', '::/129', 'example.com/8', '10.0.0/8', '10.0.0.0/', '10.0.0.0/8/8', '', '1.2.3.4/-1']) {
  test(`compileCidrs: bad CIDR ${JSON.stringify(bad)} throws a ConfigError naming it`, () => {
    assert.throws(
      () => compileCidrs(['127.0.0.1/32', bad]),
      (err: unknown) => err instanceof ConfigError && err.code === 'MF_CONFIG_INVALID' && err.message.includes(`"${bad}"`),
    );
  });
}

// ---- backendRequestHeaders

const ctx: ForwardContext = {
  peerIp: '203.0.113.9',
  trusted: false,
  scheme: 'https',
  host: 'www.example.com',
  stripConditionals: false,
  reproxyCapable: false,
};

function requestBut(extra: Headers = {}): Headers {
  return { host: 'www.example.com', 'user-agent': 'test', accept: '*/*', ...extra };
}
const forward = (h: Headers, c: Partial<ForwardContext> = {}) => backendRequestHeaders(h, { ...ctx, ...c });

test('backendRequestHeaders: ordinary headers pass, Host stays the client\'s, forwarding headers are set', () => {
  assert.deepEqual(forward(requestBut({ cookie: 'a=1', 'accept-language': 'de' })), {
    host: 'www.example.com',
    'user-agent': 'test',
    accept: '*/*',
    cookie: 'a=1',
    'accept-language': 'de',
    'x-forwarded-for': '203.0.113.9',
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'www.example.com',
  });
});

test('backendRequestHeaders: hop-by-hop headers and those named in Connection are removed', () => {
  const out = forward(
    requestBut({
      connection: 'keep-alive, X-Secret , Upgrade',
      'keep-alive': 'timeout=5',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic eDp5',
      'proxy-authenticate': 'x',
      te: 'trailers',
      trailer: 'x-checksum',
      upgrade: 'websocket',
      'x-secret': 'hop only',
      'x-kept': 'yes',
    }),
  );
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'proxy-authenticate', 'te', 'trailer', 'upgrade', 'x-secret']) {
    assert.equal(out[name], undefined, name);
  }
  assert.equal(out['x-kept'], 'yes');
});

test('backendRequestHeaders: "Connection: host" cannot strip Host, "Connection: x-forwarded-for" cannot strip ours', () => {
  const out = forward(requestBut({ connection: 'host, x-forwarded-for' }));
  assert.equal(out.host, 'www.example.com');
  assert.equal(out['x-forwarded-for'], '203.0.113.9');
});

test('backendRequestHeaders: client-sent Forwarded, X-Original-URL, X-Rewrite-URL, X-Reproxy-*, X-Proxy-Capabilities never reach the backend', () => {
  const out = forward(
    requestBut({
      forwarded: 'for=1.2.3.4',
      'x-original-url': '/wp-admin/',
      'x-rewrite-url': '/wp-admin/',
      'x-reproxy-url': 'http://evil/',
      'x-reproxy-service': 'images',
      'x-proxy-capabilities': 'reproxy-file',
    }),
    { trusted: true },
  );
  for (const name of ['forwarded', 'x-original-url', 'x-rewrite-url', 'x-reproxy-url', 'x-reproxy-service', 'x-proxy-capabilities']) {
    assert.equal(out[name], undefined, name);
  }
});

const forwarding: Array<{ name: string; headers: Headers; c: Partial<ForwardContext>; want: { xff: string; proto: string; host: string } }> = [
  {
    name: 'untrusted peer: client values replaced',
    headers: { 'x-forwarded-for': '1.1.1.1', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example' },
    c: {},
    want: { xff: '203.0.113.9', proto: 'https', host: 'www.example.com' },
  },
  {
    name: 'trusted peer: appended and kept',
    headers: { 'x-forwarded-for': '1.1.1.1, 10.0.0.2', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'public.example' },
    c: { trusted: true, peerIp: '10.0.0.3' },
    want: { xff: '1.1.1.1, 10.0.0.2, 10.0.0.3', proto: 'http', host: 'public.example' },
  },
  {
    name: 'trusted peer with nothing incoming: set',
    headers: {},
    c: { trusted: true, peerIp: '10.0.0.3', scheme: 'http' },
    want: { xff: '10.0.0.3', proto: 'http', host: 'www.example.com' },
  },
  {
    name: 'trusted peer, repeated X-Forwarded-For lines joined',
    headers: { 'x-forwarded-for': ['1.1.1.1', '2.2.2.2'] },
    c: { trusted: true, peerIp: '10.0.0.3' },
    want: { xff: '1.1.1.1, 2.2.2.2, 10.0.0.3', proto: 'https', host: 'www.example.com' },
  },
  {
    name: 'trusted peer, empty X-Forwarded-For is not appended to',
    headers: { 'x-forwarded-for': '  ' },
    c: { trusted: true, peerIp: '10.0.0.3' },
    want: { xff: '10.0.0.3', proto: 'https', host: 'www.example.com' },
  },
  {
    name: 'IPv4-mapped peer is reported as IPv4',
    headers: {},
    c: { peerIp: '::ffff:198.51.100.4' },
    want: { xff: '198.51.100.4', proto: 'https', host: 'www.example.com' },
  },
  {
    name: 'IPv6 peer',
    headers: { 'x-forwarded-for': '2001:db8::1' },
    c: { peerIp: '2001:db8::dead:beef' },
    want: { xff: '2001:db8::dead:beef', proto: 'https', host: 'www.example.com' },
  },
  {
    name: 'IPv6 peer appended by a trusted proxy',
    headers: { 'x-forwarded-for': '2001:db8::1' },
    c: { peerIp: '::1', trusted: true },
    want: { xff: '2001:db8::1, ::1', proto: 'https', host: 'www.example.com' },
  },
];
for (const f of forwarding) {
  test(`backendRequestHeaders: ${f.name}`, () => {
    const out = forward(requestBut(f.headers), f.c);
    assert.deepEqual(
      { xff: out['x-forwarded-for'], proto: out['x-forwarded-proto'], host: out['x-forwarded-host'] },
      f.want,
    );
  });
}

const conditionals = {
  'if-none-match': '"v1"',
  'if-modified-since': 'Mon, 15 Jan 2024 12:00:00 GMT',
  'if-match': '"v1"',
  'if-unmodified-since': 'Mon, 15 Jan 2024 12:00:00 GMT',
  'if-range': '"v1"',
  range: 'bytes=0-10',
};

test('backendRequestHeaders: stripConditionals removes conditional and Range headers', () => {
  const out = forward(requestBut(conditionals), { stripConditionals: true });
  for (const name of Object.keys(conditionals)) assert.equal(out[name], undefined, name);
  assert.equal(out['user-agent'], 'test');
});

test('backendRequestHeaders: without stripConditionals they pass through (bypass, reproxy, static)', () => {
  const out = forward(requestBut(conditionals));
  for (const [name, value] of Object.entries(conditionals)) assert.equal(out[name], value, name);
});

test('backendRequestHeaders: reproxyCapable announces reproxy-file, replacing a client claim', () => {
  assert.equal(forward(requestBut({ 'x-proxy-capabilities': 'evil' }), { reproxyCapable: true })['x-proxy-capabilities'], 'reproxy-file');
  assert.equal(forward(requestBut(), { reproxyCapable: false })['x-proxy-capabilities'], undefined);
});

test('backendRequestHeaders: array values are kept as arrays and copied, undefined values dropped', () => {
  const input = requestBut({ 'x-multi': ['a', 'b'], 'x-none': undefined });
  const out = forward(input);
  assert.deepEqual(out['x-multi'], ['a', 'b']);
  assert.notEqual(out['x-multi'], input['x-multi']);
  assert.equal('x-none' in out, false);
});

test('backendRequestHeaders: a request without Host gets the one from the context', () => {
  const { host: _host, ...noHost } = requestBut();
  assert.equal(forward(noHost).host, 'www.example.com');
});

test('backendRequestHeaders: does not modify its input', () => {
  const input = requestBut({ connection: 'close', 'x-forwarded-for': '1.1.1.1' });
  const copy = structuredClone(input);
  forward(input, { trusted: true });
  assert.deepEqual(input, copy);
});

// ---- responseHeadersFromRaw

test('responseHeadersFromRaw: keeps order, case and repeats; drops hop-by-hop, Connection-named and private headers', () => {
  const raw = [
    'Content-Type', 'text/html; charset=utf-8',
    'Set-Cookie', 'a=1',
    'Connection', 'keep-alive, X-Internal',
    'Keep-Alive', 'timeout=5',
    'Transfer-Encoding', 'chunked',
    'X-Internal', 'secret',
    'X-Reproxy-URL', 'http://127.0.0.1:8090/f',
    'X-REPROXY-Service', 'images',
    'Surrogate-Key', 'post-1 home',
    'cache-tag', 'post-1,home',
    'Set-Cookie', 'b=2',
    'ETag', '"v1"',
    'Trailer', 'X-Checksum',
    'Upgrade', 'h2c',
    'Proxy-Authenticate', 'Basic',
    'Content-Length', '42',
  ];
  assert.deepEqual(responseHeadersFromRaw(raw), [
    ['Content-Type', 'text/html; charset=utf-8'],
    ['Set-Cookie', 'a=1'],
    ['Set-Cookie', 'b=2'],
    ['ETag', '"v1"'],
    ['Content-Length', '42'],
  ]);
});

test('responseHeadersFromRaw: Connection named after its target still removes it', () => {
  assert.deepEqual(responseHeadersFromRaw(['X-Late', '1', 'Connection', 'x-late', 'Vary', 'Accept-Encoding']), [['Vary', 'Accept-Encoding']]);
});

test('responseHeadersFromRaw: empty and odd-length input', () => {
  assert.deepEqual(responseHeadersFromRaw([]), []);
  assert.deepEqual(responseHeadersFromRaw(['Content-Type', 'text/plain', 'Dangling']), [['Content-Type', 'text/plain']]);
});

test('backendRequestHeaders: a body that came chunked goes on chunked, framed by memfront (never raw)', () => {
  const out = forward(requestBut({ 'transfer-encoding': 'gzip, chunked', 'content-length': undefined }));
  assert.equal(out['transfer-encoding'], 'chunked');
  assert.equal(out['content-length'], undefined);
  const sized = forward(requestBut({ 'content-length': '5' }));
  assert.equal(sized['transfer-encoding'], undefined);
  assert.equal(sized['content-length'], '5');
});

test('backendRequestHeaders: URL, scheme, port, host and method overrides never reach the backend, from trusted proxies neither', () => {
  const forged = {
    'x-forwarded-scheme': 'https',
    'x-forwarded-ssl': 'on',
    'x-forwarded-port': '443',
    'x-forwarded-prefix': '/evil',
    'x-forwarded-server': 'evil',
    'x-host': 'evil.test',
    'x-original-host': 'evil.test',
    'x-http-method-override': 'DELETE',
    'x-http-method': 'DELETE',
    'x-method-override': 'DELETE',
    'x-original-method': 'DELETE',
  };
  for (const trusted of [false, true]) {
    const out = forward(requestBut(forged), { trusted });
    for (const name of Object.keys(forged)) assert.equal(out[name], undefined, `${name} (trusted: ${trusted})`);
    assert.equal(out['x-forwarded-proto'] !== undefined, true);
  }
});
