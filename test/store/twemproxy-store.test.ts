// The memcached store through a real twemproxy (nutcracker, conf/nutcracker.yml) over two
// memcached: the conformance suite on the text protocol, why the binary one cannot work
// there, and what the proxy does with the keys and with a memcached that dies.

import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CacheError } from '../../src/errors.js';
import { MemcachedStore, TIMEOUTS_BEFORE_DOWN } from '../../src/store/memcached-store.js';
import { HashRing } from '../../src/store/ring.js';
import { listenOn } from '../helpers/listen.js';
import { memcachedCommand, startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { startNutcracker, type NutcrackerProcess } from '../helpers/nutcracker.js';
import { storeConformanceSuite } from './store-suite.js';

const MB = 1024 * 1024;

storeConformanceSuite('MemcachedStore (text protocol, through nutcracker)', async () => {
  const mcs = await Promise.all([startMemcached(), startMemcached()]);
  const proxy = await startNutcracker(mcs.map((m) => m.address));
  const store = new MemcachedStore({ servers: [proxy.address], protocol: 'text', timeoutMs: 1000, maxItemSize: MB });
  return {
    store,
    maxValueBytes: MB,
    versionAlone: false,
    elapse: (seconds) => sleep(seconds * 1000),
    close: async () => {
      await store.close();
      await proxy.stop();
      await Promise.all(mcs.map((m) => m.stop()));
    },
  };
});

describe('through nutcracker', () => {
  let mcs: MemcachedProcess[];
  let proxy: NutcrackerProcess;
  before(async () => {
    mcs = await Promise.all([startMemcached(), startMemcached()]);
    proxy = await startNutcracker(mcs.map((m) => m.address));
  });
  after(async () => {
    await proxy?.stop();
    await Promise.all((mcs ?? []).map((m) => m.stop()));
  });

  it('the binary protocol is not forwarded: every call fails (a miss) and the proxy is taken out', async () => {
    const store = new MemcachedStore({ servers: [proxy.address], protocol: 'binary', timeoutMs: 200, maxItemSize: MB, retryMs: 60_000 });
    try {
      // nutcracker closes the connection on the first binary byte; memjs notices only at its
      // deadline, so each call is a timeout, and a run of them takes the proxy out.
      await assert.rejects(store.set('bin:k', Buffer.from('v'), 0), CacheError);
      for (let i = 1; i < TIMEOUTS_BEFORE_DOWN; i++) await assert.rejects(store.get('bin:k'), CacheError);
      assert.deepEqual(store.status(), [{ server: proxy.address, up: false }]);
    } finally {
      await store.close();
    }
  });

  it('spreads keys over both memcached, each key on one, where ketama over the two puts it', async () => {
    const store = new MemcachedStore({ servers: [proxy.address], protocol: 'text', timeoutMs: 1000, maxItemSize: MB });
    const keys = Array.from({ length: 200 }, (_, i) => `spread:${i}`);
    try {
      for (const k of keys) assert.equal(await store.set(k, Buffer.from(k), 0), true);
      const ring = new HashRing(mcs.map((m) => m.address));
      const held = [0, 0];
      for (const k of keys) {
        const on = [];
        for (let i = 0; i < mcs.length; i++) {
          if ((await memcachedCommand(mcs[i].port, `get ${k}\r\n`, 'END\r\n')).startsWith('VALUE ')) on.push(i);
        }
        assert.equal(on.length, 1, `${k} is on ${on.length} servers`);
        held[on[0]]++;
        // nutcracker's ketama is libketama's, as memfront's own ring: the same key space.
        assert.equal(mcs[on[0]].address, ring.get(k), `placement of ${k}`);
      }
      assert.ok(held[0] > 50 && held[1] > 50, `keys per server: ${held.join(', ')}`);
    } finally {
      await store.close();
    }
  });

  it('a memcached killed behind it: its keys miss at once, the proxy stays up, and writes land on the other', async () => {
    const extra = await Promise.all([startMemcached(), startMemcached()]);
    const own = await startNutcracker(extra.map((m) => m.address));
    const store = new MemcachedStore({ servers: [own.address], protocol: 'text', timeoutMs: 1000, maxItemSize: MB, retryMs: 60_000 });
    const keys = Array.from({ length: 100 }, (_, i) => `kill:${i}`);
    try {
      for (const k of keys) assert.equal(await store.set(k, Buffer.from(k), 0), true);
      await extra[1].stop();
      const ring = new HashRing(extra.map((m) => m.address));
      let slowest = 0;
      let refused = 0;
      for (const k of keys) {
        const started = performance.now();
        try {
          const got = await store.get(k);
          if (ring.get(k) === extra[0].address) assert.deepEqual(got, Buffer.from(k), `${k} lost though its server is up`);
          else assert.equal(got, null);
        } catch (err) {
          // nutcracker's SERVER_ERROR for the dead server's keys until it ejects it: a miss.
          assert.ok(err instanceof CacheError);
          refused++;
        }
        slowest = Math.max(slowest, performance.now() - started);
      }
      assert.ok(slowest < 500, `slowest get took ${slowest.toFixed(0)} ms`);
      assert.ok(refused <= 2, `${refused} gets refused`);
      // The proxy answered every time: it is still in use.
      assert.deepEqual(store.status(), [{ server: own.address, up: true }]);
      // Once ejected, the dead server's keys are stored on the survivor.
      const moved = keys.filter((k) => ring.get(k) === extra[1].address);
      for (const k of moved) assert.equal(await store.set(k, Buffer.from('again'), 0), true);
      for (const k of moved) assert.deepEqual(await store.get(k), Buffer.from('again'));
    } finally {
      await store.close();
      await own.stop();
      await Promise.all(extra.map((m) => m.stop()));
    }
  });

  it('more deletes missed than the store remembers: it comes back anyway, though the proxy forwards no flush_all', { timeout: 30_000 }, async () => {
    // In front of nutcracker: a way to cut memfront off from it and let it back.
    let cut = true;
    const open = new Set<net.Socket>();
    const gate = net.createServer((client) => {
      if (cut) return client.destroy();
      open.add(client);
      const upstream = net.connect(proxy.port, '127.0.0.1');
      for (const sock of [client, upstream]) sock.on('error', () => {});
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    const address = `127.0.0.1:${await listenOn(gate)}`;
    cut = false;
    const warnings: string[] = [];
    const logger = { warn: (_o: object, msg?: string) => void warnings.push(msg ?? ''), info() {} };
    const store = new MemcachedStore({ servers: [address], protocol: 'text', timeoutMs: 1000, maxItemSize: MB, retryMs: 100, logger });
    const keepAlive = setInterval(() => {}, 1000);
    try {
      assert.equal(await store.set('revive:purged', Buffer.from('old'), 0), true);
      cut = true;
      for (const sock of open) sock.destroy();
      await assert.rejects(store.get('revive:purged'), CacheError);
      assert.equal(store.status()[0].up, false);
      // PURGEs while it is out: the first is replayed on its return, past 10,000 it would be flushed.
      await assert.rejects(store.delete('revive:purged'), CacheError);
      for (let i = 0; i < 10_000; i++) await store.delete(`revive:other${i}`).catch(() => {});
      cut = false;
      const deadline = Date.now() + 20_000;
      while (!store.status()[0].up && Date.now() < deadline) await sleep(50);
      assert.equal(store.status()[0].up, true, 'back in use');
      assert.ok(warnings.some((w) => /flush_all not answered/.test(w)), 'says it could not flush');
      assert.equal(await store.get('revive:purged'), null, 'the purge it missed was replayed');
    } finally {
      clearInterval(keepAlive);
      await store.close();
      for (const sock of open) sock.destroy();
      gate.close();
    }
  });
});
