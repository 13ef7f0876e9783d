// /metrics as an operator's alerts and dashboards read it: every name per Prometheus's
// conventions, every labelled series there from the start at 0, and the counts and the
// request log right for each kind of answer (hit by tier, stored miss, the backend's 5xx,
// memfront's own 502, purges of each kind).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { startMemcached, type MemcachedProcess } from '../helpers/memcached.js';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { parsePrometheusText, sumOf, type Exposition } from './prom-text.js';

/** Names kept one release for dashboards that still use them (docs/operations.md says so). */
const DEPRECATED = new Set(['memfront_bytes_served_total', 'memfront_bytes_saved_total']);
const UNITS = ['seconds', 'bytes'];

/** What Prometheus's naming guide asks, as far as a program can check it. */
export function namingProblems(e: Exposition): string[] {
  const problems: string[] = [];
  for (const [name, type] of e.types) {
    if (!name.startsWith('memfront_') || DEPRECATED.has(name)) continue;
    if (!/^[a-z][a-z0-9_]*$/.test(name)) problems.push(`${name}: not snake_case`);
    if (type === 'counter' && !name.endsWith('_total')) problems.push(`${name}: a counter without _total`);
    if (type !== 'counter' && name.endsWith('_total')) problems.push(`${name}: a ${type} named _total`);
    const base = name.replace(/_total$/, '');
    // A unit, where there is one, is the last word before _total (timestamps: _timestamp_seconds).
    for (const unit of UNITS) {
      const words = base.split('_');
      const at = words.indexOf(unit);
      if (at >= 0 && at !== words.length - 1) problems.push(`${name}: unit "${unit}" not at the end`);
    }
    if (type === 'histogram' && !UNITS.some((u) => base.endsWith(`_${u}`))) problems.push(`${name}: a histogram without its unit`);
    if (/_(milliseconds|ms|kb|mb|percent)(_|$)/.test(name)) problems.push(`${name}: not a base unit`);
  }
  return problems;
}

describe('/metrics and the request log', () => {
  let mc: MemcachedProcess;
  let backend: FakeBackend;
  let stack: Stack;
  const page = 'x'.repeat(5000);
  let shortCalls = 0;
  const scrape = async () => parsePrometheusText((await get(`http://127.0.0.1:${stack.mf.adminPort}/metrics`)).body.toString());

  before(async () => {
    mc = await startMemcached();
    backend = await startBackend({
      '/page': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'max-age=60', 'Surrogate-Key': 'pages' });
        res.end(page);
      },
      '/gz': (_req, res) => {
        res.writeHead(200, { 'Content-Encoding': 'gzip', 'Cache-Control': 'max-age=60' });
        res.end(gzipSync(page));
      },
      '/short': (_req, res) => {
        // Fresh for a second; then the backend fails, for the stale-if-error answer.
        shortCalls++;
        if (shortCalls > 2) {
          res.writeHead(503, { 'Content-Type': 'text/plain' });
          res.end('down');
          return;
        }
        res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'max-age=1' });
        res.end('short-lived');
      },
      '/broken': (_req, res) => {
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('backend says no');
      },
    });
    stack = await startStack({
      backend: { url: backend.url },
      cache: { memcached: { servers: [mc.address] }, l1: { maxBytes: 1 << 20, ttlMs: 300 }, staleWhileRevalidate: 1, staleIfError: 600 },
      routes: [{ match: '^/down/', to: 'reproxy', url: 'http://127.0.0.1:1/nothing' }],
      reproxy: { enabled: true, allowedHosts: ['127.0.0.1'] },
    });
  });

  after(async () => {
    await stack?.close();
    await backend?.close();
    await mc?.stop();
  });

  it('names every memfront metric as Prometheus does, with HELP and TYPE', async () => {
    const m = await scrape();
    assert.deepEqual(namingProblems(m), []);
    const body = (await get(`http://127.0.0.1:${stack.mf.adminPort}/metrics`)).body.toString();
    for (const name of m.types.keys()) if (name.startsWith('memfront_')) assert.match(body, new RegExp(`^# HELP ${name} \\S`, 'm'), name);
    const expected: Record<string, string> = {
      memfront_requests_total: 'counter',
      memfront_responses_total: 'counter',
      memfront_backend_requests_total: 'counter',
      memfront_backend_errors_total: 'counter',
      memfront_cache_errors_total: 'counter',
      memfront_cache_hits_total: 'counter',
      memfront_stale_responses_total: 'counter',
      memfront_purges_total: 'counter',
      memfront_served_bytes_total: 'counter',
      memfront_saved_bytes_total: 'counter',
      memfront_config_reloads_total: 'counter',
      memfront_request_duration_seconds: 'histogram',
      memfront_upstream_duration_seconds: 'histogram',
      memfront_cache_entry_bytes: 'histogram',
      memfront_l1_bytes: 'gauge',
      memfront_l1_entries: 'gauge',
      memfront_backend_up: 'gauge',
      memfront_cache_server_up: 'gauge',
      memfront_config_last_reload_success_timestamp_seconds: 'gauge',
      memfront_config_last_reload_successful: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) assert.equal(m.types.get(name), type, name);
  });

  it('has every labelled series from the start, at 0', async () => {
    const m = await scrape();
    const has = (name: string, labels: Record<string, string>) =>
      assert.ok(m.samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v)), `${name} ${JSON.stringify(labels)}`);
    for (const status_class of ['2xx', '3xx', '4xx', '5xx']) for (const source of ['upstream', 'memfront']) has('memfront_responses_total', { status_class, source });
    for (const kind of ['path', 'tags', 'host']) for (const result of ['purged', 'absent', 'refused', 'failed']) has('memfront_purges_total', { kind, result });
    for (const tier of ['l1', 'memcached']) has('memfront_cache_hits_total', { tier });
    for (const reason of ['stale-while-revalidate', 'stale-if-error']) has('memfront_stale_responses_total', { reason });
    for (const cache of ['hit', 'miss', 'bypass', 'stale']) has('memfront_requests_total', { cache, route: 'backend' });
    for (const result of ['ok', 'failed']) has('memfront_config_reloads_total', { result });
    has('memfront_upstream_duration_seconds_count', { route: 'backend' });
    has('memfront_backend_errors_total', { route: 'backend', code: 'ECONNREFUSED' });
    has('memfront_cache_errors_total', { op: 'get', code: 'MF_CACHE_TIMEOUT' });
    assert.equal(sumOf(m, 'memfront_responses_total', { status_class: '5xx' }), 0);
    assert.ok(sumOf(m, 'memfront_config_last_reload_success_timestamp_seconds') > Date.now() / 1000 - 600, 'the start counts as a load');
    assert.equal(sumOf(m, 'memfront_config_last_reload_successful'), 1);
    assert.equal(sumOf(m, 'memfront_backend_up'), 1);
  });

  it('counts a stored miss with its bytes, and hits by tier, in the log and the metrics', async () => {
    const before = await scrape();
    const headers = { 'User-Agent': 'metrics-test/1', Referer: 'http://ref.example/' };
    const miss = await get(`${stack.url}/page`, { headers });
    assert.equal(miss.headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const l1Hit = await get(`${stack.url}/page`, { headers });
    assert.equal(l1Hit.headers['x-cache'], 'HIT');
    await sleep(400); // past L1's ttlMs: the next hit reads memcached
    const mcHit = await get(`${stack.url}/page`, { headers });
    assert.equal(mcHit.headers['x-cache'], 'HIT');
    const m = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(m, name, labels) - sumOf(before, name, labels);
    assert.equal(delta('memfront_served_bytes_total', { cache: 'miss' }), page.length, 'a stored miss sends its whole body');
    assert.equal(delta('memfront_bytes_served_total', { cache: 'miss' }), page.length, 'the old name, one release');
    assert.equal(delta('memfront_served_bytes_total', { cache: 'hit' }), 2 * page.length);
    assert.equal(delta('memfront_cache_hits_total', { tier: 'l1' }), 1);
    assert.equal(delta('memfront_cache_hits_total', { tier: 'memcached' }), 1);
    assert.equal(delta('memfront_responses_total', { status_class: '2xx', source: 'upstream' }), 3);
    assert.equal(delta('memfront_upstream_duration_seconds_count', { route: 'backend' }), 1);
    assert.ok(sumOf(m, 'memfront_l1_entries') >= 1);
    assert.ok(sumOf(m, 'memfront_l1_bytes') >= page.length);

    const lines = stack.log.requests().filter((l) => l.url === '/page');
    assert.equal(lines.length, 3);
    const [missLine, ...hitLines] = lines;
    assert.equal(missLine.cache, 'miss');
    assert.equal(missLine.bytes, page.length, 'bytes of a stored miss are its body, not 0');
    assert.equal(missLine.ip, '127.0.0.1');
    assert.equal(missLine.host, `127.0.0.1:${stack.mf.port}`);
    assert.equal(missLine.ua, 'metrics-test/1');
    assert.equal(missLine.referer, 'http://ref.example/');
    assert.equal(typeof missLine.upstreamMs, 'number');
    for (const hit of hitLines) {
      assert.equal(hit.cache, 'hit');
      assert.equal(hit.bytes, page.length);
      assert.ok(hit.ttl > 50 && hit.ttl <= 60, `ttl ${hit.ttl}`);
      assert.equal(typeof hit.age, 'number');
      assert.equal(hit.ua, 'metrics-test/1');
    }
  });

  it('counts the bytes of a stored gzip miss sent to a gzip client and to an identity client', async () => {
    const gz = await get(`${stack.url}/gz`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const plain = await get(`${stack.url}/gz`);
    assert.equal(plain.body.toString(), page, 'inflated for a client without gzip');
    const lines = stack.log.requests().filter((l) => l.url === '/gz');
    assert.deepEqual(lines.map((l) => l.bytes), [gz.body.length, page.length]);
  });

  it('tells the backend\'s 5xx from memfront\'s own 502, with the bytes of each', async () => {
    const before = await scrape();
    const broken = await get(`${stack.url}/broken`);
    assert.equal(broken.status, 500);
    const down = await get(`${stack.url}/down/x`);
    assert.equal(down.status, 502);
    const m = await scrape();
    const delta = (name: string, labels: Record<string, string> = {}) => sumOf(m, name, labels) - sumOf(before, name, labels);
    assert.equal(delta('memfront_responses_total', { status_class: '5xx', source: 'upstream' }), 1);
    assert.equal(delta('memfront_responses_total', { status_class: '5xx', source: 'memfront' }), 1);
    const line = (url: string) => stack.log.requests().find((l) => l.url === url)!;
    assert.equal(line('/broken').bytes, 'backend says no'.length);
    assert.equal(line('/down/x').bytes, down.body.length);
    assert.ok(down.body.length > 0);
  });

  it('counts stale answers by reason: while refreshing, and standing in for a failed backend', async () => {
    const before = await scrape();
    assert.equal((await get(`${stack.url}/short`)).headers['x-cache'], 'MISS');
    await stack.mf.settled();
    await sleep(1300); // expired, within staleWhileRevalidate (1 s)
    const swr = await get(`${stack.url}/short`);
    assert.equal(swr.headers['x-cache'], 'STALE');
    await stack.mf.settled();
    await sleep(2300); // past staleWhileRevalidate of the refreshed copy: the backend's 503 is covered by staleIfError
    const sie = await get(`${stack.url}/short`);
    assert.equal(sie.headers['x-cache'], 'STALE');
    assert.equal(sie.body.toString(), 'short-lived');
    const m = await scrape();
    const delta = (labels: Record<string, string>) => sumOf(m, 'memfront_stale_responses_total', labels) - sumOf(before, 'memfront_stale_responses_total', labels);
    assert.equal(delta({ reason: 'stale-while-revalidate' }), 1);
    assert.equal(delta({ reason: 'stale-if-error' }), 1);
    const lines = stack.log.requests().filter((l) => l.url === '/short');
    assert.equal(lines.at(-1)!.cache, 'stale');
    assert.equal(lines.at(-1)!.bytes, 'short-lived'.length);
    assert.equal(typeof lines.at(-1)!.age, 'number');
  });

  it('logs a failing upstream in full once a second, and each failed request briefly', async () => {
    const failures = () => stack.log.lines.filter((l) => l.msg === 'upstream request failed').length;
    await sleep(1100); // past the allowance the 502 above used
    const before = failures();
    const answers = await Promise.all([1, 2, 3, 4, 5].map((i) => get(`${stack.url}/down/burst-${i}`)));
    assert.deepEqual(answers.map((a) => a.status), [502, 502, 502, 502, 502]);
    assert.equal(failures() - before, 1, 'one full line for five failures in a second');
    const full = stack.log.lines.filter((l) => l.msg === 'upstream request failed').at(-1)!;
    assert.equal(full.route, 'reproxy');
    for (const line of stack.log.requests().filter((l) => String(l.url).startsWith('/down/burst-'))) {
      assert.equal(line.level, 40);
      assert.equal(typeof line.err.message, 'string');
      assert.equal(line.err.stack, undefined, 'no stack on the request line');
    }
  });

  it('counts purges by kind and result, and logs them with their kind and source', async () => {
    const before = await scrape();
    const purge = (path: string, headers: Record<string, string> = {}) => get(`${stack.url}${path}`, { method: 'PURGE', headers });
    assert.equal((await purge('/page')).status, 200);
    assert.equal((await purge('/never-stored')).status, 404);
    assert.equal((await purge('/page', { 'Surrogate-Key': 'pages' })).status, 200);
    assert.equal((await purge('/.*', { 'X-Purge-Method': 'regex' })).status, 200);
    assert.equal((await purge('/x', { 'X-Purge-Method': 'nonsense' })).status, 400);
    const m = await scrape();
    const delta = (labels: Record<string, string>) => sumOf(m, 'memfront_purges_total', labels) - sumOf(before, 'memfront_purges_total', labels);
    assert.equal(delta({ kind: 'path', result: 'purged' }), 1);
    assert.equal(delta({ kind: 'path', result: 'absent' }), 1);
    assert.equal(delta({ kind: 'tags', result: 'purged' }), 1);
    assert.equal(delta({ kind: 'host', result: 'purged' }), 1);
    assert.equal(delta({ kind: 'path', result: 'refused' }), 1);
    const lines = stack.log.requests().filter((l) => l.method === 'PURGE');
    assert.equal(lines.length, 5);
    assert.deepEqual(lines.map((l) => l.purge), ['path', 'path', 'tags', 'host', 'path']);
    for (const l of lines) {
      assert.equal(l.source, '127.0.0.1');
      assert.equal(l.route, undefined);
      assert.equal(l.cache, undefined);
    }
  });
});
