// The memcached store against real memcached processes: the shared conformance suite, then
// what a cache in front of a site needs from it when memcached misbehaves: deadlines, failover
// along the ring, and coming back once a server answers again.

import assert from 'node:assert/strict';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import memjs from 'memjs';
import { CacheError } from '../../src/errors.js';
import type { StoreServerStatus } from '../../src/store/cache-store.js';
import { MemcachedStore, TIMEOUTS_BEFORE_DOWN, type MemcachedProtocol, type MemcachedStoreOptions } from '../../src/store/memcached-store.js';
import { HashRing } from '../../src/store/ring.js';
import { listenOn } from '../helpers/listen.js';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { storeConformanceSuite } from './store-suite.js';

const MB = 1024 * 1024;
/** Slack on top of a deadline for a loaded machine running test files in parallel. */
const MARGIN_MS = 250;
const HANG_GUARD = { timeout: 20_000 };
const PROTOCOLS = ['binary', 'text'] as const;

for (const protocol of PROTOCOLS) storeConformanceSuite(`MemcachedStore (${protocol} protocol)`, async () => {
  const mc = await startMemcached();
  const store = new MemcachedStore({ servers: [mc.address], protocol, timeoutMs: 1000, maxItemSize: MB });
  return {
    store,
    maxValueBytes: MB,
    versionAlone: protocol === 'binary',
    // Memcached keeps time in whole seconds: there is no clock to step, only waiting.
    elapse: (seconds) => sleep(seconds * 1000),
    close: async () => {
      await store.close();
      await mc.stop();
    },
  };
});

/** Accepts connections, reads requests, never answers: a hung memcached. */
class SilentServer {
  private readonly server = net.createServer((socket) => this.accept(socket));
  readonly open = new Set<net.Socket>();
  accepted = 0;
  private waiters: { count: number; resolve: () => void }[] = [];

  listen(): Promise<number> {
    return listenOn(this.server);
  }

  /** Resolves once `count` connections in all have been accepted. */
  untilAccepted(count: number): Promise<void> {
    if (this.accepted >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  async close(): Promise<void> {
    for (const socket of this.open) socket.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  protected accept(socket: net.Socket): void {
    this.accepted++;
    this.open.add(socket);
    socket.on('close', () => this.open.delete(socket));
    socket.on('error', () => {});
    socket.resume();
    this.waiters = this.waiters.filter((w) => (this.accepted >= w.count ? (w.resolve(), false) : true));
  }
}

/** A TCP proxy to memcached that can stop answering (drops requests) and start again. */
class StallingProxy extends SilentServer {
  stalled = false;

  constructor(private readonly targetPort: number) {
    super();
  }

  protected override accept(client: net.Socket): void {
    super.accept(client);
    const upstream = net.connect(this.targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (!this.stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
  }
}

/** Collects onStatusChange reports and lets a test await the next one it expects. */
function statusWatcher() {
  const waiters: { up: boolean; resolve: (s: StoreServerStatus) => void }[] = [];
  return {
    onStatusChange(status: StoreServerStatus) {
      const i = waiters.findIndex((w) => w.up === status.up);
      if (i >= 0) waiters.splice(i, 1)[0].resolve(status);
    },
    next(up: boolean): Promise<StoreServerStatus> {
      // The store's probe timer is unref()ed, as it must be in a server; while a test awaits
      // it, something has to keep the event loop alive.
      const keepAlive = setInterval(() => {}, 1000);
      return new Promise<StoreServerStatus>((resolve) => waiters.push({ up, resolve })).finally(() =>
        clearInterval(keepAlive),
      );
    },
  };
}

async function timed<T>(work: Promise<T>): Promise<{ ms: number; result: PromiseSettledResult<T> }> {
  const start = performance.now();
  const [result] = await Promise.allSettled([work]);
  return { ms: performance.now() - start, result };
}

function assertCacheError(result: PromiseSettledResult<unknown>, code?: string): CacheError {
  assert.equal(result.status, 'rejected', 'expected the call to fail');
  const err = (result as PromiseRejectedResult).reason;
  assert.ok(err instanceof CacheError, `expected a CacheError, got ${String(err)}`);
  if (code) assert.equal(err.code, code);
  return err;
}

function storeWith(protocol: MemcachedProtocol, servers: string[], extra: Partial<MemcachedStoreOptions> = {}): MemcachedStore {
  return new MemcachedStore({ servers, protocol, timeoutMs: 200, maxItemSize: MB, ...extra });
}

test('memjs defect (measured): its second request to a server that never answers never settles', HANG_GUARD, async () => {
  // Why every MemcachedStore call carries its own deadline. If this starts failing, memjs
  // fixed its socket 'close' handling; the deadline stays useful regardless.
  const silent = new SilentServer();
  const port = await silent.listen();
  const client = memjs.Client.create(`127.0.0.1:${port}`, { timeout: 0.1, retries: 1, logger: { log() {} } });
  try {
    await assert.rejects(client.get('k'), /timed out/);
    const second = await Promise.race([client.get('k').then(() => 'settled', () => 'settled'), sleep(1000, 'pending')]);
    assert.equal(second, 'pending');
  } finally {
    client.close();
    await silent.close();
  }
});

// Everything below holds for either wire protocol.
for (const protocol of PROTOCOLS) describe(`${protocol} protocol`, () => {
  const storeFor = (servers: string[], extra: Partial<MemcachedStoreOptions> = {}) => storeWith(protocol, servers, extra);

  test('a server that accepts but never answers: sequential gets each fail within the deadline', HANG_GUARD, async () => {
    const silent = new SilentServer();
    const port = await silent.listen();
    const store = storeFor([`127.0.0.1:${port}`], { timeoutMs: 100 });
    try {
      const first = await timed(store.get('k'));
      assertCacheError(first.result, 'MF_CACHE_TIMEOUT');
      assert.ok(first.ms < 100 + MARGIN_MS, `first get took ${first.ms} ms`);
      assert.equal(silent.accepted, 1, 'the get never reached the server');
      // One late answer is a miss, not an outage: the server stays in until a run of them.
      assert.deepEqual(store.status(), [{ server: `127.0.0.1:${port}`, up: true }]);
      for (let i = 1; i < TIMEOUTS_BEFORE_DOWN; i++) {
        const next = await timed(store.get('k'));
        assertCacheError(next.result);
        assert.ok(next.ms < 100 + MARGIN_MS, `get ${i + 1} took ${next.ms} ms`);
      }
      assert.deepEqual(store.status(), [{ server: `127.0.0.1:${port}`, up: false }]);
      const afterDown = await timed(store.get('k'));
      assertCacheError(afterDown.result, 'MF_CACHE_UNAVAILABLE');
      assert.ok(afterDown.ms < 20, 'a server that is out fails at once');
    } finally {
      await store.close();
      await silent.close();
    }
  });

  test('probes of a hung server do not pile up connections', HANG_GUARD, async () => {
    const silent = new SilentServer();
    const port = await silent.listen();
    const store = storeFor([`127.0.0.1:${port}`], { timeoutMs: 50, retryMs: 50 });
    try {
      for (let i = 0; i < TIMEOUTS_BEFORE_DOWN; i++) await assert.rejects(store.get('k'), CacheError);
      // The failed gets' connection and three probes, each on a fresh client after the last timed out.
      await silent.untilAccepted(4);
      assert.ok(silent.open.size <= 1, `${silent.open.size} connections left open`);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  test('with flushOnRevive a server that stalls is taken out, and brought back flushed once it answers again', HANG_GUARD, async () => {
    const mc = await startMemcached();
    const proxy = new StallingProxy(mc.port);
    const address = `127.0.0.1:${await proxy.listen()}`;
    const watch = statusWatcher();
    const store = storeFor([address], { timeoutMs: 100, retryMs: 100, flushOnRevive: true, onStatusChange: watch.onStatusChange });
    try {
      assert.equal(await store.set('k', Buffer.from('before'), 0), true);
      proxy.stalled = true;
      const down = watch.next(false);
      for (let i = 0; i < TIMEOUTS_BEFORE_DOWN; i++) {
        const stalledGet = await timed(store.get('k'));
        assertCacheError(stalledGet.result, 'MF_CACHE_TIMEOUT');
        assert.ok(stalledGet.ms < 100 + MARGIN_MS, `get took ${stalledGet.ms} ms`);
      }
      await down;
      // Two probes fail while it stays stalled.
      await proxy.untilAccepted(proxy.accepted + 2);
      assert.equal(store.status()[0].up, false);

      const up = watch.next(true);
      proxy.stalled = false;
      await up;
      // While it was out its keys may have changed elsewhere: it comes back empty.
      assert.equal(await store.get('k'), null);
      assert.equal(await store.set('k', Buffer.from('after'), 0), true);
      assert.deepEqual(await store.get('k'), Buffer.from('after'));
    } finally {
      await store.close();
      await proxy.close();
      await mc.stop();
    }
  });

  test('with flushOnRevive false a server comes back as it was', HANG_GUARD, async () => {
    const mc = await startMemcached();
    const proxy = new StallingProxy(mc.port);
    const address = `127.0.0.1:${await proxy.listen()}`;
    const watch = statusWatcher();
    const store = storeFor([address], {
      timeoutMs: 100,
      retryMs: 100,
      flushOnRevive: false,
      onStatusChange: watch.onStatusChange,
    });
    try {
      assert.equal(await store.set('k', Buffer.from('kept'), 0), true);
      proxy.stalled = true;
      for (let i = 0; i < TIMEOUTS_BEFORE_DOWN; i++) await assert.rejects(store.get('k'), CacheError);
      const up = watch.next(true);
      proxy.stalled = false;
      await up;
      assert.deepEqual(await store.get('k'), Buffer.from('kept'));
    } finally {
      await store.close();
      await proxy.close();
      await mc.stop();
    }
  });

  test('a stopped memcached fails calls at once; once restarted, the background probe brings it back', HANG_GUARD, async () => {
    const mc = await startMemcached();
    const watch = statusWatcher();
    const store = storeFor([mc.address], { retryMs: 100, onStatusChange: watch.onStatusChange });
    try {
      assert.equal(await store.set('k', Buffer.from('v'), 0), true);
      await mc.stop();

      const first = await timed(store.get('k'));
      const err = assertCacheError(first.result, 'MF_CACHE_UNAVAILABLE');
      assert.ok(first.ms < 200 + MARGIN_MS, `first get took ${first.ms} ms`);
      // The cause says what went wrong on the wire.
      assert.match(String((err.cause as NodeJS.ErrnoException).code), /ECONNREFUSED|ECONNRESET|EPIPE/);

      // Every server is down: no waiting at all.
      const second = await timed(store.set('k', Buffer.from('v'), 0));
      assertCacheError(second.result, 'MF_CACHE_UNAVAILABLE');
      assert.ok(second.ms < 50, `second call took ${second.ms} ms`);
      assert.deepEqual(store.status(), [{ server: mc.address, up: false }]);

      const up = watch.next(true);
      const restartedAt = performance.now();
      await mc.restart();
      await up;
      assert.ok(performance.now() - restartedAt < 5000);
      assert.equal(await store.set('k', Buffer.from('again'), 0), true);
      assert.deepEqual(await store.get('k'), Buffer.from('again'));
      assert.deepEqual(store.status(), [{ server: mc.address, up: true }]);
    } finally {
      await store.close();
      await mc.stop();
    }
  });

  test('three servers, one stopped: the others keep their keys, its keys move on after one failure', HANG_GUARD, async () => {
    const mcs = await Promise.all([startMemcached(), startMemcached(), startMemcached()]);
    const addresses = mcs.map((m) => m.address);
    const store = storeFor(addresses, { retryMs: 60_000 });
    const direct = addresses.map((a) => storeFor([a]));
    const keys = Array.from({ length: 300 }, (_, i) => `three:${i}`);
    const value = (k: string) => Buffer.from(`value of ${k}`);
    try {
      for (const k of keys) assert.equal(await store.set(k, value(k), 0), true);

      // Each key sits on the one server the ring names, and only there.
      const ring = new HashRing(addresses);
      for (const k of keys) {
        const holders = [];
        for (let i = 0; i < 3; i++) if (await direct[i].get(k)) holders.push(addresses[i]);
        assert.deepEqual(holders, [ring.get(k)], `placement of ${k}`);
      }

      const dead = addresses[1];
      await mcs[1].stop();
      const failures: string[] = [];
      for (const k of keys) {
        try {
          const got = await store.get(k);
          if (ring.get(k) === dead) assert.equal(got, null, `${k} came from nowhere`);
          else assert.deepEqual(got, value(k), `${k} lost though its server is up`);
        } catch (err) {
          assert.ok(err instanceof CacheError);
          failures.push(k);
        }
      }
      assert.equal(failures.length, 1, `failed: ${failures.join(', ')}`);
      assert.equal(ring.get(failures[0]), dead);

      // The dead server's keys now live on the survivors, where the ring over them puts them.
      const survivors = new HashRing([addresses[0], addresses[2]]);
      const moved = keys.filter((k) => ring.get(k) === dead);
      for (const k of moved) assert.equal(await store.set(k, value(k), 0), true);
      for (const k of moved) {
        assert.deepEqual(await store.get(k), value(k));
        const holder = survivors.get(k)!;
        assert.deepEqual(await direct[addresses.indexOf(holder)].get(k), value(k));
      }
      assert.deepEqual(
        store.status().map((s) => s.up),
        [true, false, true],
      );
    } finally {
      await Promise.all([store.close(), ...direct.map((d) => d.close())]);
      await Promise.all(mcs.map((m) => m.stop()));
    }
  });

  test('adding a fourth server leaves about three quarters of the keys where they were', HANG_GUARD, async () => {
    const mcs: MemcachedProcess[] = await Promise.all([1, 2, 3, 4].map(() => startMemcached()));
    const addresses = mcs.map((m) => m.address);
    const three = storeFor(addresses.slice(0, 3));
    const four = storeFor(addresses);
    const keys = Array.from({ length: 1000 }, (_, i) => `grow:${i}`);
    try {
      for (const k of keys) await three.set(k, Buffer.from(k), 0);
      let found = 0;
      for (const k of keys) if (await four.get(k)) found++;
      const kept = found / keys.length;
      // memjs's modulo hashing would keep about a quarter.
      assert.ok(kept > 0.65 && kept < 0.85, `kept ${(kept * 100).toFixed(1)}%`);
    } finally {
      await Promise.all([three.close(), four.close()]);
      await Promise.all(mcs.map((m) => m.stop()));
    }
  });

  test('values over maxItemSize are refused without asking the server', HANG_GUARD, async () => {
    const silent = new SilentServer();
    const port = await silent.listen();
    const store = storeFor([`127.0.0.1:${port}`], { maxItemSize: 1000 });
    try {
      const refused = await timed(store.set('k', Buffer.alloc(1001), 0));
      assert.deepEqual(refused.result, { status: 'fulfilled', value: false });
      assert.ok(refused.ms < 50);
      assert.equal(await store.add('k', Buffer.alloc(1001), 0), false);
      assert.equal(silent.accepted, 0);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  test('a value memcached itself finds too large is "not stored", and the server stays up', HANG_GUARD, async () => {
    // Memcached's -I limit covers the item header and key too, so a value a little under
    // maxItemSize passes our check and is refused by the server.
    const mc = await startMemcached();
    const store = storeFor([mc.address]);
    try {
      assert.equal(await store.set('big', Buffer.alloc(MB - 10), 0), false);
      assert.equal(await store.add('big', Buffer.alloc(MB - 10), 0), false);
      assert.deepEqual(store.status(), [{ server: mc.address, up: true }]);
      assert.equal(await store.set('small', Buffer.from('ok'), 0), true);
      assert.deepEqual(await store.get('small'), Buffer.from('ok'));
    } finally {
      await store.close();
      await mc.stop();
    }
  });

  test('keys longer than memcached allows are rejected without asking the server', async () => {
    const silent = new SilentServer();
    const port = await silent.listen();
    const store = storeFor([`127.0.0.1:${port}`]);
    try {
      await assert.rejects(store.get('k'.repeat(251)), CacheError);
      assert.equal(silent.accepted, 0);
      assert.equal(store.status()[0].up, true);
    } finally {
      await store.close();
      await silent.close();
    }
  });

  test('after close, calls reject with a CacheError', async () => {
    const mc = await startMemcached();
    const store = storeFor([mc.address]);
    try {
      assert.equal(await store.set('k', Buffer.from('v'), 0), true);
      await store.close();
      await assert.rejects(store.get('k'), CacheError);
    } finally {
      await mc.stop();
    }
  });
});
