// The inline SVG charts: ticks, the percentile axis, and a chart with its series and legend.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeXml, lineChart, logTicks, niceCeil, niceTicks, percentileX } from '../../bench/report/svg-chart.js';

test('nice linear ticks', () => {
  const cases: Array<[number, number, number, number[]]> = [
    [0, 1, 5, [0, 0.2, 0.4, 0.6, 0.8, 1]],
    [0, 60, 6, [0, 10, 20, 30, 40, 50, 60]],
    [0, 23_000, 5, [0, 5000, 10000, 15000, 20000]],
  ];
  for (const [min, max, n, want] of cases) assert.deepEqual(niceTicks(min, max, n), want, `${min}..${max}`);
  assert.deepEqual(niceTicks(3, 3), [3]);
});

test('log ticks go 1-2-5 across decades, powers of ten only over wide ranges', () => {
  assert.deepEqual(logTicks(0.1, 100), [0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]);
  assert.deepEqual(logTicks(0.1, 1000), [0.1, 1, 10, 100, 1000]);
  assert.deepEqual(logTicks(0, 10), []);
});

test('axis ends round up, never below the data', () => {
  const cases: Array<[number, number]> = [
    [0.9, 1],
    [1, 1],
    [1.1, 2],
    [2.2, 2.5],
    [126.5, 200],
    [4100, 5000],
    [9999, 10000],
  ];
  for (const [v, want] of cases) assert.equal(niceCeil(v), want, String(v));
});

test('percentile positions: one unit per nine', () => {
  const cases: Array<[number, number]> = [
    [0, 0],
    [90, 1],
    [99, 2],
    [99.9, 3],
    [100, 6],
  ];
  for (const [p, x] of cases) assert.ok(Math.abs(percentileX(p) - x) < 1e-9, `p${p}`);
  assert.equal(percentileX(100, 5), 5);
});

test('a chart draws each series, its legend and escaped labels', () => {
  const svg = lineChart({
    title: 'Hit rate <over> time & more',
    x: { label: 'seconds', min: 0, max: 10, ticks: [{ value: 0, label: '0' }, { value: 10, label: '10' }] },
    y: { label: 'ms', min: 0.1, max: 100, log: true, ticks: logTicks(0.1, 100).map((v) => ({ value: v, label: String(v) })) },
    series: [
      { name: 'memfront', color: '#1f6feb', points: [[0, 1], [5, 2], [10, 50]] },
      { name: 'theory', color: '#444', dashed: true, points: [[0, 5], [10, 5]] },
      { name: 'one point', color: '#f00', points: [[3, 3]] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.endsWith('</svg>'));
  assert.equal((svg.match(/<polyline /g) ?? []).length, 2);
  assert.equal((svg.match(/<circle /g) ?? []).length, 1);
  assert.match(svg, /stroke-dasharray="6 4"/);
  assert.ok(svg.includes(escapeXml('Hit rate <over> time & more')));
  assert.ok(!svg.includes('<over>'));
  for (const name of ['memfront', 'theory', 'one point']) assert.ok(svg.includes(`>${name}</text>`), name);
  // Every coordinate is a number: nothing NaN slipped through the log scale.
  assert.ok(!/NaN|Infinity/.test(svg));
});
