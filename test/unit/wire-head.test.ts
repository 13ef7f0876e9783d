// The prepared head (wire-head.ts) must put on the wire what Node's own writeHead + end put
// there, byte for byte but the Date, on the Node this runs on; and must step aside (headEnding
// undefined) wherever Node's connection handling differs from the plain keep-alive case. Where
// the response owns its socket, head and body are written to it directly (endWithHead's
// `direct`): the bytes, keep-alive and what follows on the connection must still be Node's.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PREPARED_WRITES, endWithHead, headEnding, httpDate, serialiseHead } from '../../src/engine/wire-head.js';
import { bodyBytesSent, countBody } from '../../src/engine/body-counter.js';

const BODY = Buffer.from('x'.repeat(3000));
// More than a loopback socket takes in one write: the rest waits in the socket's buffer.
const BIG = Buffer.alloc(8 * 1024 * 1024, 'y');
const FIELDS = ['Content-Type', 'text/html', 'Cache-Control', 'max-age=60', 'Age', '3', 'X-Cache', 'HIT', 'Content-Length', String(BODY.length)];

type Way = 'node' | 'prepared';
let server: http.Server;
let port: number;
/** What headEnding said for each request, by its path; and whether endWithHead wrote to the socket itself. */
const endings = new Map<string, string | undefined>();
const directs = new Map<string, boolean>();
/** Body bytes counted (body-counter.ts) for the requests with `count`, once their response closed. */
const counted = new Map<string, number>();
/** For `big` requests: whether the response counted as finished right after endWithHead, and the socket's unsent bytes at its 'finish'. */
const finishes = new Map<string, { atOnce: boolean; unsentAtFinish?: number }>();

function answer(way: Way, req: http.IncomingMessage, res: http.ServerResponse, fields: string[], big: boolean): void {
  const body = req.method === 'HEAD' ? undefined : big ? BIG : BODY;
  if (way === 'node') {
    res.writeHead(200, fields);
    res.end(body);
    return;
  }
  const ending = headEnding(res);
  endings.set(req.url!, ending);
  if (ending === undefined) {
    res.writeHead(200, fields);
    res.end(body);
    return;
  }
  const head = serialiseHead(200, fields, httpDate(Date.now()), ending);
  directs.set(req.url!, endWithHead(res, 200, head, body, Buffer.from(head, 'latin1')));
  if (body === BIG) {
    const seen: { atOnce: boolean; unsentAtFinish?: number } = { atOnce: res.writableFinished };
    finishes.set(req.url!, seen);
    res.once('finish', () => (seen.unsentAtFinish = res.socket?.writableLength ?? 0));
  }
}

before(async () => {
  server = http.createServer((req, res) => {
    const url = new URL(req.url!, 'http://x');
    const way = url.searchParams.get('way') as Way;
    const big = url.searchParams.has('big');
    let fields = url.searchParams.has('date') ? [...FIELDS, 'Date', 'Tue, 01 Dec 2026 00:00:00 GMT'] : FIELDS;
    if (big) fields = [...fields.slice(0, -1), String(BIG.length)];
    if (url.searchParams.has('set')) res.setHeader('X-Set', 'early');
    if (url.searchParams.has('count')) {
      const count = countBody(res);
      res.once('close', () => counted.set(req.url!, bodyBytesSent(res, req.method, count)));
    }
    const delay = Number(url.searchParams.get('delay') ?? 0);
    if (delay > 0) setTimeout(() => answer(way, req, res, fields, big), delay);
    else answer(way, req, res, fields, big);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Sends raw request bytes on one connection and collects everything until `answers` heads and bodies arrived, or the server closed. */
function exchange(raw: string, expectBytes: number): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    let closed = false;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const timer = setTimeout(done, 1000);
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      got += d.length;
      if (got >= expectBytes) setTimeout(done, 50);
    });
    socket.on('end', () => {
      closed = true;
      done();
    });
    socket.on('error', reject);
    socket.write(raw);
  });
}

const noDate = (text: string) => text.replace(/\r\nDate: [^\r]*\r\n/g, '\r\nDate: -\r\n');

async function both(request: (way: Way) => string, expectBytes: number): Promise<{ node: string; prepared: string; nodeClosed: boolean; preparedClosed: boolean }> {
  const a = await exchange(request('node'), expectBytes);
  const b = await exchange(request('prepared'), expectBytes);
  return { node: noDate(a.text), prepared: noDate(b.text), nodeClosed: a.closed, preparedClosed: b.closed };
}

describe('prepared response heads (wire-head.ts)', () => {
  it('is available on this Node', () => {
    // Node 20, 22 and 24 have the ServerResponse fields it relies on; a Node without them
    // would run every hit through writeHead (still correct, only slower).
    assert.equal(PREPARED_WRITES, true);
  });

  it('a keep-alive GET: the same bytes as writeHead + end, body included', async () => {
    const r = await both((way) => `GET /a?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 200);
    assert.equal(endings.get('/a?way=prepared'), 'Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n');
    assert.equal(directs.get('/a?way=prepared'), true);
    assert.match(r.node, /^HTTP\/1\.1 200 OK\r\nContent-Type: text\/html\r\n/);
    assert.ok(r.node.endsWith(BODY.toString('latin1')));
    assert.equal(r.prepared, r.node);
    assert.equal(r.preparedClosed, false);
  });

  it('sends the Date it was given when the fields carry none, and none of its own when they do', async () => {
    const got = await exchange(`GET /d?way=prepared HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 200);
    const date = /\r\nDate: ([^\r]*)\r\n/.exec(got.text)?.[1];
    assert.ok(date && Math.abs(Date.parse(date) - Date.now()) < 2000, `Date ${date}`);
    const r = await both((way) => `GET /d?way=${way}&date HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 200);
    assert.equal(r.prepared, r.node);
    assert.equal(r.prepared.match(/\r\nDate: /g)?.length, 1);
    assert.match(r.prepared, /\r\nDate: -\r\n/);
  });

  it('HEAD: the head alone, as Node sends it', async () => {
    const r = await both((way) => `HEAD /h?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`, 150);
    assert.ok(endings.get('/h?way=prepared') !== undefined);
    assert.equal(directs.get('/h?way=prepared'), false);
    assert.ok(r.node.endsWith('\r\n\r\n'));
    assert.equal(r.prepared, r.node);
  });

  it('pipelined requests are answered in order, a slow first one holding back a prepared second', async () => {
    const r = await both(
      (way) => `GET /p1?way=${way}&delay=100 HTTP/1.1\r\nHost: x\r\n\r\nGET /p2?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`,
      2 * (BODY.length + 150),
    );
    assert.ok(endings.get('/p2?way=prepared') !== undefined);
    // The first owns the socket when it answers; the second is queued behind it and goes through Node.
    assert.equal(directs.get('/p1?way=prepared&delay=100'), true);
    assert.equal(directs.get('/p2?way=prepared'), false);
    assert.equal(r.node.split('HTTP/1.1 200 OK').length, 3);
    assert.equal(r.prepared, r.node);
  });

  it('a body larger than the socket takes at once: all of it, then the next request on the same connection', async () => {
    const socket = net.connect(port, '127.0.0.1');
    try {
      const chunks: Buffer[] = [];
      let got = 0;
      const until = (bytes: number) => new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${got} of ${bytes} bytes`)), 10_000);
        const check = () => {
          if (got < bytes) return;
          clearTimeout(timer);
          socket.off('data', onData);
          resolve();
        };
        const onData = (d: Buffer) => {
          chunks.push(d);
          got += d.length;
          check();
        };
        socket.on('data', onData);
        check();
      });
      socket.write('GET /big?way=prepared&big&count HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(BIG.length + 200);
      const first = Buffer.concat(chunks);
      const headEnd = first.indexOf('\r\n\r\n') + 4;
      assert.match(first.subarray(0, headEnd).toString('latin1'), new RegExp(`\r\nContent-Length: ${BIG.length}\r\n`));
      assert.equal(first.length - headEnd, BIG.length);
      assert.ok(first.subarray(headEnd).equals(BIG));
      chunks.length = 0;
      got = 0;
      socket.write('GET /after?way=prepared HTTP/1.1\r\nHost: x\r\n\r\n');
      await until(BODY.length + 150);
      const second = Buffer.concat(chunks).toString('latin1');
      assert.match(second, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(second.endsWith(BODY.toString('latin1')));
      // The counter wrapped the first response's write and end: Node's end(body) took it, and counted it.
      assert.equal(directs.get('/big?way=prepared&big&count'), false);
      assert.equal(counted.get('/big?way=prepared&big&count'), BIG.length);
      assert.equal(directs.get('/after?way=prepared'), true);
    } finally {
      socket.destroy();
    }
  });

  it('a large body written directly: the same bytes as Node, and the response finishes only when the socket has sent them', async () => {
    const r = await both((way) => `GET /bd?way=${way}&big HTTP/1.1\r\nHost: x\r\n\r\n`, BIG.length + 200);
    assert.equal(directs.get('/bd?way=prepared&big'), true);
    assert.deepEqual(finishes.get('/bd?way=prepared&big'), { atOnce: false, unsentAtFinish: 0 });
    assert.ok(r.node.endsWith(BIG.toString('latin1')));
    assert.equal(r.prepared, r.node);
    assert.equal(r.preparedClosed, false);
  });

  it('steps aside for Connection: close, HTTP/1.0, a header set earlier and a per-socket request limit', async () => {
    const close = await both((way) => `GET /c?way=${way} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, BODY.length + 150);
    assert.equal(endings.get('/c?way=prepared'), undefined);
    assert.equal(close.prepared, close.node);
    assert.match(close.prepared, /\r\nConnection: close\r\n/);
    assert.ok(close.preparedClosed);

    const old = await both((way) => `GET /o?way=${way} HTTP/1.0\r\n\r\n`, BODY.length + 150);
    assert.equal(endings.get('/o?way=prepared'), undefined);
    assert.equal(old.prepared, old.node);

    const set = await both((way) => `GET /s?way=${way}&set HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 150);
    assert.equal(endings.get('/s?way=prepared&set'), undefined);
    assert.match(set.prepared, /\r\nX-Set: early\r\n/);

    server.maxRequestsPerSocket = 10;
    try {
      const limited = await both((way) => `GET /m?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 150);
      assert.equal(endings.get('/m?way=prepared'), undefined);
      assert.equal(limited.prepared, limited.node);
    } finally {
      server.maxRequestsPerSocket = 0;
    }
  });

  it('follows the server keep-alive timeout, none when it is 0', async () => {
    server.keepAliveTimeout = 0;
    try {
      const r = await both((way) => `GET /k?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 150);
      assert.equal(endings.get('/k?way=prepared'), 'Connection: keep-alive\r\n\r\n');
      assert.equal(r.prepared, r.node);
    } finally {
      server.keepAliveTimeout = 5000;
    }
    const r = await both((way) => `GET /k2?way=${way} HTTP/1.1\r\nHost: x\r\n\r\n`, BODY.length + 150);
    assert.equal(r.prepared, r.node);
  });
});

describe('deliver.ts and prepared heads', () => {
  // An entry this process built from a response was not checked the way a decoded one was:
  // a field Node would refuse must still reach writeHead (and its refusal), never the wire.
  it('an entry with a field Node refuses is not serialised by memfront', async () => {
    const { deliverNow } = await import('../../src/engine/deliver.js');
    const { entryOf } = await import('../../src/store/entry-codec.js');
    const now = Date.now();
    const entry = entryOf({
      status: 200,
      headers: [['Content-Type', 'text/plain'], ['X-Odd', 'a\x01b']],
      storedAt: now,
      staleAt: now + 60_000,
      gzip: false,
      body: Buffer.from('hello'),
    });
    const good = entryOf({ ...entry, headers: [['Content-Type', 'text/plain']] });
    const errors: string[] = [];
    const s = http.createServer((req, res) => {
      try {
        deliverNow(req, res, req.url === '/bad' ? entry : good, { xCache: 'HIT', cacheStatus: 'memfront; hit; ttl=60', now });
      } catch (err) {
        errors.push((err as NodeJS.ErrnoException).code ?? String(err));
        res.writeHead(500, { 'Content-Length': '0' });
        res.end();
      }
    });
    await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const p = (s.address() as AddressInfo).port;
    try {
      const ask = (path: string) => new Promise<{ status: number; raw: string }>((resolve, reject) => {
        http.get({ port: p, host: '127.0.0.1', path }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, raw: JSON.stringify(res.rawHeaders) + Buffer.concat(parts).toString() }));
        }).on('error', reject);
      });
      const ok = await ask('/good');
      assert.equal(ok.status, 200);
      assert.match(ok.raw, /hello$/);
      const bad = await ask('/bad');
      assert.equal(bad.status, 500);
      assert.deepEqual(errors, ['ERR_INVALID_CHAR']);
      assert.doesNotMatch(bad.raw, /X-Odd/);
    } finally {
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    }
  });
});
