// A memcached server that was out comes back without being flushed (a pool shared by many
// memfronts must not lose a third of its entries to one slow moment), yet what was purged
// while it was out stays purged: the deletes it missed are replayed before it serves again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import type { StoreServerStatus } from '../../src/store/cache-store.js';
import { MemcachedStore, TIMEOUTS_BEFORE_DOWN } from '../../src/store/memcached-store.js';
import { HashRing } from '../../src/store/ring.js';
import { listenOn } from '../helpers/listen.js';
import { startMemcached } from '../helpers/memcached.js';

/** A TCP proxy to memcached that can stop passing requests on (a stalled server) and resume. */
async function stallingProxy(targetPort: number) {
  const sockets = new Set<net.Socket>();
  const state = { stalled: false };
  const server = net.createServer((client) => {
    sockets.add(client);
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(upstream);
    for (const s of [client, upstream]) s.on('error', () => {});
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (chunk) => {
      if (!state.stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk) => client.write(chunk));
  });
  const port = await listenOn(server);
  return {
    address: `127.0.0.1:${port}`,
    state,
    close() {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('a server back from a stall keeps its entries, minus the ones deleted while it was out', { timeout: 20_000 }, async () => {
  const mcA = await startMemcached();
  const mcB = await startMemcached();
  const proxy = await stallingProxy(mcA.port);
  const statuses: StoreServerStatus[] = [];
  const store = new MemcachedStore({
    servers: [proxy.address, mcB.address],
    timeoutMs: 100,
    maxItemSize: 1 << 20,
    retryMs: 100,
    onStatusChange: (s) => statuses.push(s),
  });
  // Keeps the test alive while the (unref'ed) probe timer runs.
  const keepAlive = setInterval(() => {}, 1000);
  try {
    const ring = new HashRing([proxy.address, mcB.address]);
    const onA = Array.from({ length: 200 }, (_, i) => `k${i}`).filter((k) => ring.get(k) === proxy.address).slice(0, 3);
    const [purged, kept, incremented] = onA;
    assert.equal(await store.set(purged, Buffer.from('purge me'), 60), true);
    assert.equal(await store.set(kept, Buffer.from('keep me'), 60), true);
    assert.equal(await store.set(incremented, Buffer.from('5'), 60), true);

    proxy.state.stalled = true;
    // A run of timeouts takes it out (one late answer would only be a miss).
    for (let i = 0; i < TIMEOUTS_BEFORE_DOWN; i++) await assert.rejects(store.get(kept));
    assert.deepEqual(statuses.at(-1), { server: proxy.address, up: false });
    // While A is out its keys go to B: this PURGE and this counter bump never reach A.
    assert.equal(await store.delete(purged), false);
    assert.equal(await store.incr(incremented, 1, 100, 60), 100);

    proxy.state.stalled = false;
    while (statuses.at(-1)?.up !== true) await new Promise((r) => setTimeout(r, 20));

    assert.equal(await store.get(purged), null, 'the delete it missed was replayed');
    assert.equal(await store.get(incremented), null, 'the counter it missed was dropped');
    assert.deepEqual(await store.get(kept), Buffer.from('keep me'), 'not flushed');
  } finally {
    clearInterval(keepAlive);
    await store.close();
    proxy.close();
    await Promise.all([mcA.stop(), mcB.stop()]);
  }
});

test('flushOnRevive: true flushes the returning server, as before', { timeout: 20_000 }, async () => {
  const mc = await startMemcached();
  const proxy = await stallingProxy(mc.port);
  const statuses: StoreServerStatus[] = [];
  const store = new MemcachedStore({
    servers: [proxy.address],
    timeoutMs: 100,
    maxItemSize: 1 << 20,
    retryMs: 100,
    flushOnRevive: true,
    onStatusChange: (s) => statuses.push(s),
  });
  const keepAlive = setInterval(() => {}, 1000);
  try {
    assert.equal(await store.set('k', Buffer.from('v'), 60), true);
    proxy.state.stalled = true;
    for (let i = 0; i < TIMEOUTS_BEFORE_DOWN; i++) await assert.rejects(store.get('k'));
    proxy.state.stalled = false;
    while (statuses.at(-1)?.up !== true) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await store.get('k'), null);
  } finally {
    clearInterval(keepAlive);
    await store.close();
    proxy.close();
    await mc.stop();
  }
});

