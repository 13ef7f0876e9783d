// The logger and the per-request line, read back through a sink that parses each JSON line.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { UpstreamError } from '../../src/errors.js';
import { createLogger, logRequest } from '../../src/log.js';

function sink(): { stream: Writable; lines: Array<Record<string, any>> } {
  const lines: Array<Record<string, any>> = [];
  let partial = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      partial += chunk.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        lines.push(JSON.parse(partial.slice(0, nl)));
        partial = partial.slice(nl + 1);
      }
      done();
    },
  });
  return { stream, lines };
}

/** A real ECONNREFUSED: a connection to a port that was just closed. */
async function refusedConnection(): Promise<Error> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return new Promise((resolve) => net.connect(port, '127.0.0.1').on('error', resolve));
}

const facts = { method: 'GET', url: '/a?b=1', status: 200, cache: 'hit', route: 'backend', ms: 1.25, bytes: 512 } as const;

test('a request is one info line with exactly the request fields', () => {
  const log = sink();
  logRequest(createLogger({ level: 'info', pretty: false }, log.stream), facts);
  assert.equal(log.lines.length, 1);
  const { level, time, pid, hostname, ...line } = log.lines[0];
  assert.equal(level, 30);
  assert.equal(typeof time, 'number');
  assert.deepEqual(line, { ...facts, msg: 'request' });
});

test('reqId and detail are added when known', () => {
  const log = sink();
  logRequest(createLogger({ level: 'info', pretty: false }, log.stream), { ...facts, cache: 'miss', reqId: 'r-7', detail: 'coalesced' });
  assert.equal(log.lines[0].reqId, 'r-7');
  assert.equal(log.lines[0].detail, 'coalesced');
  assert.equal(log.lines[0].cache, 'miss');
});

test('a request that failed is a warn line with the error and its cause under err', async () => {
  const refused = await refusedConnection();
  assert.equal((refused as NodeJS.ErrnoException).code, 'ECONNREFUSED');
  const log = sink();
  const err = new UpstreamError('MF_BACKEND_FAILED', 'backend http://127.0.0.1 failed', { cause: refused });
  logRequest(createLogger({ level: 'info', pretty: false }, log.stream), { ...facts, status: 502, cache: 'miss', err });
  const [line] = log.lines;
  assert.equal(line.level, 40);
  assert.equal(line.msg, 'request');
  assert.equal(line.status, 502);
  assert.equal(line.err.type, 'UpstreamError');
  assert.equal(line.err.code, 'MF_BACKEND_FAILED');
  assert.equal(line.err.message, 'backend http://127.0.0.1 failed');
  assert.equal(line.err.cause.code, 'ECONNREFUSED');
  assert.match(line.err.cause.message, /ECONNREFUSED/);
});

test('any logged err keeps its cause chain', () => {
  const log = sink();
  const root = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:11211'), { code: 'ECONNREFUSED' });
  const middle = new Error('memcached 127.0.0.1:11211 unavailable', { cause: root });
  createLogger({ level: 'info', pretty: false }, log.stream).error({ err: new Error('cache write failed', { cause: middle }) }, 'store');
  assert.equal(log.lines[0].err.cause.message, 'memcached 127.0.0.1:11211 unavailable');
  assert.equal(log.lines[0].err.cause.cause.code, 'ECONNREFUSED');
});

test('the level filters lines', () => {
  const log = sink();
  const logger = createLogger({ level: 'warn', pretty: false }, log.stream);
  logRequest(logger, facts);
  logRequest(logger, { ...facts, err: new Error('reset') });
  assert.deepEqual(log.lines.map((l) => l.level), [40]);
});

test('a failed request\'s line carries no stack, its cause chain does', async () => {
  const refused = await refusedConnection();
  const log = sink();
  const err = new UpstreamError('MF_BACKEND_FAILED', 'backend failed', { cause: refused });
  logRequest(createLogger({ level: 'info', pretty: false }, log.stream), { ...facts, status: 502, cache: 'miss', err });
  const text = JSON.stringify(log.lines[0]);
  assert.doesNotMatch(text, /stack|    at /);
  assert.equal(log.lines[0].err.cause.code, 'ECONNREFUSED');
  assert.ok(text.length < 700, `${text.length} bytes`);
});

test('access-log fields are added when known; a PURGE line names its kind and source instead of route and cache', () => {
  const log = sink();
  const logger = createLogger({ level: 'info', pretty: false }, log.stream);
  logRequest(logger, { ...facts, ip: '203.0.113.9', host: 'example.com', ua: 'curl/8', referer: 'http://r/', upstreamMs: 12.5, ttl: 30, age: 4 });
  logRequest(logger, { ...facts, method: 'PURGE', cache: 'none', ip: '127.0.0.1', purge: 'tags' });
  const [get, purge] = log.lines;
  assert.deepEqual([get.ip, get.host, get.ua, get.referer, get.upstreamMs, get.ttl, get.age], ['203.0.113.9', 'example.com', 'curl/8', 'http://r/', 12.5, 30, 4]);
  assert.deepEqual([purge.purge, purge.source, purge.route, purge.cache, purge.ip], ['tags', '127.0.0.1', undefined, undefined, undefined]);
});
