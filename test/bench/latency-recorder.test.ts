// HDR percentiles per outcome: exact enough (3 significant digits), kept apart by outcome,
// and the encoded histogram reads back to the same counts.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as hdr from 'hdr-histogram-js';
import { distribution, LatencyRecorder, newHistogram, summarize } from '../../bench/driver/latency-recorder.js';

const within = (got: number, want: number, rel: number, what: string) =>
  assert.ok(Math.abs(got - want) <= want * rel, `${what}: ${got} vs ${want}`);

test('percentiles of 1..10000 microseconds, to 3 significant digits', () => {
  const h = newHistogram();
  for (let us = 1; us <= 10_000; us++) h.recordValue(us);
  const s = summarize(h);
  assert.equal(s.count, 10_000);
  const cases: Array<[keyof typeof s, number]> = [
    ['p50', 5.0],
    ['p90', 9.0],
    ['p99', 9.9],
    ['p999', 9.99],
    ['max', 10.0],
    ['mean', 5.0005],
  ];
  for (const [k, ms] of cases) within(s[k], ms, 0.001, k);
});

test('outcomes are recorded apart, and all of them together', () => {
  const r = new LatencyRecorder();
  for (let i = 0; i < 900; i++) r.record('hit', 300 + (i % 10)); // ~0.3 ms
  for (let i = 0; i < 100; i++) r.record('miss', 25_000 + i * 10); // ~25 ms
  r.record('bypass', 0.2); // below a microsecond still counts
  assert.deepEqual(new Set(r.outcomes()), new Set(['hit', 'miss', 'bypass']));
  const hit = r.latency('hit')!.summary;
  const miss = r.latency('miss')!.summary;
  assert.equal(hit.count, 900);
  assert.equal(miss.count, 100);
  assert.ok(hit.p99 < 0.32 && hit.p50 >= 0.3, `hit p50 ${hit.p50} p99 ${hit.p99}`);
  within(miss.p50, 25.5, 0.01, 'miss p50');
  assert.equal(r.latency('bypass')!.summary.count, 1);
  assert.equal(r.latency('stale'), undefined);
  const all = r.allLatency().summary;
  assert.equal(all.count, 1001);
  // The 90th percentile of all sits at the boundary between hits and misses.
  assert.ok(all.p50 < 1 && all.p99 > 20, `all p50 ${all.p50} p99 ${all.p99}`);
});

test('the distribution curve rises, ends at the max, and stops where the data runs out', () => {
  const h = newHistogram();
  for (let i = 1; i <= 1000; i++) h.recordValue(i * 100);
  const d = distribution(h);
  for (let i = 1; i < d.length; i++) {
    assert.ok(d[i].percentile > d[i - 1].percentile);
    assert.ok(d[i].ms >= d[i - 1].ms);
  }
  assert.equal(d.at(-1)!.percentile, 100);
  within(d.at(-1)!.ms, 100, 0.001, 'max');
  // 1,000 values say nothing about the 99.99th percentile.
  assert.ok(!d.some((p) => p.percentile > 99.9 && p.percentile < 100));
  assert.deepEqual(distribution(newHistogram()), []);
});

test('the encoded histogram reads back with the same count and percentiles', () => {
  const r = new LatencyRecorder();
  for (let i = 1; i <= 5000; i++) r.record('hit', i);
  const l = r.latency('hit')!;
  const back = hdr.decodeFromCompressedBase64(l.hdr, 32, false);
  assert.equal(back.totalCount, 5000);
  assert.equal(back.getValueAtPercentile(99) / 1000, l.summary.p99);
});
