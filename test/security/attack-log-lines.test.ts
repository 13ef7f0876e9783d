// Attack suite, the access log. Every request is one JSON line whatever its URL and headers
// hold: a forged value must not end the line, add a field or change one (a `"status":500`
// inside a User-Agent, a reader's JSON.parse keeping the last of two keys). Both places that
// write the line are attacked: the miss path (the request's state machine) and the L1 hit
// answered before it (tryHitNow).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startStack, type Stack } from '../helpers/stack.js';
import { rawRequest, startRecordingBackend, type RecordingBackend } from '../helpers/recording-backend.js';

// What Node's parser lets through in a request target and in header values (it refuses
// control characters other than tab, DEL and raw bytes above 0x7f in the target).
const TARGET = '/page?q="x\\y{}<s>|^`';
const UA = 'a"b\\c{"status":500}\td\u00e9';
const REFERER = 'x","status":500,"cache":"hit","ip":"6.6.6.6';
// No comma: only the first of a comma-separated X-Request-Id is kept.
const REQ_ID = 'r"}{"reqId":"forged\\';
const FIELDS = new Set(['level', 'time', 'pid', 'hostname', 'method', 'url', 'status', 'cache', 'route', 'ms', 'bytes', 'reqId', 'detail', 'ip', 'host', 'ua', 'referer', 'upstreamMs', 'ttl', 'age', 'msg']);

let mc: MemcachedProcess;
let backend: RecordingBackend;
let stack: Stack;

before(async () => {
  mc = await startMemcached();
  backend = await startRecordingBackend();
  stack = await startStack({
    backend: { url: backend.url, timeoutMs: 2000 },
    // X-Request-Id is kept only from a trusted proxy: every peer is one here, so it is attacker input too.
    trustedProxies: ['127.0.0.0/8'],
    cache: { memcached: { servers: [mc.address], timeoutMs: 500 }, l1: { maxBytes: 1 << 20 } },
  });
});

after(async () => {
  await stack?.close();
  await backend?.close();
  await mc?.stop();
});

async function send(): Promise<{ status: number; line: Record<string, any>; lines: number }> {
  const before = stack.log.requests().length;
  const bytes = Buffer.from(
    `GET ${TARGET} HTTP/1.1\r\nHost: victim.test\r\nUser-Agent: ${UA}\r\nReferer: ${REFERER}\r\nX-Request-Id: ${REQ_ID}\r\nConnection: close\r\n\r\n`,
    'latin1',
  );
  const got = await rawRequest(stack.mf.port, bytes);
  await stack.mf.settled();
  // The line is written when the response closes: give the socket's close a turn.
  for (let i = 0; i < 50 && stack.log.requests().length === before; i++) await new Promise((r) => setTimeout(r, 10));
  const lines = stack.log.requests().slice(before);
  return { status: got.responses[0]?.status ?? 0, line: lines[0], lines: lines.length };
}

function assertFaithful(line: Record<string, any>, cache: string): void {
  assert.equal(line.status, 200, 'a forged "status" inside a value changed the field');
  assert.equal(line.cache, cache);
  assert.equal(line.ua, UA);
  assert.equal(line.referer, REFERER);
  assert.equal(line.reqId, REQ_ID);
  assert.equal(line.ip, '127.0.0.1');
  assert.equal(line.method, 'GET');
  assert.ok(String(line.url).includes('"x\\y{}<s>|^`'), line.url);
  for (const key of Object.keys(line)) assert.ok(FIELDS.has(key), `an injected field: ${key}`);
}

describe('the access line under hostile URLs and headers', () => {
  it('a miss writes one line carrying each value as it came, and nothing more', async () => {
    const r = await send();
    assert.equal(r.status, 200);
    assert.equal(r.lines, 1);
    assertFaithful(r.line, 'miss');
  });

  it('the same request answered from L1 (the hit path writes its own line) does too', async () => {
    const r = await send();
    assert.equal(r.status, 200);
    assert.equal(r.lines, 1);
    assertFaithful(r.line, 'hit');
    assert.equal(typeof r.line.ttl, 'number');
    assert.equal(typeof r.line.age, 'number');
  });
});
