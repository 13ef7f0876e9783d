// Request coalescing end to end: a stampede on one slow page reaches the backend once, inside
// one process and across memfront processes sharing memcached (two CLI processes; two
// in-process instances with stores of their own), and never shares what may not be shared.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, until, type FakeBackend, type Got, type Stack } from '../helpers/stack.js';
import { cacheKey } from '../../src/policy/cache-key.js';
import { compileGlobs } from '../../src/policy/glob.js';
import { leaseKey } from '../../src/engine/lease.js';
import { MemcachedStore } from '../../src/store/memcached-store.js';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const STAMPEDE = 50;
// Slow enough that all 50 requests arrive while it is fetched, even on a busy machine.
const SLOW_MS = 1000;

let mc: MemcachedProcess;
let backend: FakeBackend;
let cookieSerial = 0;

function slowPage(ms: number, body: string, headers: Record<string, string> = {}) {
  return (_req: http.IncomingMessage, res: http.ServerResponse) => {
    setTimeout(() => {
      res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'max-age=60', ...headers });
      res.end(body);
    }, ms);
  };
}

function stackConfig(extra: Record<string, any> = {}) {
  return {
    backend: { url: backend.url, timeoutMs: 3000 },
    cache: { memcached: { servers: [mc.address], timeoutMs: 1000 }, staleWhileRevalidate: 0, staleIfError: 0, ...extra },
  };
}

// Instances behind one load balancer see one Host; the key is built from it.
const SITE = { host: 'www.example.test' };

/** `count` concurrent GETs of `path`, spread round-robin over `bases`, all for one site. */
function stampede(bases: string[], path: string, count = STAMPEDE): Promise<Got[]> {
  return Promise.all(Array.from({ length: count }, (_, i) => get(bases[i % bases.length] + path, { headers: SITE })));
}

function coalesced(all: Got[]): number {
  return all.filter((r) => r.headers['cache-status'] === 'memfront; fwd=miss; detail=coalesced').length;
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({
    '/cli-slow': slowPage(SLOW_MS, 'one slow page, fetched once'),
    '/one-slow': slowPage(SLOW_MS, 'the slow page'),
    '/two-slow': slowPage(SLOW_MS, 'the slow page, two instances'),
    '/private-slow': (req, res) => {
      const serial = ++cookieSerial;
      slowPage(300, `for visitor ${serial}`, { 'Set-Cookie': `sid=${serial}; HttpOnly` })(req, res);
    },
    '/orphan': slowPage(0, 'fetched once the dead lease expired'),
  });
});

after(async () => {
  await backend?.close();
  await mc?.stop();
});

describe('inside one process', () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack(stackConfig());
  });
  after(async () => {
    await stack?.close();
  });

  it(`${STAMPEDE} concurrent misses on a slow page reach the backend once`, async () => {
    const all = await stampede([stack.url], '/one-slow');
    assert.equal(backend.count('/one-slow'), 1);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body.toString(), 'the slow page');
    }
    assert.equal(coalesced(all), STAMPEDE - 1);
    const lines = stack.log.requests().filter((l) => l.url === '/one-slow');
    assert.equal(lines.filter((l) => l.detail === 'coalesced').length, STAMPEDE - 1);
  });

  it('a leader that fails lets one waiter try, and the others get its answer', async () => {
    let calls = 0;
    backend.route('/flaky', (_req, res) => {
      calls++;
      // The first request dies before its answer; the second one works.
      if (calls === 1) setTimeout(() => res.socket?.destroy(), 200);
      else slowPage(100, 'second time lucky')(_req, res);
    });
    const all = await stampede([stack.url], '/flaky', 20);
    assert.equal(backend.count('/flaky'), 2, 'the failed leader, then one waiter');
    const statuses = all.map((r) => r.status).sort();
    assert.deepEqual(statuses, [...Array(19).fill(200), 502]);
    assert.equal(coalesced(all), 18);
  });

  it('an answer with Set-Cookie is never handed to the waiters: each fetches its own', async () => {
    const all = await stampede([stack.url], '/private-slow', 10);
    assert.equal(backend.count('/private-slow'), 10);
    const cookies = new Set(all.map((r) => String(r.headers['set-cookie'])));
    assert.equal(cookies.size, 10, 'no two visitors share a cookie');
    for (const r of all) {
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.headers['cache-status'], 'memfront; fwd=uri-miss; detail=set-cookie');
      assert.match(r.body.toString(), new RegExp(`^for visitor ${String(r.headers['set-cookie']).match(/sid=(\d+)/)![1]}$`));
    }
  });

  it('a lease left by a process that died expires, and then the page is fetched', async () => {
    const key = cacheKey(
      { method: 'GET', scheme: 'http', host: new URL(stack.url).host, url: '/orphan' },
      { keyPrefix: stack.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(stack.config.cache.ignoreQueryParams) },
    );
    const raw = new MemcachedStore({ servers: [mc.address], timeoutMs: 500, maxItemSize: 1 << 20 });
    try {
      assert.equal(await raw.add(leaseKey(key), Buffer.from('Lsomeone-who-died'), 2), true);
      const t0 = Date.now();
      const r = await get(stack.url + '/orphan');
      const ms = Date.now() - t0;
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'fetched once the dead lease expired');
      assert.equal(backend.count('/orphan'), 1);
      // Memcached expires a 2 s item after 1 to 2 s: the request waited for it, and no longer.
      assert.ok(ms >= 900 && ms < 3500, `answered after ${ms} ms`);
    } finally {
      await raw.close();
    }
  });

  it('a PURGE while the page is being fetched: that answer is not stored', async () => {
    backend.route('/purged-in-flight', slowPage(300, 'fetched before the purge'));
    const pending = get(stack.url + '/purged-in-flight');
    await until(() => backend.count('/purged-in-flight') === 1, 2000, 'backend request');
    const purge = await get(stack.url + '/purged-in-flight', { method: 'PURGE' });
    assert.equal(purge.status, 404, 'nothing stored yet');
    assert.equal((await pending).status, 200);
    await stack.mf.settled();
    const after = await get(stack.url + '/purged-in-flight');
    assert.equal(after.headers['x-cache'], 'MISS', 'the answer fetched before the purge was not stored');
    assert.equal(backend.count('/purged-in-flight'), 2);
  });
});

describe('a PURGE that lands between the fetch\'s last look at its lease and its write', () => {
  for (const [protocol, l1] of [['binary', false], ['text', false], ['binary', true]] as const) {
    it(`(${protocol} protocol${l1 ? ', L1 on' : ''}) the page it purged is taken back out: the next visitor gets the new one`, async () => {
      const path = `/purged-at-store-${protocol}${l1 ? '-l1' : ''}`;
      let version = 1;
      backend.route(path, (_req, res) => {
        const body = `version ${version}`;
        res.writeHead(200, { 'Content-Type': 'text/html', 'Content-Length': body.length, 'Cache-Control': 'max-age=60' });
        res.end(body);
      });
      let stack: Stack | undefined;
      let purge: Promise<Got> | undefined;
      // The write of the page's entry meets a PURGE on its way (the page changed: version 2),
      // after the fetch found its lease still held and decided to store.
      const real = new MemcachedStore({ servers: [mc.address], protocol, timeoutMs: 1000, maxItemSize: 1024 * 1024 });
      const store = new Proxy(real, {
        get(target, prop) {
          const value = Reflect.get(target, prop, target);
          if (typeof value !== 'function') return value;
          if (prop !== 'set' && prop !== 'setVersioned') return value.bind(target);
          return async (key: string, ...rest: unknown[]) => {
            const entryKey = cacheKey(
              { method: 'GET', scheme: 'http', host: new URL(stack!.url).host, url: path },
              { keyPrefix: stack!.config.cache.memcached.keyPrefix, ignoreQueryParam: compileGlobs(stack!.config.cache.ignoreQueryParams) },
            );
            if (key === entryKey && !purge) {
              version = 2;
              purge = get(stack!.url + path, { method: 'PURGE' });
              await purge;
            }
            return value.call(target, key, ...rest);
          };
        },
      });
      stack = await startStack(stackConfig(l1 ? { l1: { maxBytes: 1 << 20, ttlMs: 1000 } } : {}), { store });
      try {
        const first = await get(stack.url + path);
        assert.equal(first.body.toString(), 'version 1');
        await stack.mf.settled();
        assert.ok(purge, 'the PURGE came while the entry was being written');
        // Nothing in memcached yet; with L1 on, the copy this process holds from the write's start.
        assert.equal((await purge).status, l1 ? 200 : 404);
        const next = await get(stack.url + path);
        assert.equal(next.headers['x-cache'], 'MISS', 'the page fetched before the PURGE is not served');
        assert.equal(next.body.toString(), 'version 2');
        assert.equal(backend.count(path), 2);
        await stack.mf.settled();
        assert.equal((await get(stack.url + path)).headers['x-cache'], 'HIT', 'the new page is stored');
      } finally {
        await stack.close();
      }
    });
  }
});

describe('across memfront instances sharing memcached', () => {
  let a: Stack;
  let b: Stack;
  before(async () => {
    // Each startStack builds its own MemcachedStore: nothing is shared but memcached.
    a = await startStack(stackConfig({ staleWhileRevalidate: 30, staleIfError: 60 }));
    b = await startStack(stackConfig({ staleWhileRevalidate: 30, staleIfError: 60 }));
  });
  after(async () => {
    await a?.close();
    await b?.close();
  });

  it(`${STAMPEDE} concurrent misses over two instances reach the backend once`, async () => {
    const all = await stampede([a.url, b.url], '/two-slow');
    assert.equal(backend.count('/two-slow'), 1);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body.toString(), 'the slow page, two instances');
    }
    assert.equal(coalesced(all), STAMPEDE - 1);
  });

  it('a private answer in one instance does not hold up the other: a pass marker sends it to the backend', async () => {
    const before = backend.count('/private-slow');
    const all = await stampede([a.url, b.url], '/private-slow', 10);
    assert.equal(backend.count('/private-slow') - before, 10);
    assert.equal(new Set(all.map((r) => String(r.headers['set-cookie']))).size, 10);
  });

  it('a stale page is refreshed once across both instances', async () => {
    let version = 1;
    backend.route('/two-stale', (_req, res) => {
      const body = `version ${version}`;
      setTimeout(() => {
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length, 'Cache-Control': 'max-age=1' });
        res.end(body);
      }, version === 1 ? 0 : 300);
    });
    await get(a.url + '/two-stale', { headers: SITE });
    await a.mf.settled();
    assert.equal((await get(b.url + '/two-stale', { headers: SITE })).headers['x-cache'], 'HIT');
    // max-age=1: past it, the entry is stale (memcached keeps it for staleWhileRevalidate).
    await sleep(1100);
    version = 2;
    const all = await stampede([a.url, b.url], '/two-stale', 20);
    for (const r of all) {
      assert.equal(r.headers['x-cache'], 'STALE');
      assert.equal(r.body.toString(), 'version 1');
    }
    await until(async () => (await get(b.url + '/two-stale', { headers: SITE })).body.toString() === 'version 2', 3000, 'the refreshed entry');
    assert.equal(backend.count('/two-stale'), 2, 'one request to prime it, one refresh for all 20');
    await a.mf.settled();
    await b.mf.settled();
    const n = backend.count('/two-stale');
    await stampede([a.url, b.url], '/two-stale', 10);
    assert.equal(backend.count('/two-stale'), n, 'the refreshed entry is a hit everywhere');
  });
});

describe('across two memfront processes (the CLI)', () => {
  const children: ChildProcess[] = [];
  const urls: string[] = [];

  async function spawnMemfront(): Promise<string> {
    const dir = mkdtempSync(join(tmpdir(), 'memfront-coalesce-'));
    const file = join(dir, 'config.json');
    writeFileSync(file, JSON.stringify({
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      ...stackConfig(),
    }));
    const child = spawn(process.execPath, [CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    const lines = createInterface({ input: child.stdout! });
    const exited = once(child, 'exit').then(([code]) => {
      throw new Error(`memfront exited with ${code} before listening`);
    });
    const listening = (async () => {
      for await (const line of lines) {
        const msg = JSON.parse(line);
        if (msg.msg === 'memfront listening') return `http://127.0.0.1:${msg.port}`;
      }
      throw new Error('memfront closed stdout before listening');
    })();
    return Promise.race([listening, exited]);
  }

  before(async () => {
    urls.push(await spawnMemfront(), await spawnMemfront());
  });
  after(async () => {
    await Promise.all(children.map(async (child) => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }));
  });

  it(`${STAMPEDE} concurrent misses over two processes reach the backend once`, async () => {
    const all = await stampede(urls, '/cli-slow');
    assert.equal(backend.count('/cli-slow'), 1);
    for (const r of all) {
      assert.equal(r.status, 200);
      assert.equal(r.headers['x-cache'], 'MISS');
      assert.equal(r.body.toString(), 'one slow page, fetched once');
    }
    assert.equal(coalesced(all), STAMPEDE - 1);
  });
});
