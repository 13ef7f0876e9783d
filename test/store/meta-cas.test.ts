// The meta-protocol CAS client: its reply parsing, then against a real memcached and against
// servers that cannot or will not answer (memcached < 1.6, a hung server).
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CacheError } from '../../src/errors.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';
import { MetaCasClient, metaRequest, parseMetaReply } from '../../src/store/meta-cas.js';
import { listenOn } from '../helpers/listen.js';
import { memcachedCommand, startMemcached, type MemcachedProcess } from '../helpers/memcached.js';

describe('meta reply parsing', () => {
  it('reads the CAS of a found item, and tells absent, unsupported and refused apart', () => {
    assert.deepEqual(parseMetaReply('HD c1206'), { kind: 'found', cas: '1206' });
    assert.deepEqual(parseMetaReply('HD O12 c18446744073709551615 t-1'), { kind: 'found', cas: '18446744073709551615' });
    assert.deepEqual(parseMetaReply('EN'), { kind: 'absent' });
    assert.deepEqual(parseMetaReply('ERROR'), { kind: 'unsupported' });
    assert.equal(parseMetaReply('CLIENT_ERROR bad command line format').kind, 'refused');
    assert.equal(parseMetaReply('HD').kind, 'refused', 'a found item without its CAS tells nothing');
    assert.equal(parseMetaReply('HD t30').kind, 'refused');
    assert.equal(parseMetaReply('SERVER_ERROR out of memory').kind, 'refused');
  });

  it('sends printable keys as they are and any other key base64-encoded', () => {
    assert.equal(metaRequest('mf:1:abc'), 'mg mf:1:abc c\r\n');
    assert.equal(metaRequest('a b'), `mg ${Buffer.from('a b').toString('base64')} b c\r\n`);
    assert.equal(metaRequest('ü'), `mg ${Buffer.from('ü').toString('base64')} b c\r\n`);
  });
});

describe('MetaCasClient against memcached', () => {
  let mc: MemcachedProcess;
  let client: MetaCasClient;
  before(async () => {
    mc = await startMemcached();
    client = new MetaCasClient('127.0.0.1', mc.port, 1000);
  });
  after(async () => {
    client.close();
    await mc.stop();
  });

  it('gives the item\'s CAS, a new one after each write, and null once it is gone', async () => {
    assert.equal(await client.cas('meta:k'), null);
    await memcachedCommand(mc.port, 'set meta:k 0 0 3\r\nabc\r\n', 'STORED\r\n');
    const first = await client.cas('meta:k');
    assert.match(first ?? '', /^\d+$/);
    // memcached's own view of the same item, over a separate connection.
    const seen = await memcachedCommand(mc.port, 'gets meta:k\r\n', 'END\r\n');
    assert.match(seen, new RegExp(`^VALUE meta:k 0 3 ${first}\r\n`));
    await memcachedCommand(mc.port, 'set meta:k 0 0 3\r\nabc\r\n', 'STORED\r\n');
    const second = await client.cas('meta:k');
    assert.notEqual(second, first);
    await memcachedCommand(mc.port, 'delete meta:k\r\n', 'DELETED\r\n');
    assert.equal(await client.cas('meta:k'), null);
  });

  it('answers pipelined questions each with its own key\'s CAS', async () => {
    const keys = Array.from({ length: 50 }, (_, i) => `meta:p${i}`);
    for (const k of keys.filter((_, i) => i % 2 === 0)) await memcachedCommand(mc.port, `set ${k} 0 0 1\r\nx\r\n`, 'STORED\r\n');
    const answers = await Promise.all(keys.map((k) => client.cas(k)));
    answers.forEach((a, i) => (i % 2 === 0 ? assert.match(a ?? '', /^\d+$/, keys[i]) : assert.equal(a, null, keys[i])));
    assert.equal(new Set(answers.filter((a) => a !== null)).size, 25, 'every stored key has its own CAS');
  });

  it('says "cannot tell" for a key memcached refuses, and keeps working', async () => {
    assert.equal(await client.cas('k'.repeat(300)), undefined);
    await memcachedCommand(mc.port, 'set meta:after 0 0 1\r\nx\r\n', 'STORED\r\n');
    assert.match((await client.cas('meta:after')) ?? '', /^\d+$/);
  });

  it('connects again after memcached restarts', async () => {
    await memcachedCommand(mc.port, 'set meta:r 0 0 1\r\nx\r\n', 'STORED\r\n');
    assert.ok(await client.cas('meta:r'));
    await mc.restart();
    // The first question may meet the dead connection; the one after it gets a new one.
    await client.cas('meta:r').catch((err: unknown) => assert.ok(err instanceof CacheError));
    assert.equal(await client.cas('meta:r'), null, 'a restarted memcached is empty');
  });
});

/** A TCP server answering each line with `reply(line)` (undefined: never answers). */
/** Answers each chunk's questions with CAS 1, 2, ... in order, and keeps the chunks as they came. */
async function numberingServer() {
  const chunks: string[] = [];
  const server = net.createServer((socket) => {
    socket.on('data', (chunk) => {
      chunks.push(chunk.toString('latin1'));
      socket.write(chunk.toString('latin1').split('\r\n').filter(Boolean).map((_, i) => `HD c${i + 1}\r\n`).join(''));
    });
  });
  const port = await listenOn(server);
  return { port, chunks, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function fakeServer(reply: (line: string) => string | undefined) {
  const lines: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    let text = '';
    socket.on('data', (chunk) => {
      text += chunk.toString('latin1');
      let end: number;
      while ((end = text.indexOf('\r\n')) >= 0) {
        const line = text.slice(0, end);
        text = text.slice(end + 2);
        lines.push(line);
        const answer = reply(line);
        if (answer !== undefined) socket.write(answer);
      }
    });
    socket.on('close', () => sockets.delete(socket));
  });
  const port = await listenOn(server);
  return {
    port,
    lines,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('MetaCasClient against servers that cannot answer', () => {
  it('memcached run without CAS values (-C) cannot tell, for the meta client and for a versioned read alike', async () => {
    const mc = await startMemcached({ noCas: true });
    const client = new MetaCasClient('127.0.0.1', mc.port, 1000);
    const store = new MemcachedStore({ servers: [mc.address], timeoutMs: 1000, maxItemSize: 1024 * 1024 });
    try {
      await memcachedCommand(mc.port, 'set meta:c 0 0 1\r\nx\r\n', 'STORED\r\n');
      assert.equal(await client.cas('meta:c'), undefined);
      assert.equal(await client.cas('meta:absent'), null);
      const read = await store.getVersioned('meta:c');
      assert.deepEqual(read?.value, Buffer.from('x'));
      assert.equal(read?.version, undefined);
      assert.equal(await store.version('meta:c'), undefined);
    } finally {
      client.close();
      await store.close();
      await mc.stop();
    }
  });

  it('a server without meta commands is asked once, then "cannot tell" comes at once', async () => {
    const old = await fakeServer(() => 'ERROR\r\n');
    const client = new MetaCasClient('127.0.0.1', old.port, 1000);
    try {
      assert.equal(await client.cas('a'), undefined);
      assert.equal(await client.cas('b'), undefined);
      assert.deepEqual(old.lines, ['mg a c'], 'nothing more is sent to it');
    } finally {
      client.close();
      await old.close();
    }
  });

  it('a server that does not answer fails every question pending on it by the deadline, and a new connection is made for the next', async () => {
    let answer = false;
    const hung = await fakeServer(() => (answer ? 'HD c7\r\n' : undefined));
    const client = new MetaCasClient('127.0.0.1', hung.port, 200);
    try {
      const started = Date.now();
      const pending = [client.cas('a'), client.cas('b')];
      for (const p of pending) {
        await assert.rejects(p, (err: unknown) => err instanceof CacheError && err.code === 'MF_CACHE_TIMEOUT');
      }
      const took = Date.now() - started;
      assert.ok(took >= 200 && took < 2000, `failed after ${took} ms`);
      answer = true;
      assert.equal(await client.cas('c'), '7');
    } finally {
      client.close();
      await hung.close();
    }
  });

  it('with batchMs, questions asked together go out in one write, after the batch time, and the deadline counts from the write', async () => {
    const { port, chunks, close } = await numberingServer();
    // A deadline shorter than the batch time: counted from the ask, every question would fail.
    const client = new MetaCasClient('127.0.0.1', port, 60, 100);
    try {
      const started = Date.now();
      const answers = await Promise.all([client.cas('a'), client.cas('b'), client.cas('c')]);
      const took = Date.now() - started;
      assert.deepEqual(answers, ['1', '2', '3']);
      assert.ok(took >= 95, `answered after ${took} ms: not held back`);
      assert.deepEqual(chunks, ['mg a c\r\nmg b c\r\nmg c c\r\n'], 'one write');
    } finally {
      client.close();
      await close();
    }
  });

  it('urgent questions from separate callbacks of one event-loop pass go out in one write, without the batch time', async () => {
    const { port, close } = await numberingServer();
    const client = new MetaCasClient('127.0.0.1', port, 1000, 5000);
    try {
      // One question before the connection is up, so the three below share one open socket.
      assert.equal(await client.cas('warm', true), '1');
      // Writes counted where they leave: the server may read separate writes as one chunk.
      const socket = (client as unknown as { socket: net.Socket }).socket;
      const writes: string[] = [];
      const write = socket.write.bind(socket);
      socket.write = ((data: string) => {
        writes.push(data);
        return write(data);
      }) as typeof socket.write;
      const started = Date.now();
      // Each asked from its own callback, as requests read from different sockets are.
      const answers = await new Promise<Array<string | null | undefined>>((resolve, reject) => {
        const asked: Array<Promise<string | null | undefined>> = [];
        let n = 0;
        for (const key of ['a', 'b', 'c']) {
          setImmediate(() => {
            asked.push(client.cas(key, true));
            if (++n === 3) Promise.all(asked).then(resolve, reject);
          });
        }
      });
      assert.deepEqual(answers, ['1', '2', '3']);
      assert.ok(Date.now() - started < 1000, 'not held back for the 5 s batch');
      assert.deepEqual(writes, ['mg a c\r\nmg b c\r\nmg c c\r\n'], 'one write');
    } finally {
      client.close();
      await close();
    }
  });

  it('an urgent question asked after its connection failed, with the failed one\'s write still scheduled, is sent on the new connection', async () => {
    const server = net.createServer((socket) => {
      socket.on('data', (chunk) => {
        const lines = chunk.toString('latin1').split('\r\n').filter(Boolean);
        // The first connection's question is answered by a dropped connection.
        if (lines.includes('mg drop c')) socket.destroy();
        else socket.write(lines.map(() => 'HD c9\r\n').join(''));
      });
    });
    const port = await listenOn(server);
    const client = new MetaCasClient('127.0.0.1', port, 1000);
    try {
      await assert.rejects(client.cas('drop', true), CacheError);
      // Asked in the same pass as a second doomed question, whose flush is still scheduled.
      const doomed = client.cas('drop', true);
      (client as unknown as { reset(e: CacheError): void }).reset(new CacheError('MF_CACHE_UNAVAILABLE', 'test reset'));
      await assert.rejects(doomed, CacheError);
      assert.equal(await client.cas('after', true), '9', 'answered, not left unsent');
    } finally {
      client.close();
      await new Promise<void>((r) => server.close(() => r()));
    }
  });

  it('a refused connection fails the question with a CacheError, not a hang', async () => {
    const gone = await fakeServer(() => undefined);
    const port = gone.port;
    await gone.close();
    const client = new MetaCasClient('127.0.0.1', port, 1000);
    try {
      await assert.rejects(client.cas('a'), (err: unknown) => err instanceof CacheError && err.code === 'MF_CACHE_UNAVAILABLE');
    } finally {
      client.close();
    }
  });

  it('after close, questions fail at once', async () => {
    const client = new MetaCasClient('127.0.0.1', 1, 1000);
    client.close();
    await assert.rejects(client.cas('a'), CacheError);
  });
});
