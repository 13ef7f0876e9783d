// /healthz and /metrics of one process (no workers): what the probes say about a real
// memcached and the backend as they stop and come back, and the state rule as a table.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, startBackend, startStack, until, type FakeBackend, type Stack } from '../helpers/stack.js';
import { cacheState, HealthProbes, type HealthReport, type ServerHealth } from '../../src/admin/health.js';
import { closeAdminServer, portOf, startAdminServer } from '../../src/admin/admin-server.js';
import { configFrom } from '../helpers/stack.js';
import { parsePrometheusText, sumOf } from './prom-text.js';

describe('cacheState', () => {
  const s = (up: boolean): ServerHealth => ({ server: 'x', up, ms: 0, detail: '' });
  const on = { cache: { enabled: true } } as any;
  const cases: Array<[string, any, ServerHealth[], string]> = [
    ['every server answers', on, [s(true), s(true)], 'up'],
    ['one of three does not', on, [s(true), s(false), s(true)], 'down'],
    ['none answers', on, [s(false)], 'down'],
    ['no servers at all', on, [], 'down'],
    ['the cache is off', { cache: { enabled: false } }, [s(true)], 'off'],
  ];
  for (const [name, cfg, servers, want] of cases) {
    it(`${name}: ${want}`, () => assert.equal(cacheState(cfg, servers), want));
  }
});

describe('HealthProbes', () => {
  it('reuses one round of answers for ttlMs, then probes again', async () => {
    let connections = 0;
    const server = http.createServer().on('connection', (s) => {
      connections++;
      s.destroy();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as any).port;
    let now = 0;
    const probes = new HealthProbes(configFrom({ cache: { enabled: false }, backend: { url: `http://127.0.0.1:${port}` } }), { ttlMs: 1000, now: () => now });
    try {
      const [a, b] = await Promise.all([probes.report(), probes.report()]);
      assert.equal(a, b, 'concurrent callers share one report');
      assert.equal(a.backend.reachable, true);
      now = 999;
      await probes.report();
      assert.equal(connections, 1);
      now = 1000;
      await probes.report();
      await until(() => connections === 2, 2000, 'a second probe');
    } finally {
      server.close();
    }
  });
});

describe('the admin listener', () => {
  it('answers /healthz 503 "unavailable" while nothing can serve, 200 "ok" otherwise; other paths 404, other methods 405', async () => {
    let serving = false;
    const report: HealthReport = { cache: 'down', cacheServers: [], backend: { url: 'http://x', reachable: false, ms: 0, detail: '' } };
    const server = await startAdminServer('127.0.0.1', 0, {
      version: '9.9.9',
      startedAt: Date.now(),
      health: async () => report,
      metricsText: async () => ({ contentType: 'text/plain', body: '' }),
      serving: () => serving,
      extra: async () => ({ workers: [] }),
    });
    const base = `http://127.0.0.1:${portOf(server)}`;
    try {
      const down = await get(`${base}/healthz`);
      assert.equal(down.status, 503);
      assert.equal(JSON.parse(down.body.toString()).status, 'unavailable');
      serving = true;
      const up = await get(`${base}/healthz`);
      assert.equal(up.status, 200);
      assert.deepEqual(
        (({ status, cache, version, workers }) => ({ status, cache, version, workers }))(JSON.parse(up.body.toString())),
        { status: 'ok', cache: 'down', version: '9.9.9', workers: [] },
      );
      assert.equal((await get(`${base}/nope`)).status, 404);
      assert.equal((await get(`${base}/healthz`, { method: 'POST' })).status, 405);
    } finally {
      await closeAdminServer(server);
    }
  });
});

describe('/healthz and /metrics with one process', () => {
  let mc: MemcachedProcess;
  let backend: FakeBackend;
  let stack: Stack;
  const healthz = async () => {
    const res = await get(`http://127.0.0.1:${stack.mf.adminPort}/healthz`);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    return JSON.parse(res.body.toString());
  };

  before(async () => {
    mc = await startMemcached();
    backend = await startBackend({}, (_req, res) => {
      res.writeHead(200, { 'Cache-Control': 'max-age=60' });
      res.end('ok');
    });
    stack = await startStack({ backend: { url: backend.url }, cache: { memcached: { servers: [mc.address] } } });
  });

  after(async () => {
    await stack?.close();
    await backend?.close();
    await mc?.stop();
  });

  it('reports the cache up, the backend reachable, uptime and version', async () => {
    const h = await healthz();
    assert.equal(h.status, 'ok');
    assert.equal(h.cache, 'up');
    assert.equal(h.cacheServers.length, 1);
    assert.equal(h.cacheServers[0].server, mc.address);
    assert.match(h.cacheServers[0].detail, /^memcached \d/);
    assert.deepEqual([h.backend.url, h.backend.reachable], [backend.url, true]);
    assert.equal(typeof h.uptime, 'number');
    assert.match(h.version, /^\d+\.\d+\.\d+/);
    assert.equal(h.pid, process.pid);
  });

  it('says the cache is down while memcached is stopped, and up once it is back', async () => {
    await mc.stop();
    try {
      await until(async () => (await healthz()).cache === 'down', 5000, 'cache: down');
      const h = await healthz();
      assert.equal(h.status, 'ok', 'still serving, so still 200 "ok"');
      assert.equal(h.cacheServers[0].up, false);
    } finally {
      await mc.restart();
    }
    await until(async () => (await healthz()).cache === 'up', 5000, 'cache: up');
  });

  it('says the backend is unreachable while it is down', async () => {
    await backend.close();
    try {
      await until(async () => (await healthz()).backend.reachable === false, 5000, 'backend unreachable');
      assert.match((await healthz()).backend.detail, /ECONNREFUSED/);
    } finally {
      await new Promise<void>((resolve) => backend.server.listen(backend.port, '127.0.0.1', resolve));
    }
    await until(async () => (await healthz()).backend.reachable === true, 5000, 'backend reachable');
  });

  it('/metrics parses, and counts requests by outcome and route, stores and the store server', async () => {
    const scrape = async () => parsePrometheusText((await get(`http://127.0.0.1:${stack.mf.adminPort}/metrics`)).body.toString());
    const before = await scrape();
    // Until a hit: after the memcached restart above the store may need a moment to use it again.
    const seen = { HIT: 0, MISS: 0 } as Record<string, number>;
    const url = `${stack.url}/metrics-page`;
    await until(
      async () => {
        const x = String((await get(url)).headers['x-cache']);
        seen[x] = (seen[x] ?? 0) + 1;
        await stack.mf.settled();
        return x === 'HIT';
      },
      10_000,
      'a hit',
    );
    const m = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(m, name, labels) - sumOf(before, name, labels);
    assert.equal(delta('memfront_requests_total', { cache: 'miss', route: 'backend' }), seen.MISS);
    assert.equal(delta('memfront_requests_total', { cache: 'hit', route: 'backend' }), seen.HIT);
    assert.equal(delta('memfront_bytes_saved_total'), 2 * seen.HIT, 'the body "ok" of each hit');
    assert.ok(delta('memfront_cache_stores_total') >= 1);
    assert.equal(delta('memfront_cache_entry_bytes_count'), delta('memfront_cache_stores_total'));
    assert.equal(sumOf(m, 'memfront_cache_server_up', { server: mc.address }), 1);
    assert.equal(sumOf(m, 'memfront_build_info'), 1);
    assert.ok(m.types.has('process_cpu_user_seconds_total'), 'process metrics too');
  });
});
