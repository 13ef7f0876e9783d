// SIGHUP end to end, with one process and with two workers: a changed defaultTtl takes effect
// for the next entries stored (by every worker), and a broken file is refused with the
// running config kept.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { freePort } from '../helpers/listen.js';
import { startBackend, until, type FakeBackend } from '../helpers/stack.js';
import { request, scratchDir, startCli, ttlOf, type CliRun } from './cli-process.js';

// Stock WordPress-like pages: no freshness of their own, so cache.defaultTtl decides.
const noFreshness = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'text/html' });
  res.end('<p>no caching headers</p>');
};

let mc: MemcachedProcess;
let backend: FakeBackend;

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({}, noFreshness);
});

after(async () => {
  await backend?.close();
  await mc?.stop();
});

for (const workers of [1, 2]) {
  describe(`SIGHUP with workers: ${workers}`, () => {
    const scratch = scratchDir();
    let file: string;
    let mf: CliRun;
    let base: string;
    let admin: string;
    let paths = 0;
    let reloadedAt = 0;
    /** An unlabelled series' value. */
    const gauge = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    const config = (over: Record<string, any>) => ({
      workers,
      listen: { host: '127.0.0.1', port: 0 },
      admin: { host: '127.0.0.1', port: 0 },
      backend: { url: backend.url },
      shutdownGraceMs: 2000,
      ...over,
      cache: { memcached: { servers: [mc.address], keyPrefix: `reload${workers}:` }, ...over.cache },
    });

    /**
     * Stores fresh pages (each miss stored by whichever worker answered it) and returns the
     * ttl each one's first hit reports, with the pids that stored them.
     */
    async function storedTtls(n: number, untilWorkers = 1): Promise<{ ttls: number[]; storedBy: Set<number> }> {
      const ttls: number[] = [];
      const storedBy = new Set<number>();
      // The kernel hands each new connection to whichever worker accepts first: on a busy
      // machine one can win a dozen in a row, so pages are added until `untilWorkers` stored some.
      for (let i = 0; i < n || (storedBy.size < untilWorkers && i < n + 48); i++) {
        const path = `/p${workers}-${++paths}`;
        const miss = await request(base + path);
        assert.equal(miss.headers['x-cache'], 'MISS');
        const line = await mf.line((l) => l.msg === 'request' && l.url === path, 5000, `the log line of ${path}`);
        storedBy.add(line.pid);
        let hit = miss;
        await until(async () => (hit = await request(base + path)).headers['x-cache'] === 'HIT', 5000, `a hit on ${path}`);
        ttls.push(ttlOf(hit.headers['cache-status'])!);
      }
      return { ttls, storedBy };
    }

    async function hup(expect: 'config reloaded' | 'config reload failed; keeping the running config') {
      const count = mf.lines.filter((l) => l.msg === expect).length;
      process.kill(mf.pid, 'SIGHUP');
      const lines = () => mf.lines.filter((l) => l.msg === expect && l.pid === mf.pid);
      await until(() => lines().length > count, 10_000, expect);
      return lines()[count];
    }

    before(async () => {
      file = scratch.file('config.json', config({ cache: { defaultTtl: 300 } }));
      mf = startCli(['--config', file]);
      const listening = await mf.line((l) => l.msg === 'memfront listening', 30_000, 'memfront listening');
      base = `http://127.0.0.1:${listening.port}`;
      admin = `http://127.0.0.1:${listening.adminPort}`;
    });

    after(async () => {
      if (mf && mf.child.exitCode === null) {
        process.kill(mf.pid, 'SIGTERM');
        const { code } = await mf.exited;
        assert.equal(code, 0);
      }
      mf?.kill();
      scratch.remove();
    });

    it('a changed defaultTtl takes effect for the entries stored after the reload', async () => {
      const before = await storedTtls(2);
      for (const ttl of before.ttls) assert.ok(ttl > 280 && ttl <= 300, `ttl ${ttl} from defaultTtl 300`);

      const loadedAt = gauge((await request(`${admin}/metrics`)).body, 'memfront_config_last_reload_success_timestamp_seconds');
      assert.ok(loadedAt > Date.now() / 1000 - 120 && loadedAt <= Date.now() / 1000, `started at ${loadedAt}`);
      scratch.file('config.json', config({ cache: { defaultTtl: 60 } }));
      const hupAt = Date.now() / 1000;
      const reloaded = await hup('config reloaded');
      assert.deepEqual(reloaded.changed, ['cache.defaultTtl']);

      // Enough pages that, with two workers, both have stored some under the new config.
      const after = await storedTtls(workers === 1 ? 2 : 12, workers);
      for (const ttl of after.ttls) assert.ok(ttl > 40 && ttl <= 60, `ttl ${ttl} from defaultTtl 60`);
      assert.equal(after.storedBy.size, workers, 'every worker stored entries with the new ttl');
      const metrics = (await request(`${admin}/metrics`)).body;
      assert.match(metrics, /^memfront_config_reloads_total\{result="ok"\} 1$/m);
      assert.equal(gauge(metrics, 'memfront_config_last_reload_successful'), 1);
      assert.equal(gauge(metrics, 'memfront_backend_up'), 1, 'the process that probes (the primary with workers) reports it');
      reloadedAt = gauge(metrics, 'memfront_config_last_reload_success_timestamp_seconds');
      assert.ok(reloadedAt >= Math.floor(hupAt) && reloadedAt > loadedAt, `reloaded at ${reloadedAt}, SIGHUP at ${hupAt}`);
      // /inspect answers from the admin listener (with workers: a worker asked over IPC).
      const path = `/p${workers}-${paths}`;
      const inspected = JSON.parse((await request(`${admin}/inspect?url=${path}&host=${new URL(base).host}`)).body);
      assert.equal(inspected.cached, true, JSON.stringify(inspected));
      assert.ok(inspected.ttl > 40 && inspected.ttl <= 60);
    });

    it('a broken file is refused: logged at error with its reason, the running config kept', async () => {
      scratch.file('config.json', '{ "cache": { "defaultTtl": 30, } }');
      const unparsable = await hup('config reload failed; keeping the running config');
      assert.equal(unparsable.level, 50);
      assert.match(unparsable.err.message, new RegExp(`cannot parse ${file}`));

      scratch.file('config.json', config({ cache: { defaultTtl: 'soon' } }));
      const invalid = await hup('config reload failed; keeping the running config');
      assert.match(invalid.err.message, /^cache\.defaultTtl: must be a whole number >= 0, got "soon"/);

      // Still the last good config: 60 s, neither 30 nor the default 300.
      const still = await storedTtls(workers === 1 ? 1 : 6);
      for (const ttl of still.ttls) assert.ok(ttl > 40 && ttl <= 60, `ttl ${ttl} from the kept defaultTtl 60`);
      const metrics = (await request(`${admin}/metrics`)).body;
      assert.match(metrics, /^memfront_config_reloads_total\{result="failed"\} 2$/m);
      assert.equal(gauge(metrics, 'memfront_config_last_reload_successful'), 0, 'the last reload failed');
      assert.equal(gauge(metrics, 'memfront_config_last_reload_success_timestamp_seconds'), reloadedAt, 'still the last good one');
    });

    if (workers === 1) {
      it('a new listen.port: served there once reloaded, the old port closed', async () => {
        const port = await freePort();
        scratch.file('config.json', config({ cache: { defaultTtl: 60 }, listen: { host: '127.0.0.1', port } }));
        const reloaded = await hup('config reloaded');
        assert.deepEqual(reloaded.changed, ['listen.port']);
        const moved = `http://127.0.0.1:${port}`;
        assert.equal((await request(`${moved}/p-moved`)).status, 200);
        await assert.rejects(request(`${base}/p-old`), /ECONNREFUSED/);
        base = moved;
      });
    } else {
      it('a new workers count: workers are forked or retired to match', async () => {
        const health = async () => JSON.parse((await request(`${admin}/healthz`)).body);
        scratch.file('config.json', config({ cache: { defaultTtl: 60 }, workers: 3 }));
        await hup('config reloaded');
        await until(async () => (await health()).workers.filter((w: any) => w.ready).length === 3, 10_000, 'three workers');
        scratch.file('config.json', config({ cache: { defaultTtl: 60 }, workers: 2 }));
        await hup('config reloaded');
        await until(async () => (await health()).workers.length === 2, 10_000, 'two workers again');
        await mf.line((l) => l.msg === 'worker retired', 5000, 'worker retired');
        assert.ok(!mf.lines.some((l) => l.msg === 'worker exited; starting a new one'), 'a retired worker is no crash');
        assert.equal((await request(`${base}/p-after-resize`)).status, 200);
      });
    }
  });
}
