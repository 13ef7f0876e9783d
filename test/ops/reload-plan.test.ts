// The decisions behind reloads and restarts, as tables: what a new config changes, how long a
// crashed worker waits to be replaced, how many workers `workers` means.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { changedKeys, planReload } from '../../src/reload.js';
import { resolveWorkers, restartDelay, RESTART_BACKOFF } from '../../src/cluster.js';
import { splitHostPort, urlHostPort } from '../../src/admin/probe.js';
import { configFrom } from '../helpers/stack.js';

const base = configFrom({});
const but = (over: Record<string, unknown>) => configFrom(over);

describe('planReload', () => {
  const cases: Array<[string, ReturnType<typeof configFrom>, Partial<ReturnType<typeof planReload>>]> = [
    ['nothing changed', but({}), { changed: [], keepStore: true, rebindListen: false, rebindAdmin: false, needsRestart: [] }],
    ['a ttl: the store is kept', but({ cache: { defaultTtl: 60 } }), { changed: ['cache.defaultTtl'], keepStore: true }],
    ['the key prefix: the store is kept', but({ cache: { memcached: { keyPrefix: 'v2:' } } }), { changed: ['cache.memcached.keyPrefix'], keepStore: true }],
    ['another memcached pool: a new store', but({ cache: { memcached: { servers: ['10.0.0.1:11211'] } } }), { keepStore: false }],
    ['the memcached timeout: a new store', but({ cache: { memcached: { timeoutMs: 100 } } }), { keepStore: false }],
    ['the hot tier: a new store', but({ cache: { l1: { ttlMs: 500 } } }), { keepStore: false }],
    ['memory instead of memcached: a new store', but({ cache: { store: 'memory' } }), { keepStore: false }],
    ['the cache off: no store to keep', but({ cache: { enabled: false } }), { keepStore: false }],
    ['the listen port: rebind', but({ listen: { port: 9090 } }), { changed: ['listen.port'], rebindListen: true, rebindAdmin: false }],
    ['the admin port: rebind admin', but({ admin: { port: 9091 } }), { rebindAdmin: true, rebindListen: false }],
    ['the PURGE allow list: no rebind', but({ admin: { purgeAllow: ['10.0.0.0/8'] } }), { changed: ['admin.purgeAllow'], rebindAdmin: false }],
    ['pretty logs: only on restart', but({ log: { pretty: true } }), { changed: ['log.pretty'], needsRestart: ['log.pretty'] }],
    ['a route: compared whole', but({ routes: [{ match: '^/a', to: 'backend' }] }), { changed: ['routes'] }],
    ['a reproxy service: the service map compared whole', but({ reproxy: { services: { img: ['http://10.0.0.1'] } } }), { changed: ['reproxy.services'] }],
  ];
  for (const [name, next, want] of cases) {
    it(name, () => {
      const plan = planReload(base, next);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(plan[k as keyof typeof plan], v, k);
    });
  }
});

describe('changedKeys', () => {
  it('names leaf paths, including keys only one side has', () => {
    assert.deepEqual(changedKeys({ a: { b: 1, c: [1] }, d: 1 }, { a: { b: 2, c: [1] }, e: 1 }), ['a.b', 'd', 'e']);
  });
});

describe('restartDelay', () => {
  const now = 1_000_000;
  const ago = (...ms: number[]) => ms.map((m) => now - m);
  const cases: Array<[string, number[], number]> = [
    ['a lone crash: at once', ago(0), 0],
    ['a second crash within the window: 250 ms', ago(5000, 0), 250],
    ['a third: 500 ms', ago(9000, 5000, 0), 500],
    ['a sixth: 4 s', ago(50, 40, 30, 20, 10, 0), 4000],
    ['a crash loop: capped at 30 s', ago(...Array.from({ length: 20 }, (_, i) => i * 100)), 30_000],
    ['crashes older than the window are forgotten', ago(RESTART_BACKOFF.windowMs, RESTART_BACKOFF.windowMs + 1, 0), 0],
  ];
  for (const [name, crashes, want] of cases) {
    it(name, () => assert.equal(restartDelay(crashes, now), want));
  }
});

describe('resolveWorkers', () => {
  it('0 is one per core; other values as given', () => {
    assert.equal(resolveWorkers(0, 8), 8);
    assert.equal(resolveWorkers(0, 1), 1);
    assert.equal(resolveWorkers(3, 8), 3);
    assert.equal(resolveWorkers(1, 8), 1);
  });
});

describe('server addresses', () => {
  it('splits host:port and [v6]:port, and finds the port of a URL', () => {
    assert.deepEqual(splitHostPort('10.0.0.1:11211'), { host: '10.0.0.1', port: 11211 });
    assert.deepEqual(splitHostPort('[::1]:11211'), { host: '::1', port: 11211 });
    assert.deepEqual(splitHostPort('cache-1.internal:11211'), { host: 'cache-1.internal', port: 11211 });
    assert.deepEqual(urlHostPort('http://cms.internal/'), { host: 'cms.internal', port: 80 });
    assert.deepEqual(urlHostPort('https://cms.internal/'), { host: 'cms.internal', port: 443 });
    assert.deepEqual(urlHostPort('http://[::1]:8081/x'), { host: '::1', port: 8081 });
  });
});
