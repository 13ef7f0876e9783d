// The pieces of the access log that are not the engine's: one failure line a second per kind,
// the client address behind trusted proxies, and the body bytes a response really sent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { LogLimiter } from '../../src/log-limiter.js';
import { clientIp } from '../../src/policy/client-ip.js';
import { bodyBytesSent, countBody } from '../../src/engine/body-counter.js';
import { listenOn } from '../helpers/listen.js';
import { get } from '../helpers/stack.js';

test('a kind of failure is let through once per interval, saying how many were left out', () => {
  let now = 1000;
  const limiter = new LogLimiter(1000, () => now);
  assert.equal(limiter.allow('backend ECONNREFUSED'), 0);
  assert.equal(limiter.allow('backend ECONNREFUSED'), undefined);
  assert.equal(limiter.allow('backend ECONNREFUSED'), undefined);
  assert.equal(limiter.allow('backend MF_BACKEND_TIMEOUT'), 0, 'another kind has its own allowance');
  now += 1000;
  assert.equal(limiter.allow('backend ECONNREFUSED'), 2);
});

test('the client address: the peer, or the right-most untrusted X-Forwarded-For hop behind a trusted proxy', () => {
  const trusted = (ip: string) => ip.startsWith('10.');
  assert.equal(clientIp('198.51.100.7', '1.2.3.4', trusted), '198.51.100.7', 'an untrusted peer says nothing about others');
  assert.equal(clientIp('10.0.0.1', '6.6.6.6, 203.0.113.5', trusted), '203.0.113.5', 'the left-most is whatever the client sent');
  assert.equal(clientIp('10.0.0.1', '203.0.113.5, 10.0.0.2', trusted), '203.0.113.5', 'chained trusted proxies are skipped');
  assert.equal(clientIp('10.0.0.1', undefined, trusted), '10.0.0.1');
});

test('the body counter counts what each kind of write sends, and nothing for HEAD', async () => {
  const counts: number[] = [];
  const server = http.createServer((req, res) => {
    const count = countBody(res);
    res.on('close', () => counts.push(bodyBytesSent(res, req.method, count)));
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.write('héllo ');
    res.write(Buffer.from('wörld'));
    res.end('!', 'utf8');
  });
  const port = await listenOn(server);
  try {
    const got = await get(`http://127.0.0.1:${port}/`);
    await get(`http://127.0.0.1:${port}/`, { method: 'HEAD' });
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(counts, [got.body.length, 0]);
    assert.equal(got.body.length, Buffer.byteLength('héllo wörld!'));
  } finally {
    server.close();
  }
});
