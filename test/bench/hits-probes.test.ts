// The hit comparison's probes: /proc/stat read per CPU, the options and their --quick defaults,
// and wrk rotating over the 100 paths (real wrk against a server that counts each path).

import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { parseHitsCompareOptions } from '../../bench/compare/hits-compare.js';
import { varnishVcl } from '../../bench/compare/varnish.js';
import { busyShare, parseCpuStat } from '../../bench/lib/cpu-stat.js';
import { ensureWrk, runWrk } from '../../bench/lib/wrk.js';
import { hitPaths, wrkPathsScript } from '../../bench/lib/wrk-paths.js';

const STAT_A = `cpu  300 0 100 1000 10 0 5 0 0 0
cpu0 200 0 50 400 5 0 5 0 0 0
cpu1 100 0 50 600 5 0 0 0 0 0
intr 12345
`;
const STAT_B = `cpu  500 0 200 1200 10 0 5 0 0 0
cpu0 290 0 100 405 5 0 15 0 0 0
cpu1 110 0 60 680 5 0 0 5 0 0
`;

test('/proc/stat: busy is everything but idle and iowait, per CPU; the share is of the interval', () => {
  const a = parseCpuStat(STAT_A);
  assert.deepEqual([...a.keys()], [0, 1]);
  assert.deepEqual(a.get(0), { busy: 255, softirq: 5, total: 660 });
  const b = parseCpuStat(STAT_B);
  // cpu0: busy 405-255 = 150 of total 815-660 = 155, 10 of them softirq
  assert.equal(busyShare(a, b, 0), 150 / 155);
  assert.equal(busyShare(a, b, 0, 'softirq'), 10 / 155);
  // cpu1: steal counts as busy (the core was not ours): busy 175-150 = 25 of total 860-755 = 105
  assert.equal(busyShare(a, b, 1), 25 / 105);
  assert.equal(busyShare(a, b, 2), undefined);
  assert.equal(busyShare(a, b, undefined), undefined);
  assert.equal(busyShare(b, a, 0), undefined);
});

test('options: issue 8 defaults, --quick is 3 s x 1 round, bad sizes refused', () => {
  assert.deepEqual(parseHitsCompareOptions([], true), {
    sizes: [10240, 102400], connections: 50, urls: 100, durationS: 10, rounds: 3, warmupS: 5, prewarmS: 2, threads: 1, maxNoise: 0.1, attempts: 3, slices: 6, sliceS: 3, quick: false,
  });
  const q = parseHitsCompareOptions(['--quick'], true);
  assert.equal(q.durationS, 3);
  assert.equal(q.rounds, 1);
  assert.equal(q.attempts, 1);
  assert.equal(q.prewarmS, 0);
  assert.equal(q.slices, 0);
  assert.equal(parseHitsCompareOptions(['--quick', '--slices', '2', '--slice', '1'], true).slices, 2);
  assert.throws(() => parseHitsCompareOptions(['--slices', '-1'], true), /--slices wants a non-negative number/);
  assert.equal(parseHitsCompareOptions(['--prewarm', '1'], true).prewarmS, 1);
  assert.equal(parseHitsCompareOptions(['--attempts', '0', '--max-noise', '0.2'], true).attempts, 1);
  assert.equal(parseHitsCompareOptions(['--max-noise', '0.2'], true).maxNoise, 0.2);
  assert.equal(parseHitsCompareOptions(['--quick', '--duration', '5'], false).durationS, 5);
  assert.equal(parseHitsCompareOptions([], false).threads, 2);
  assert.deepEqual(parseHitsCompareOptions(['--sizes', '2048, 4096'], true).sizes, [2048, 4096]);
  assert.throws(() => parseHitsCompareOptions(['--sizes', '10k'], true), /--sizes wants whole byte counts/);
  assert.throws(() => parseHitsCompareOptions(['--urls', '0'], true), /--urls/);
});

test('hit paths are distinct and sortable; the Lua quotes them and refuses non-paths', () => {
  const paths = hitPaths(100);
  assert.equal(new Set(paths).size, 100);
  assert.equal(paths[0], '/hits/page-00');
  assert.equal(paths[99], '/hits/page-99');
  assert.ok(wrkPathsScript(['/a"b']).includes('"/a\\"b"'));
  assert.throws(() => wrkPathsScript([]), /no paths/);
  assert.throws(() => wrkPathsScript(['http://x/']), /not a path/);
});

test('wrk with the paths script spreads its requests evenly over every path, headers kept', async () => {
  const wrk = await ensureWrk();
  const seen = new Map<string, number>();
  let gzipAsked = 0;
  const server = createServer((req, res) => {
    seen.set(req.url ?? '', (seen.get(req.url ?? '') ?? 0) + 1);
    if (req.headers['accept-encoding'] === 'gzip') gzipAsked++;
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const paths = hitPaths(100);
    let spawned = 0;
    const r = await runWrk({
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      paths,
      headers: { 'Accept-Encoding': 'gzip' },
      connections: 4,
      threads: 1,
      durationS: 1,
      onSpawn: (pid) => (spawned = pid),
    }, wrk);
    assert.ok(spawned > 0, 'onSpawn got the pid');
    assert.ok(r.requests >= 200, `enough requests to judge the spread (${r.requests})`);
    assert.deepEqual([...seen.keys()].sort(), paths);
    // Round robin: every path within one request of the others (per connection cycle).
    const counts = [...seen.values()];
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `counts ${Math.min(...counts)}..${Math.max(...counts)}`);
    const total = counts.reduce((s, c) => s + c, 0);
    assert.equal(gzipAsked, total);
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

test('the identity Varnish stores what the origin sent; the default one stores gzip', () => {
  assert.ok(varnishVcl(18081).includes('set beresp.do_gzip = true;'));
  const plain = varnishVcl(18081, { storeGzip: false });
  assert.ok(!plain.includes('do_gzip'));
  assert.ok(plain.includes('set beresp.grace = 30s;'));
  assert.equal((plain.match(/\{/g) ?? []).length, (plain.match(/\}/g) ?? []).length, 'braces balance');
});
