// The hit comparison's arithmetic: medians per row, ratios of memfront to each baseline, and
// issue 18's targets judged met, not met, or not measured (with the reason), from plain results.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  evaluateHitTargets,
  hitRatios,
  KB10,
  KB100,
  sliceRatio,
  summariseRow,
  type HitRowId,
  type RowResult,
  type RunMeasure,
  type SizeResult,
  type SlicePair,
  type TargetCheck,
} from '../../bench/lib/hit-targets.js';
import { targetLines } from '../../bench/lib/hit-tables.js';

function runBut(over: Partial<RunMeasure> = {}): RunMeasure {
  return { rps: 10_000, p50Ms: 1, p99Ms: 3, requests: 100_000, errors: 0, non2xx: 0, backendRequests: 0, ...over };
}

function row(id: HitRowId, rps: number[], over: Partial<RunMeasure> = {}): RowResult {
  return { id, label: id, status: 'ok', runs: rps.map((r) => runBut({ rps: r, ...over })) };
}

function absent(id: HitRowId, status: 'not installed' | 'failed', detail: string): RowResult {
  return { id, label: id, status, detail, runs: [] };
}

function check(checks: TargetCheck[], id: string): TargetCheck {
  const c = checks.find((x) => x.id === id);
  assert.ok(c, `target ${id} is evaluated`);
  return c;
}

test('a row summary takes medians of req/s and latency, the highest RSS, the median CPU per request', () => {
  const r: RowResult = {
    id: 'memfront-identity',
    label: 'memfront',
    status: 'ok',
    runs: [
      runBut({ rps: 30, p50Ms: 2, p99Ms: 9, requests: 1000, cpuSeconds: 0.04, serverRssPeakBytes: 90e6, countedHits: 1000 }),
      runBut({ rps: 10, p50Ms: 1, p99Ms: 3, requests: 1000, cpuSeconds: 0.01, serverRssPeakBytes: 120e6, countedHits: 990 }),
      runBut({ rps: 20, p50Ms: 3, p99Ms: 4, requests: 1000, cpuSeconds: 0.02, serverRssPeakBytes: 100e6, countedHits: 1000, backendRequests: 10 }),
    ],
  };
  const s = summariseRow(r);
  assert.ok(s);
  assert.equal(s.rps, 20);
  assert.equal(s.p50Ms, 2);
  assert.equal(s.p99Ms, 4);
  assert.deepEqual(s.runsRps, [30, 10, 20]);
  assert.equal(s.serverRssPeakBytes, 120e6);
  assert.equal(s.cpuUsPerRequest, 20); // 0.02 s / 1000 requests
  assert.equal(s.backendRequests, 10);
  assert.equal(s.hitShare, 2990 / 3000);
});

test('rows that did not run have no summary; unknown CPU, RSS and hit counts stay unknown', () => {
  assert.equal(summariseRow(absent('nginx-identity', 'not installed', 'not installed')), undefined);
  assert.equal(summariseRow({ id: 'bare', label: 'bare', status: 'ok', runs: [] }), undefined);
  const s = summariseRow(row('bare', [5]));
  assert.ok(s);
  assert.equal(s.cpuUsPerRequest, undefined);
  assert.equal(s.serverRssPeakBytes, undefined);
  assert.equal(s.hitShare, undefined);
  // One run without a hit count makes the share unknown, not a smaller share.
  const partial = summariseRow({ ...row('memfront-gzip', [1, 1]), runs: [runBut({ countedHits: 100_000 }), runBut()] });
  assert.equal(partial?.hitShare, undefined);
});

const FULL: SizeResult[] = [
  {
    size: KB10,
    rows: [
      row('memfront-identity', [23_000, 24_000, 25_000]),
      row('memfront-gzip', [24_000]),
      row('bare', [26_000, 25_000, 27_000]),
      row('bare-distinct', [25_500]),
      row('nginx-identity', [24_800]),
      row('varnish-identity', [31_500]),
      row('varnish-gzip', [33_900]),
      row('varnish-gunzip', [3_000]),
    ],
  },
  {
    size: KB100,
    rows: [
      row('memfront-identity', [14_000]),
      row('memfront-gzip', [22_000]),
      row('bare', [19_800]),
      row('bare-distinct', [16_000]),
      row('nginx-identity', [7_300]),
      row('varnish-identity', [15_800]),
      row('varnish-gzip', [27_300]),
      row('varnish-gunzip', [1_400]),
    ],
  },
];

test('ratios: memfront over each baseline, per size, from the medians', () => {
  const ratios = hitRatios(FULL);
  const find = (size: number, of: HitRowId, over: HitRowId) => ratios.find((r) => r.size === size && r.of === of && r.over === over);
  assert.equal(find(KB10, 'memfront-identity', 'bare')?.value, 24_000 / 26_000);
  assert.equal(find(KB100, 'memfront-identity', 'nginx-identity')?.value, 14_000 / 7_300);
  assert.equal(find(KB100, 'memfront-gzip', 'varnish-gzip')?.value, 22_000 / 27_300);
  assert.equal(find(KB100, 'memfront-identity', 'varnish-gunzip')?.value, 14_000 / 1_400);
  assert.equal(find(KB100, 'memfront-identity', 'bare-distinct')?.value, 14_000 / 16_000);
  assert.equal(ratios.length, 2 * 7);
  assert.equal(find(KB10, 'memfront-identity', 'bare')?.cpuValue, undefined, 'no CPU figures, no CPU ratio');
});

test('the CPU ratio divides the baseline\'s CPU per request by memfront\'s, so higher is better for memfront too', () => {
  const sizes: SizeResult[] = [{ size: KB10, rows: [row('memfront-identity', [10_000], { cpuSeconds: 0.06 }), row('bare', [20_000], { cpuSeconds: 0.03 })] }];
  const r = hitRatios(sizes).find((x) => x.of === 'memfront-identity' && x.over === 'bare');
  assert.equal(r?.value, 0.5);
  assert.equal(r?.cpuValue, 0.5); // 0.03 s vs 0.06 s per 100,000 requests
  const t = evaluateHitTargets(sizes, 50).find((c) => c.id === 'identity-10k-cpu-vs-bare');
  assert.equal(t?.measuredText, '2.00x the CPU per hit');
  assert.equal(t?.met, false);
});

test('the paired ratio is the median of round-by-round ratios, and only when both rows kept every round', () => {
  const ratios = hitRatios(FULL);
  const find = (size: number, of: HitRowId, over: HitRowId) => ratios.find((r) => r.size === size && r.of === of && r.over === over);
  // Rounds 23k/26k, 24k/25k, 25k/27k: the medians' ratio (24k/26k) pairs runs of different rounds.
  assert.equal(find(KB10, 'memfront-identity', 'bare')?.paired, 25_000 / 27_000);
  assert.equal(find(KB100, 'memfront-identity', 'nginx-identity')?.paired, 14_000 / 7_300);
  assert.equal(find(KB10, 'memfront-gzip', 'bare')?.paired, undefined, 'one run against three: no pairs');
  const rounds: SizeResult[] = [{ size: KB10, rows: [row('memfront-identity', [23_000, 24_000, 25_000]), row('varnish-identity', [26_000, 25_000, 27_000])] }];
  const t = evaluateHitTargets(rounds, 50).find((c) => c.id === 'identity-10k-vs-varnish');
  assert.equal(t?.measuredText, "0.92x (rounds' own ratios: median 0.93x)");
  assert.equal(t?.met, false, 'judged on the medians, as before');
});

test('user CPU alone is compared beside the whole CPU per hit', () => {
  const sizes: SizeResult[] = [{ size: KB10, rows: [
    row('memfront-identity', [10_000], { cpuSeconds: 0.06, userSeconds: 0.04 }),
    row('bare', [20_000], { cpuSeconds: 0.03, userSeconds: 0.01 }),
  ] }];
  assert.equal(summariseRow(sizes[0].rows[0])?.userUsPerRequest, 0.4);
  const r = hitRatios(sizes).find((x) => x.of === 'memfront-identity' && x.over === 'bare');
  assert.equal(r?.userValue, 0.25);
  const t = evaluateHitTargets(sizes, 50).find((c) => c.id === 'identity-10k-cpu-vs-bare');
  assert.equal(t?.measuredText, '2.00x the CPU per hit (user CPU alone: 4.00x)');
  assert.equal(t?.met, false, 'judged on the whole CPU per hit, as the issue states it');
});

test('targets against the figures of issue 18: each judged on its own threshold', () => {
  const cases: Array<{ name: string; id10: number; cpu10: number; id100: number; gzip100: number; want: Record<string, boolean> }> = [
    // 1.0 x 38,800 = 38,800; 1.15 x 23.4 us = 26.91 us (26.9 in, 26.95 out); 0.9 x 23,800 = 21,420 (2 x 8,180 = 16,360); 0.8 x 43,400 = 34,720
    { name: 'all met', id10: 38_800, cpu10: 26.9, id100: 21_420, gzip100: 34_720, want: { 'identity-10k-vs-varnish': true, 'identity-10k-cpu-vs-bare': true, 'identity-100k-vs-varnish': true, 'identity-100k-vs-nginx': true, 'gzip-100k-vs-varnish': true } },
    { name: 'just under each', id10: 38_799, cpu10: 26.95, id100: 21_419, gzip100: 34_719, want: { 'identity-10k-vs-varnish': false, 'identity-10k-cpu-vs-bare': false, 'identity-100k-vs-varnish': false, 'identity-100k-vs-nginx': true, 'gzip-100k-vs-varnish': false } },
    { name: 'nginx ratio alone', id10: 1, cpu10: 100, id100: 16_359, gzip100: 1, want: { 'identity-100k-vs-nginx': false } },
  ];
  const cpu = (usPerHit: number) => ({ requests: 1_000_000, cpuSeconds: usPerHit });
  for (const c of cases) {
    const sizes: SizeResult[] = [
      { size: KB10, rows: [row('memfront-identity', [c.id10], cpu(c.cpu10)), row('bare', [42_000], cpu(23.4)), row('varnish-identity', [38_800])] },
      { size: KB100, rows: [row('memfront-identity', [c.id100]), row('memfront-gzip', [c.gzip100]), row('nginx-identity', [8_180]), row('varnish-identity', [23_800]), row('varnish-gzip', [43_400])] },
    ];
    const checks = evaluateHitTargets(sizes, 50);
    for (const [id, met] of Object.entries(c.want)) assert.equal(check(checks, id).met, met, `${c.name}: ${id}`);
  }
});

test('p99 and RSS targets take the worst memfront row of any size, and name it', () => {
  const sizes: SizeResult[] = [
    { size: KB10, rows: [row('memfront-identity', [1], { p99Ms: 2, serverRssPeakBytes: 80e6 }), row('memfront-gzip', [1], { p99Ms: 5, serverRssPeakBytes: 90e6 })] },
    // The bare server's p99 and RSS are no business of memfront's targets.
    { size: KB100, rows: [row('memfront-identity', [1], { p99Ms: 4.5, serverRssPeakBytes: 150e6 }), row('bare', [1], { p99Ms: 50, serverRssPeakBytes: 900e6 })] },
  ];
  const checks = evaluateHitTargets(sizes, 50);
  const p99 = check(checks, 'p99');
  assert.equal(p99.met, true); // 5 ms is within "at most 5 ms"
  assert.equal(p99.measured, 5);
  assert.match(p99.measuredText, /memfront-gzip at 10 KB/);
  const rss = check(checks, 'rss');
  assert.equal(rss.met, true);
  assert.match(rss.measuredText, /memfront-identity at 100 KB/);

  const over = evaluateHitTargets([{ size: KB10, rows: [row('memfront-identity', [1], { p99Ms: 5.01, serverRssPeakBytes: 150e6 + 1 })] }], 50);
  assert.equal(check(over, 'p99').met, false);
  assert.equal(check(over, 'rss').met, false);
});

test('a target whose baseline is not installed is not measured, with the reason, never met', () => {
  const sizes: SizeResult[] = [
    { size: KB10, rows: [row('memfront-identity', [20_000]), row('varnish-identity', [20_000])] },
    {
      size: KB100,
      rows: [
        row('memfront-identity', [14_000]),
        row('memfront-gzip', [22_000]),
        absent('nginx-identity', 'not installed', 'not installed (nginx is, but not the srcache and memc modules)'),
        absent('varnish-gzip', 'failed', 'varnishd exited'),
      ],
    },
  ];
  const checks = evaluateHitTargets(sizes, 50);
  assert.equal(check(checks, 'identity-10k-vs-varnish').met, true);
  assert.equal(check(checks, 'identity-10k-cpu-vs-bare').met, undefined);
  assert.match(check(checks, 'identity-10k-cpu-vs-bare').why ?? '', /bare: row not measured/);
  const nginx = check(checks, 'identity-100k-vs-nginx');
  assert.equal(nginx.met, undefined);
  assert.match(nginx.why ?? '', /nginx-identity: not installed/);
  const varnish = check(checks, 'gzip-100k-vs-varnish');
  assert.equal(varnish.met, undefined);
  assert.match(varnish.why ?? '', /failed: varnishd exited/);
});

test('a size that was not run leaves its targets unmeasured; a p99 at other than 50 connections is not judged', () => {
  const only10: SizeResult[] = [{ size: KB10, rows: [row('memfront-identity', [20_000], { p99Ms: 1 }), row('bare', [20_000])] }];
  const checks = evaluateHitTargets(only10, 50);
  assert.equal(check(checks, 'identity-100k-vs-nginx').met, undefined);
  assert.match(check(checks, 'identity-100k-vs-nginx').why ?? '', /size not measured/);
  const at10 = evaluateHitTargets(only10, 10);
  assert.equal(check(at10, 'p99').met, undefined);
  assert.match(check(at10, 'p99').why ?? '', /measured at 10 connections/);
});

test('alternating slices: the median of the pairs\' own ratios, judged beside the rounds\' verdict, never instead of it', () => {
  const pair = (of: HitRowId, over: HitRowId, rps: [number, number][], cpuUs: [number | undefined, number | undefined][] = []): SlicePair => ({ of, over, rps, cpuUs });
  // A slow phase on one pair halves both rows: its ratio is the same as the others'.
  const gzip = pair('memfront-gzip', 'varnish-gzip', [[35_000, 40_000], [16_000, 20_000], [30_000, 36_000]]);
  const r = sliceRatio(gzip)!;
  assert.equal(r.pairs, 3);
  assert.equal(r.median, 30_000 / 36_000);
  assert.equal(r.min, 16_000 / 20_000);
  assert.equal(r.max, 35_000 / 40_000);
  assert.equal(sliceRatio(pair('memfront-gzip', 'varnish-gzip', [[0, 1]])), undefined, 'no usable pair: nothing to say');
  const cpu = sliceRatio(pair('memfront-identity', 'bare', [[1, 1], [1, 1], [1, 1]], [[30, 25], [36, 30], [undefined, 20]]))!;
  assert.equal(cpu.cpuMedian, 1.2, 'CPU ratio: memfront\'s over the baseline\'s, pairs without figures left out');
  // The rounds say not met (one of memfront's runs fell into a slow phase); the slices say met: both are shown, the verdict stays the rounds'.
  const sizes: SizeResult[] = [
    { size: KB100, rows: [row('memfront-gzip', [35_000, 14_000, 19_000]), row('varnish-gzip', [39_000, 33_000, 33_000])], slices: [gzip] },
    { size: KB10, rows: [row('memfront-identity', [30_000], { requests: 1_000_000, cpuSeconds: 30 }), row('bare', [30_000], { requests: 1_000_000, cpuSeconds: 25 })], slices: [pair('memfront-identity', 'bare', [[30_000, 36_000]], [[30, 27]])] },
  ];
  const checks = evaluateHitTargets(sizes, 50);
  const g = check(checks, 'gzip-100k-vs-varnish');
  assert.equal(g.met, false);
  assert.deepEqual(g.slices, { text: '0.83x (0.80-0.88, 3 pairs)', met: true });
  const c = check(checks, 'identity-10k-cpu-vs-bare');
  assert.equal(c.met, false, '1.2x by the rounds');
  assert.deepEqual(c.slices, { text: '1.11x the CPU per hit (1 pairs)', met: true });
  assert.equal(check(checks, 'identity-100k-vs-varnish').slices, undefined, 'no slices for it: nothing shown');
  const lines = targetLines(checks);
  const at = lines.findIndex((l) => l.startsWith('[NOT met] 100 KB gzip-client hits'));
  assert.equal(lines[at + 1], '    alternating slices: 0.83x (0.80-0.88, 3 pairs): met');
});

test('the bare Node server in memfront\'s place: shown under the identity and p99 targets, judged by the same bar', () => {
  const sizes: SizeResult[] = [
    {
      size: KB10,
      rows: [
        row('memfront-identity', [30_000], { p99Ms: 4 }),
        row('bare', [39_000], { p99Ms: 3 }),
        row('bare-distinct', [37_000], { p99Ms: 3 }),
        row('varnish-identity', [40_000]),
      ],
      slices: [{ of: 'bare-distinct', over: 'varnish-identity', rps: [[36_000, 40_000], [38_000, 40_000]], cpuUs: [] }],
    },
    {
      size: KB100,
      rows: [
        row('memfront-identity', [16_000], { p99Ms: 6 }),
        row('bare', [17_000], { p99Ms: 5.5 }),
        row('bare-distinct', [16_500], { p99Ms: 4.5 }),
        row('varnish-identity', [16_000]),
        row('nginx-identity', [9_000]),
      ],
    },
  ];
  const checks = evaluateHitTargets(sizes, 50);
  const id10 = check(checks, 'identity-10k-vs-varnish');
  assert.equal(id10.met, false);
  assert.deepEqual(id10.ceiling, { text: 'the bare Node server in memfront\'s place: 0.93x (one body per URL; slices 0.93x), 0.97x (constant body)', reached: false });
  const id100 = check(checks, 'identity-100k-vs-varnish');
  assert.equal(id100.ceiling?.reached, true, 'bare at 1.03x and 1.06x Varnish: Node itself reaches 0.9x');
  const nginx = check(checks, 'identity-100k-vs-nginx');
  assert.equal(nginx.met, false);
  assert.deepEqual(nginx.ceiling, { text: 'the bare Node server in memfront\'s place: 1.83x (one body per URL), 1.89x (constant body)', reached: false });
  const p99 = check(checks, 'p99');
  assert.equal(p99.met, false);
  assert.deepEqual(p99.ceiling, { text: 'the bare Node server at 100 KB: 4.50 ms (one body per URL), 5.50 ms (constant body)', reached: true }, 'at the size of memfront\'s worst row');
  assert.equal(check(checks, 'identity-10k-cpu-vs-bare').ceiling, undefined, 'a target against the bare server itself has none');
  assert.equal(check(checks, 'gzip-100k-vs-varnish').ceiling, undefined, 'no bare row sends stored gzip');
  const lines = targetLines(checks);
  const at = lines.findIndex((l) => l.startsWith('[NOT met] 10 KB identity hits: memfront >= 1.0x'));
  assert.equal(lines[at + 1], '    the bare Node server in memfront\'s place: 0.93x (one body per URL; slices 0.93x), 0.97x (constant body): does not reach it either');
});
