// Workers end to end: the bin with `workers: 2` in front of a counting backend and a real
// memcached. Both workers serve; one killed with SIGKILL is replaced while requests keep
// succeeding; /metrics (in the primary) sums the workers; /healthz follows memcached; SIGTERM
// drains every worker and the primary exits 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFileSync } from 'node:fs';
import { binNodeFlags } from '../../bench/lib/bin-node-flags.js';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { listenOn } from '../helpers/listen.js';
import { startBackend, until, type FakeBackend } from '../helpers/stack.js';
import { CLI, request, scratchDir, startCli, type CliRun, type LogLine } from './cli-process.js';
import { parsePrometheusText, sumOf } from './prom-text.js';

const scratch = scratchDir();
let mc: MemcachedProcess;
let backend: FakeBackend;
let mf: CliRun;
let base: string;
let admin: string;

const page = (_req: http.IncomingMessage, res: http.ServerResponse) => {
  res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=300' });
  res.end('<p>cached page</p>');
};

/** The pid of the worker that answered each logged request, by its URL (made unique by the test). */
function servedBy(url: string): number | undefined {
  return mf.lines.find((l) => l.msg === 'request' && l.url === url)?.pid;
}

function workerPids(): number[] {
  return mf.lines.filter((l) => l.msg === 'worker started').map((l) => l.workerPid);
}

async function metrics() {
  const res = await request(`${admin}/metrics`);
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(res.body);
}

async function health(): Promise<Record<string, any>> {
  const res = await request(`${admin}/healthz`);
  assert.equal(res.status, 200, res.body);
  return JSON.parse(res.body);
}

before(async () => {
  mc = await startMemcached();
  backend = await startBackend({ '/page': page, '/other': page });
  const config = scratch.file('workers.json', {
    workers: 2,
    listen: { host: '127.0.0.1', port: 0 },
    admin: { host: '127.0.0.1', port: 0 },
    backend: { url: backend.url },
    cache: { memcached: { servers: [mc.address], timeoutMs: 200 } },
    shutdownGraceMs: 5000,
  });
  mf = startCli(['--config', config]);
  const listening = await mf.line((l) => l.msg === 'memfront listening', 30_000, 'memfront listening');
  assert.equal(listening.workers, 2);
  base = `http://127.0.0.1:${listening.port}`;
  admin = `http://127.0.0.1:${listening.adminPort}`;
});

after(async () => {
  mf?.kill();
  await backend?.close();
  await mc?.stop();
  scratch.remove();
});

describe('memfront with two workers', () => {
  it('runs the primary and every worker with the node flags of the bin', () => {
    const flags = binNodeFlags(CLI);
    assert.ok(flags.includes('--max-semi-space-size=8'), `the bin's flags: ${JSON.stringify(flags)}`);
    const listening = mf.lines.find((l) => l.msg === 'memfront listening');
    assert.deepEqual(listening?.nodeFlags, flags, 'the primary logs the flags it runs with');
    const pids = workerPids();
    assert.equal(pids.length, 2);
    for (const pid of pids) {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      for (const f of flags) assert.ok(argv.includes(f), `worker ${pid} runs with ${f}: ${JSON.stringify(argv)}`);
    }
  });

  it('runs two worker processes besides the primary, and both serve', async () => {
    const pids = workerPids();
    assert.equal(new Set(pids).size, 2, `two workers started: ${JSON.stringify(pids)}`);
    assert.ok(!pids.includes(mf.pid), 'the workers are not the primary');
    // Fresh connections are spread over the workers by the kernel; ask until both answered.
    const seen = new Set<number>();
    for (let i = 0; i < 200 && seen.size < 2; i++) {
      const url = `/page?utm_source=serve-${i}`; // utm_* leaves the cache key alone
      const res = await request(base + url);
      assert.equal(res.status, 200);
      await mf.line((l) => l.msg === 'request' && l.url === url, 5000, `the log line of ${url}`);
      seen.add(servedBy(url)!);
    }
    assert.deepEqual([...seen].sort(), [...pids].sort(), 'requests were answered by both workers (the pid of each log line)');
  });

  it('each access log line names its worker and the request id the backend got as X-Request-Id', async () => {
    const url = '/page?utm_source=reqid'; // a hit or a miss: go around the cache to reach the backend
    const res = await request(base + url, { Cookie: 'PHPSESSID=abc' });
    assert.equal(res.headers['x-cache'], 'BYPASS');
    const line = await mf.line((l) => l.msg === 'request' && l.url === url, 5000, `the log line of ${url}`);
    assert.deepEqual(
      [line.level, line.method, line.status, line.cache, line.route, typeof line.ms, line.bytes],
      [30, 'GET', 200, 'bypass', 'backend', 'number', '<p>cached page</p>'.length],
    );
    assert.ok(workerPids().includes(line.pid), 'logged by a worker');
    assert.equal(typeof line.worker, 'number');
    const seen = backend.seen.find((s) => s.url === url);
    assert.ok(line.reqId && seen?.headers['x-request-id'] === line.reqId, 'the backend saw the logged request id');
  });

  it('/metrics parses as Prometheus text, and its hit counter is the sum of the hits both workers served', async () => {
    // Warm the entry: a miss stores it in memcached, which both workers read.
    await until(async () => (await request(`${base}/other`)).headers['x-cache'] === 'HIT', 5000, 'a first hit');
    const before = await metrics();
    let hits = 0;
    const pidsOfHits = new Set<number>();
    for (let i = 0; i < 60; i++) {
      const url = `/other?utm_campaign=hit-${i}`;
      const res = await request(base + url);
      assert.equal(res.status, 200);
      if (res.headers['x-cache'] === 'HIT') hits++;
      await mf.line((l) => l.msg === 'request' && l.url === url, 5000, `the log line of ${url}`);
      pidsOfHits.add(servedBy(url)!);
    }
    assert.equal(hits, 60, 'every request was a hit');
    assert.equal(pidsOfHits.size, 2, 'the hits came from both workers');
    const after = await metrics();
    const delta = (name: string, labels: Record<string, string>) => sumOf(after, name, labels) - sumOf(before, name, labels);
    assert.equal(delta('memfront_requests_total', { cache: 'hit' }), hits);
    assert.equal(delta('memfront_request_duration_seconds_count', { cache: 'hit' }), hits);
    assert.equal(delta('memfront_backend_requests_total', {}), 0, 'hits never went to the backend');
    // The families the contract names, and the primary's own.
    for (const family of ['memfront_requests_total', 'memfront_backend_requests_total', 'memfront_cache_errors_total', 'memfront_workers']) {
      assert.ok(after.types.has(family), `${family} is exposed`);
    }
    assert.equal(after.types.get('memfront_request_duration_seconds'), 'histogram');
    assert.equal(sumOf(after, 'memfront_workers'), 2);
    assert.equal(sumOf(after, 'memfront_cache_server_up', { server: mc.address }), 1);
  });

  it('a worker killed with SIGKILL is replaced, and requests keep succeeding meanwhile', async () => {
    const [victim, survivor] = workerPids();
    const startedBefore = mf.lines.filter((l) => l.msg === 'worker started').length;
    process.kill(victim, 'SIGKILL');
    const failures: string[] = [];
    const servedByAfterKill = new Set<number>();
    let replacement: number | undefined;
    // Ask without pause from the moment of the kill until the replacement has answered.
    for (let i = 0; i < 2000 && (replacement === undefined || !servedByAfterKill.has(replacement)); i++) {
      const url = `/page?utm_source=kill-${i}`;
      try {
        const res = await request(base + url);
        if (res.status !== 200) failures.push(`${url}: ${res.status}`);
      } catch (err) {
        failures.push(`${url}: ${(err as Error).message}`);
        continue;
      }
      const line = await mf.line((l) => l.msg === 'request' && l.url === url, 5000, `the log line of ${url}`);
      servedByAfterKill.add(line.pid);
      const started = mf.lines.filter((l) => l.msg === 'worker started');
      if (started.length > startedBefore) replacement = started[startedBefore].workerPid;
    }
    assert.deepEqual(failures, [], 'no request failed');
    const exited = await mf.line((l) => l.msg === 'worker exited; starting a new one', 5000, 'the exit line');
    assert.equal(exited.workerPid, victim);
    assert.equal(exited.signal, 'SIGKILL');
    assert.equal(exited.level, 50, 'a crash is logged as an error');
    assert.ok(replacement !== undefined && replacement !== victim && replacement !== survivor, 'a new worker was started');
    assert.ok(servedByAfterKill.has(replacement!), 'the replacement serves');
    assert.ok(!servedByAfterKill.has(victim), 'the killed worker served nothing more');
    const h = await health();
    assert.deepEqual(h.workers.map((w: any) => w.pid).sort(), [survivor, replacement].sort());
    assert.equal(h.workerRestarts, 1);
  });

  it('/healthz says the cache is down while memcached is stopped, and up again once it is back', async () => {
    const up = await health();
    assert.equal(up.status, 'ok');
    assert.equal(up.cache, 'up');
    assert.deepEqual(up.cacheServers.map((s: any) => [s.server, s.up]), [[mc.address, true]]);
    assert.equal(up.backend.reachable, true);
    assert.equal(typeof up.uptime, 'number');
    assert.match(up.version, /^\d+\.\d+\.\d+/);

    await mc.stop();
    let down: Record<string, any> = {};
    await until(async () => (down = await health()).cache === 'down', 5000, 'cache: down');
    assert.equal(down.status, 'ok', 'memfront still serves without its cache');
    assert.deepEqual(down.cacheServers.map((s: any) => [s.server, s.up]), [[mc.address, false]]);
    assert.match(down.cacheServers[0].detail, /ECONNREFUSED/);
    // And it does serve, from the backend.
    const res = await request(`${base}/page?utm_source=no-cache`);
    assert.equal(res.status, 200);

    await mc.restart();
    await until(async () => (await health()).cache === 'up', 5000, 'cache: up again');
  });

  it('SIGTERM closes the listeners, lets the requests in flight finish, then every process exits, the primary with 0', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrivals = 0;
    let bothArrived!: () => void;
    const arrived = new Promise<void>((resolve) => (bothArrived = resolve));
    backend.route('/slow', (_req, res) => {
      if (++arrivals === 2) bothArrived();
      void held.then(() => {
        res.writeHead(200, { 'Cache-Control': 'no-store' });
        res.end('finished after the signal');
      });
    });
    // Two slow requests, on two connections: the kernel gives them to either worker.
    const answers = [request(`${base}/slow?n=1`), request(`${base}/slow?n=2`)];
    await arrived;
    process.kill(mf.pid, 'SIGTERM');
    await mf.line((l) => l.msg === 'shutting down', 5000, 'shutting down');
    // No new connection is accepted once the workers have closed their listeners.
    await until(
      () =>
        new Promise<boolean>((resolve) => {
          const s = net.connect(Number(new URL(base).port), '127.0.0.1');
          s.once('connect', () => {
            s.destroy();
            resolve(false);
          });
          s.once('error', () => resolve(true));
        }),
      5000,
      'the listener to close',
    );
    release();
    for (const a of await Promise.all(answers)) assert.deepEqual([a.status, a.body], [200, 'finished after the signal']);
    const { code } = await mf.exited;
    assert.equal(code, 0, mf.stderr());
    assert.equal(mf.lines.filter((l: LogLine) => l.msg === 'worker stopped').length, 2);
    assert.ok(mf.lines.some((l) => l.msg === 'stopped' && l.pid === mf.pid));
    for (const pid of workerPids()) assert.throws(() => process.kill(pid, 0), 'every worker is gone');
  });
});

describe('memfront with two workers that cannot start', () => {
  it('a port in use: a fatal line with the cause, exit 1', async () => {
    const taken = net.createServer();
    const port = await listenOn(taken);
    try {
      const run = startCli(['--workers=2', '--listen.host=127.0.0.1', `--listen.port=${port}`, '--admin.port=0', '--cache.store=memory']);
      const { code } = await run.exited;
      assert.equal(code, 1, run.stdout());
      const fatal = run.lines.find((l) => l.level === 60);
      assert.ok(fatal, `a fatal line among ${run.stdout()}`);
      assert.equal(fatal.msg, 'memfront failed to start');
      assert.equal(fatal.err.code, 'EADDRINUSE');
    } finally {
      await new Promise((resolve) => taken.close(resolve));
    }
  });
});
