// The text-protocol client against a real memcached and a misbehaving fake: pipelining,
// reconnecting after the server closed an idle connection, incr's initial value under a
// race, and a stream out of step.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import v8 from 'node:v8';
import vm from 'node:vm';
import { TextClient } from '../../src/store/text-client.js';
import { ServerRefusal } from '../../src/store/wire-client.js';
import { listenOn } from '../helpers/listen.js';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';

describe('TextClient against memcached', () => {
  let mc: MemcachedProcess;
  let client: TextClient;
  before(async () => {
    mc = await startMemcached();
    client = new TextClient('127.0.0.1', mc.port);
  });
  after(async () => {
    client.destroy();
    await mc.stop();
  });

  it('answers 500 pipelined requests, each with its own reply', async () => {
    const keys = Array.from({ length: 500 }, (_, i) => `pipe:${i}`);
    const stored = await Promise.all(keys.map((k, i) => client.set(k, Buffer.from(`v${i}`.repeat(i % 7)), 0)));
    assert.ok(stored.every(Boolean));
    const got = await Promise.all(keys.map((k) => client.get(k)));
    got.forEach((v, i) => assert.deepEqual(v, Buffer.from(`v${i}`.repeat(i % 7)), keys[i]));
    const cas = await Promise.all(keys.map((k) => client.getWithCas(k)));
    assert.equal(new Set(cas.map((c) => c!.cas)).size, keys.length, 'each item its own CAS');
  });

  it('creates a counter once when two clients race to incr it', async () => {
    const other = new TextClient('127.0.0.1', mc.port);
    try {
      const both = await Promise.all([client.incr('race:ctr', 1, 10, 0), other.incr('race:ctr', 1, 10, 0)]);
      assert.deepEqual(both.sort(), [10, 11]);
    } finally {
      other.destroy();
    }
  });

  it('says which error memcached gave, as a refusal', async () => {
    await client.set('nan', Buffer.from('abc'), 0);
    await assert.rejects(client.incr('nan', 1, 0, 0), (err) => err instanceof ServerRefusal && /CLIENT_ERROR/.test(err.message));
    // The connection is still in step.
    assert.deepEqual(await client.get('nan'), Buffer.from('abc'));
  });

  it('connects again by itself after the server closed an idle connection', async () => {
    await client.set('restart:k', Buffer.from('v'), 0);
    await mc.restart();
    assert.equal(await client.get('restart:k'), null, 'a restarted memcached is empty');
  });
});

describe('TextClient against a server out of step', () => {
  let server: net.Server;
  let port: number;
  let connections = 0;
  before(async () => {
    server = net.createServer((socket) => {
      connections++;
      socket.once('data', () => socket.write(connections === 1 ? 'NONSENSE\r\n' : 'END\r\n'));
    });
    port = await listenOn(server);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('fails the requests on that connection as trouble (not refusals), and the next request connects again', async () => {
    const client = new TextClient('127.0.0.1', port);
    try {
      await assert.rejects(client.get('k'), (err) => err instanceof Error && !(err instanceof ServerRefusal) && /NONSENSE/.test(err.message));
      assert.equal(await client.get('k'), null);
      assert.equal(connections, 2);
    } finally {
      client.destroy();
    }
  });
});

describe('TextClient with requests still in flight', () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const VALUE = Buffer.alloc(100_000, 'v');
  let server: net.Server;
  let port: number;
  before(async () => {
    // Answers `get a`; leaves every other request unanswered, as a slow server would.
    server = net.createServer((socket) => {
      let text = '';
      socket.on('data', (d: Buffer) => {
        text += d.toString('latin1');
        for (let end = text.indexOf('\r\n'); end >= 0; end = text.indexOf('\r\n')) {
          if (text.slice(0, end) === 'get a') socket.write(Buffer.concat([Buffer.from(`VALUE a 0 ${VALUE.length}\r\n`), VALUE, Buffer.from('\r\nEND\r\n')]));
          text = text.slice(end + 2);
        }
      });
    });
    port = await listenOn(server);
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('keeps no answered value alive', async () => {
    const client = new TextClient('127.0.0.1', port);
    try {
      // Only a weak reference to the value leaves this function, and `b` is asked after `a`.
      let pending: Promise<Buffer | null> | undefined;
      const ref = await (async () => {
        const answered = client.get('a');
        pending = client.get('b').catch(() => null);
        return new WeakRef((await answered)!);
      })();
      assert.equal(ref.deref()?.length, VALUE.length);
      // A WeakRef's target stays alive until the turn that made it ends.
      await nextTurn();
      // gc() as such: asked as { type: 'major', execution: 'sync' } it left the value alive
      // whether or not the client held it (why was not looked into).
      gc();
      assert.equal(ref.deref(), undefined, 'the client still holds the value of an answered get');
      client.destroy();
      assert.equal(await pending, null);
    } finally {
      client.destroy();
    }
  });
});
