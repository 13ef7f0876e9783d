// The forward/fill comparison's arithmetic and its wrk script (bench/compare/forward-fill.ts,
// bench/lib/wrk-paths.ts): ratios of medians, targets met or not, never-repeated URLs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ffRatios, ffTargets, summariseFf, type FfRow, type FfRun } from '../../bench/compare/forward-fill.js';
import { uniquePathsScript } from '../../bench/lib/wrk-paths.js';

function run(rps: number, cpu?: number): FfRun {
  return { rps, p50Ms: 1, p99Ms: 2, requests: rps * 5, errors: 0, non2xx: 0, cpuUsPerRequest: cpu };
}

function row(set: 'forward' | 'fill', server: FfRow['server'], runs: FfRun[], status: FfRow['status'] = 'ok'): FfRow {
  return { set, server, label: server, status, runs };
}

describe('forward/fill arithmetic', () => {
  it('medians per row, memfront over each other row, by req/s and by CPU per request', () => {
    const rows = [
      row('forward', 'memfront', [run(9000, 100), run(11000, 90), run(10000, 95)]),
      row('forward', 'varnish', [run(8000, 120), run(8000, 120)]),
    ];
    assert.equal(summariseFf(rows[0])!.rps, 10000);
    const [r] = ffRatios(rows);
    assert.equal(r.over, 'varnish');
    assert.equal(r.value, 1.25);
    assert.ok(Math.abs(r.cpuValue! - 120 / 95) < 1e-9);
  });

  it('judges forwarding at 1.2x Varnish and fill at 1.0x', () => {
    const rows = [
      row('forward', 'memfront', [run(9000)]),
      row('forward', 'varnish', [run(8000)]),
      row('fill', 'memfront', [run(2000)]),
      row('fill', 'varnish', [run(2000)]),
    ];
    const t = ffTargets(rows);
    assert.deepEqual(t.map((x) => [x.set, x.met]), [['forward', false], ['fill', true]]);
  });

  it('a baseline not installed leaves its target not measured, and says why', () => {
    const rows = [row('fill', 'memfront', [run(2000)]), { ...row('fill', 'varnish', [], 'not installed'), detail: 'not installed' }];
    const [t] = ffTargets(rows);
    assert.equal(t.met, undefined);
    assert.match(t.measuredText, /not measured.*varnish/);
  });
});

describe('uniquePathsScript', () => {
  it('builds every path from the prefix, the thread and a counter', () => {
    const lua = uniquePathsScript('/fill/run-1/p');
    assert.match(lua, /local prefix = "\/fill\/run-1\/p"/);
    assert.match(lua, /n = n \+ 1/);
    assert.match(lua, /prefix \.\. thread_id \.\. "-" \.\. n/);
  });

  it('refuses a prefix that is not a path', () => {
    assert.throws(() => uniquePathsScript('fill'), /not a path/);
  });
});
