// The hit comparison printed: per-size tables with every column, the overview in the issue's
// shape with "not installed" in place of a figure, the targets with their verdicts, and markdown.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { evaluateHitTargets, hitRatios, KB10, KB100, type RowResult, type RunMeasure, type SizeResult } from '../../bench/lib/hit-targets.js';
import { hitReportMarkdown, hitReportTerminal, markdownTable, overviewCells, sizeTableCells, targetLines } from '../../bench/lib/hit-tables.js';

function run(over: Partial<RunMeasure>): RunMeasure {
  return { rps: 1, p50Ms: 1, p99Ms: 1, requests: 1000, errors: 0, non2xx: 0, backendRequests: 0, ...over };
}

const SIZES: SizeResult[] = [
  {
    size: KB10,
    rows: [
      { id: 'bare', label: 'bare Node', status: 'ok', bytesPerResponse: 10240, runs: [run({ rps: 25_900.4, p50Ms: 1.5, p99Ms: 3.25, serverRssPeakBytes: 60e6, cpuSeconds: 0.035 })] },
      { id: 'memfront-identity', label: 'memfront', status: 'ok', bytesPerResponse: 10240, runs: [run({ rps: 24_000, serverRssPeakBytes: 101.26e6, companionRssPeakBytes: 8.4e6, cpuSeconds: 0.05, userSeconds: 0.03 })] },
      { id: 'nginx-identity', label: 'nginx srcache', status: 'not installed', detail: 'not installed', runs: [] },
    ],
  },
  {
    size: KB100,
    rows: [{ id: 'memfront-identity', label: 'memfront', status: 'ok', runs: [run({ rps: 14_000 })] }],
  },
];

test('a size table lists rows in the fixed order with every measured column', () => {
  const t = sizeTableCells(SIZES[0]);
  assert.deepEqual(t.header, ['cache hits', 'req/s', 'p50 ms', 'p99 ms', 'RSS MB', 'memcached MB', 'CPU us/req', 'user us/req', 'B/answer', 'runs req/s']);
  assert.deepEqual(t.rows.map((r) => r[0]), ['memfront', 'bare Node', 'nginx srcache']);
  assert.deepEqual(t.rows[0], ['memfront', '24,000', '1.00', '1.00', '101.3', '8.4', '50.0', '30.0', '10,240', '24,000']);
  assert.deepEqual(t.rows[1].slice(1, 9), ['25,900', '1.50', '3.25', '60.0', '-', '35.0', '-', '10,240']);
  assert.deepEqual(t.rows[2].slice(0, 3), ['nginx srcache', 'not installed', '-']);
});

test('the overview has one column per size and says why a row has no figure', () => {
  const o = overviewCells(SIZES);
  assert.deepEqual(o.header, ['cache hits', '10 KB req/s', '100 KB req/s']);
  assert.deepEqual(o.rows, [
    ['memfront', '24,000', '14,000'],
    ['bare Node', '25,900', '-'],
    ['nginx srcache', 'not installed', '-'],
  ]);
});

test('targets print their verdicts: met, NOT met, not measured with the reason', () => {
  const lines = targetLines(evaluateHitTargets(SIZES, 50));
  assert.match(lines[0], /^\[not measured\] 10 KB identity hits: memfront >= 1\.0x Varnish identity: not measured \(varnish-identity: row not measured\)$/);
  assert.match(lines[1], /^\[NOT met\] 10 KB identity hits: CPU per hit <= 1\.15x the bare Node server's: 1\.43x the CPU per hit$/);
  assert.match(lines[4], /^\[not measured\] 100 KB identity hits: memfront >= 2x nginx srcache\+memc: not measured \(nginx-identity: row not measured\)$/);
  assert.ok(lines.some((l) => l.startsWith('[met] memfront RSS under the load <= 150 MB: peak 101.3 MB')));
});

test('markdown tables right-align figures and escape pipes', () => {
  assert.equal(markdownTable(['a', 'b'], [['x|y', '1']]), '| a | b |\n|---|---:|\n| x\\|y | 1 |');
});

test('the full reports carry the setup, every table, ratios, targets and notes', () => {
  const report = { title: 'hits', setup: ['50 connections'], sizes: SIZES, ratios: hitRatios(SIZES), targets: evaluateHitTargets(SIZES, 50), notes: ['busy machine'] };
  const text = hitReportTerminal(report);
  for (const want of ['50 connections', '10 KB body', '100 KB body', '10 KB: memfront-identity / bare = 0.93x, by CPU per request 0.70x', '[met]', 'busy machine']) assert.ok(text.includes(want), want);
  const md = hitReportMarkdown(report);
  for (const want of ['# hits', '- 50 connections', '## 10 KB body', '| cache hits | 10 KB req/s | 100 KB req/s |', '## Targets', '- busy machine']) assert.ok(md.includes(want), want);
});
