// The bench scripts' small pure helpers: flags, medians, Prometheus counters, the constant body.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { flagValue, numberFlag } from '../../bench/lib/cli-flags.js';
import { constantBody } from '../../bench/lib/constant-body.js';
import { sumCounter } from '../../bench/lib/prometheus-text.js';
import { median } from '../../bench/lib/stats.js';
import { formatTable } from '../../bench/lib/bench-table.js';

test('flags are read as --name value and --name=value, numbers checked', () => {
  const argv = ['--size', '2048', '--connections=64', '--port', '0'];
  assert.equal(flagValue(argv, 'size'), '2048');
  assert.equal(numberFlag(argv, 'connections', 50), 64);
  assert.equal(numberFlag(argv, 'port', 8080), 0);
  assert.equal(numberFlag(argv, 'duration', 10), 10);
  assert.throws(() => numberFlag(['--duration', 'ten'], 'duration', 10), /--duration wants a non-negative number/);
});

test('median of odd and even counts', () => {
  const cases: Array<[number[], number]> = [
    [[3, 1, 2], 2],
    [[4, 1, 3, 2], 2.5],
    [[7], 7],
  ];
  for (const [values, want] of cases) assert.equal(median(values), want);
  assert.ok(Number.isNaN(median([])));
});

test('a counter is summed over every series carrying the wanted labels, and only those', () => {
  const text = [
    '# HELP memfront_requests_total Requests',
    '# TYPE memfront_requests_total counter',
    'memfront_requests_total{cache="hit",route="backend"} 120',
    'memfront_requests_total{route="static",cache="hit"} 5',
    'memfront_requests_total{cache="miss",route="backend"} 7',
    'memfront_requests_total_extra{cache="hit"} 1000',
    'xmemfront_requests_total{cache="hit"} 1000',
    'memfront_backend_requests_total 9',
  ].join('\n');
  assert.equal(sumCounter(text, 'memfront_requests_total', { cache: 'hit' }), 125);
  assert.equal(sumCounter(text, 'memfront_requests_total'), 132);
  assert.equal(sumCounter(text, 'memfront_backend_requests_total'), 9);
  assert.equal(sumCounter(text, 'memfront_requests_total', { cache: 'stale' }), undefined);
});

test('the constant body has exactly the asked size, is stable, and compresses like text', () => {
  for (const size of [0, 10, 100, 2048, 10240, 100000]) assert.equal(constantBody(size).length, size);
  assert.deepEqual(constantBody(10240), constantBody(10240));
  const ratio = 10240 / gzipSync(constantBody(10240)).length;
  assert.ok(ratio > 2 && ratio < 8, `gzip ratio ${ratio} should be like a real page's`);
});

test('the table aligns columns', () => {
  const out = formatTable(['target', 'req/s'], [['a', '1'], ['longer', '12,345']]).split('\n');
  assert.deepEqual(out, ['target   req/s', '------  ------', 'a            1', 'longer  12,345']);
});
