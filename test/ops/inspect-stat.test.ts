// GET /inspect on the admin port and the two commands an operator types against a running
// memfront: `memfront inspect URL` and `memfront stat --once`, run as the bin.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { get, sleep, startBackend, startStack, type FakeBackend, type Stack } from '../helpers/stack.js';
import { CLI } from './cli-process.js';
import { statFrame, type Scrape } from '../../src/cli/stat.js';
import { promSamples } from '../../src/cli/prom-samples.js';

const run = promisify(execFile);

/** The bin's exit status and output (a non-zero exit is an answer here, not a failure). */
async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { timeout: 15_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

describe('inspect and stat', () => {
  let backend: FakeBackend;
  let stack: Stack;
  let closed: Stack;
  const page = 'y'.repeat(4000);
  let admin: string;

  before(async () => {
    backend = await startBackend({
      '/tagged': (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'max-age=120', 'Surrogate-Key': 'post-1 front', ETag: '"v1"' });
        res.end(page);
      },
    });
    stack = await startStack({ backend: { url: backend.url }, cache: { store: 'memory' } });
    closed = await startStack({ backend: { url: backend.url }, cache: { store: 'memory' }, admin: { purgeAllow: ['10.0.0.0/8'] } });
    admin = `http://127.0.0.1:${stack.mf.adminPort}`;
  });

  after(async () => {
    await stack?.close();
    await closed?.close();
    await backend?.close();
  });

  it('/inspect says what is stored for a URL: age, ttl, size, gzip, tags', async () => {
    const host = `127.0.0.1:${stack.mf.port}`;
    assert.equal((await get(`${stack.url}/tagged`)).headers['x-cache'], 'MISS');
    await stack.mf.settled();
    const got = await get(`${admin}/inspect?url=${encodeURIComponent('/tagged')}&host=${host}`);
    assert.equal(got.status, 200);
    const r = JSON.parse(got.body.toString());
    assert.equal(r.cached, true);
    assert.equal(r.state, 'found');
    assert.equal(r.freshness, 'fresh');
    assert.equal(r.status, 200);
    assert.ok(r.ttl > 100 && r.ttl <= 120, `ttl ${r.ttl}`);
    assert.ok(r.age >= 0 && r.age < 5, `age ${r.age}`);
    assert.equal(r.gzip, true, 'over compressThreshold: stored gzipped');
    assert.equal(r.identitySize, page.length);
    assert.ok(r.size > 0 && r.size < page.length);
    assert.equal(r.tags, 2);
    const tagged = JSON.parse((await get(`${admin}/inspect?url=/tagged&host=${host}&tag=front&tag=post-2`)).body.toString());
    assert.deepEqual(tagged.tagged, { front: true, 'post-2': false });
    assert.equal(r.etag, '"v1"');
    // A full URL gives the host itself.
    const byUrl = JSON.parse((await get(`${admin}/inspect?url=${encodeURIComponent(`http://${host}/tagged`)}`)).body.toString());
    assert.equal(byUrl.key, r.key);
    const absent = JSON.parse((await get(`${admin}/inspect?url=/nothing&host=${host}`)).body.toString());
    assert.deepEqual([absent.cached, absent.state], [false, 'absent']);
    // Purged by tag: a miss, and /inspect says so.
    assert.equal((await get(`${stack.url}/tagged`, { method: 'PURGE', headers: { 'Surrogate-Key': 'front' } })).status, 200);
    const purged = JSON.parse((await get(`${admin}/inspect?url=/tagged&host=${host}`)).body.toString());
    assert.deepEqual([purged.cached, purged.state], [false, 'purged']);
  });

  it('/inspect answers only admin.purgeAllow, and says what is missing', async () => {
    const refused = await get(`http://127.0.0.1:${closed.mf.adminPort}/inspect?url=/tagged&host=x`);
    assert.equal(refused.status, 403);
    const bad = await get(`${admin}/inspect?host=x`);
    assert.equal(bad.status, 400);
    assert.match(JSON.parse(bad.body.toString()).error, /url is required/);
  });

  it('memfront inspect URL prints the entry, exit 0 when cached and 3 when not', async () => {
    await get(`${stack.url}/tagged`);
    await stack.mf.settled();
    const yes = await cli(['inspect', `${stack.url}/tagged`, '--tag', 'post-1', '--admin', admin]);
    assert.equal(yes.code, 0, yes.stderr);
    assert.match(yes.stdout, /^cached\s+yes$/m);
    assert.match(yes.stdout, /^ttl\s+\d+ s$/m);
    assert.match(yes.stdout, /^tags\s+2$/m);
    assert.match(yes.stdout, /^  tag post-1\s+yes$/m);
    assert.match(yes.stdout, /^gzip\s+yes$/m);
    const no = await cli(['inspect', `${stack.url}/not-here`, '--admin', admin]);
    assert.equal(no.code, 3);
    assert.match(no.stdout, /^cached\s+no$/m);
    const json = await cli(['inspect', '/tagged', '--host', `127.0.0.1:${stack.mf.port}`, '--json', '--admin', admin]);
    assert.equal(JSON.parse(json.stdout).cached, true);
    const forbidden = await cli(['inspect', `${stack.url}/tagged`, '--admin', `http://127.0.0.1:${closed.mf.adminPort}`]);
    assert.equal(forbidden.code, 1);
    assert.match(forbidden.stderr, /403/);
  });

  it('memfront stat --once prints one frame with the rates of the interval', async () => {
    let done = false;
    const frame = cli(['stat', '--once', '--interval', '1000', '--admin', admin]).finally(() => (done = true));
    // Hits all along, whenever the bin's two scrapes happen.
    let sent = 0;
    while (!done) {
      assert.equal((await get(`${stack.url}/tagged`)).headers['x-cache'], 'HIT');
      sent++;
      await sleep(50);
    }
    const out = await frame;
    assert.ok(sent > 5);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^memfront \d+\.\d+\.\d+/);
    const ratio = /^hit ratio\s+([\d.]+)% now/m.exec(out.stdout);
    assert.ok(ratio, out.stdout);
    assert.equal(Number(ratio[1]), 100, 'hits, nothing else, in the interval');
    assert.match(out.stdout, /^requests\/s\s+[\d.]+\s+hit [1-9]/m);
    assert.match(out.stdout, /^memcached\s+memory up/m, 'the embedded store stands in for memcached');
    assert.match(out.stdout, /^backend\s+up/m);
  });

  it('a frame: hit ratio now and since start, rates per second, servers down called out', () => {
    const text = (hits: number, misses: number, up: number) => `
memfront_build_info{version="9.9.9"} 1
memfront_requests_total{cache="hit",route="backend"} ${hits}
memfront_requests_total{cache="miss",route="backend"} ${misses}
memfront_cache_server_up{server="10.0.0.1:11211"} ${up}
memfront_l1_entries 42
memfront_l1_bytes 2048
`;
    const prev: Scrape = { at: 0, samples: promSamples(text(10, 10, 1)) };
    const cur: Scrape = { at: 2000, samples: promSamples(text(40, 20, 0)) };
    const f = statFrame(prev, cur);
    assert.match(f, /^hit ratio\s+75\.0% now\s+66\.7% since start/m);
    assert.match(f, /^requests\/s\s+20\.0\s+hit 15\.0\s+miss 5\.0/m);
    assert.match(f, /10\.0\.0\.1:11211 DOWN/);
    assert.match(f, /L1 42 entries, 2\.0 KB/);
  });
});
