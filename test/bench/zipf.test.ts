// The Zipf sampler: probabilities follow 1/k^s, and draws land on ranks in those proportions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../demo/seeded-random.js';
import { ZipfSampler, zipfProbabilities } from '../../bench/workload/zipf.js';

test('probabilities sum to 1 and fall as 1/k^s', () => {
  const cases: Array<[n: number, s: number]> = [
    [1, 1],
    [10, 0],
    [100, 0.8],
    [1000, 1],
    [1000, 1.2],
  ];
  for (const [n, s] of cases) {
    const p = zipfProbabilities(n, s);
    assert.equal(p.length, n);
    assert.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-12, `sum for n=${n} s=${s}`);
    for (const k of [2, 5, n]) {
      if (k > n) continue;
      assert.ok(Math.abs(p[0] / p[k - 1] - k ** s) < 1e-9 * k ** s, `p1/p${k} for s=${s}`);
    }
  }
  // s = 1 over 1000 pages: the first page takes 1/H(1000) = 1/7.4855 of the requests.
  assert.ok(Math.abs(zipfProbabilities(1000, 1)[0] - 1 / 7.485470860550345) < 1e-12);
});

test('s = 0 is uniform', () => {
  for (const v of zipfProbabilities(8, 0)) assert.equal(v, 1 / 8);
});

test('bad parameters are refused', () => {
  assert.throws(() => zipfProbabilities(0, 1), /at least one page/);
  assert.throws(() => zipfProbabilities(2.5, 1), /at least one page/);
  assert.throws(() => zipfProbabilities(10, -1), /exponent/);
  assert.throws(() => zipfProbabilities(10, NaN), /exponent/);
});

test('draws follow the distribution (200,000 draws, each rank within 4 standard deviations)', () => {
  const n = 50;
  const draws = 200_000;
  const sampler = new ZipfSampler(n, 1, seededRandom(42));
  const counts = new Array<number>(n).fill(0);
  for (let i = 0; i < draws; i++) counts[sampler.next()]++;
  const p = sampler.probabilities;
  let chi2 = 0;
  for (let k = 0; k < n; k++) {
    const expected = draws * p[k];
    const sd = Math.sqrt(draws * p[k] * (1 - p[k]));
    assert.ok(Math.abs(counts[k] - expected) < 4 * sd, `rank ${k + 1}: ${counts[k]} draws, expected ${expected.toFixed(0)}`);
    chi2 += (counts[k] - expected) ** 2 / expected;
  }
  // 49 degrees of freedom: the 99.9th percentile of chi-square is about 85.
  assert.ok(chi2 < 85, `chi-square ${chi2.toFixed(1)}`);
});

test('edge draws land on the first and the last rank', () => {
  const values = [0, 0.9999999999999999];
  let i = 0;
  const sampler = new ZipfSampler(5, 1, () => values[i++]);
  assert.equal(sampler.next(), 0);
  assert.equal(sampler.next(), 4);
});
