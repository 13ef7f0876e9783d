import { test } from 'node:test';
import assert from 'node:assert/strict';
import client from 'prom-client';
import { TalliedHistogram } from '../../src/admin/tallied-histogram.js';

const BUCKETS = [0.001, 0.01, 0.1, 1];
// Each bound itself, values between and beyond them, and zero.
const VALUES: Array<[string, number]> = [
  ['hit', 0],
  ['hit', 0.001],
  ['hit', 0.0011],
  ['hit', 0.01],
  ['miss', 0.5],
  ['miss', 1],
  ['miss', 7],
  ['hit', 0.05],
];

function both(): { ours: client.Registry; theirs: client.Registry } {
  const ours = new client.Registry();
  const theirs = new client.Registry();
  const t = new TalliedHistogram('d_seconds', 'durations', BUCKETS, ours);
  const h = new client.Histogram({ name: 'd_seconds', help: 'durations', labelNames: ['cache'], buckets: BUCKETS, registers: [theirs] });
  for (const [cache, v] of VALUES) {
    t.labels({ cache }).observe(v);
    h.observe({ cache }, v);
  }
  return { ours, theirs };
}

test('TalliedHistogram: the same /metrics text as prom-client Histogram for the same observations', async () => {
  const { ours, theirs } = both();
  const text = await ours.metrics();
  assert.equal(text, await theirs.metrics());
  // And what that text says (so the equality is not of two empty outputs).
  assert.match(text, /^# TYPE d_seconds histogram$/m);
  assert.match(text, /^d_seconds_bucket\{le="0.001",cache="hit"\} 2$/m);
  assert.match(text, /^d_seconds_bucket\{le="0.01",cache="hit"\} 4$/m);
  assert.match(text, /^d_seconds_bucket\{le="1",cache="miss"\} 2$/m);
  assert.match(text, /^d_seconds_bucket\{le="\+Inf",cache="miss"\} 3$/m);
  assert.match(text, /^d_seconds_count\{cache="hit"\} 5$/m);
  assert.match(text, /^d_seconds_sum\{cache="miss"\} 8.5$/m);
});

test('TalliedHistogram: the workers\' sum (AggregatorRegistry) is the same as prom-client\'s', async () => {
  const a = both();
  const b = both();
  const ours = await client.AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]).metrics();
  const theirs = await client.AggregatorRegistry.aggregate([await a.theirs.getMetricsAsJSON(), await b.theirs.getMetricsAsJSON()]).metrics();
  assert.equal(ours, theirs);
  assert.match(ours, /^d_seconds_count\{cache="hit"\} 10$/m);
});

test('TalliedHistogram: one series per label set, kept across calls', async () => {
  const reg = new client.Registry();
  const t = new TalliedHistogram('x_seconds', 'x', BUCKETS, reg);
  const s = t.labels({ cache: 'hit' });
  assert.equal(t.labels({ cache: 'hit' }), s);
  s.observe(0.2);
  t.labels({ cache: 'hit' }).observe(0.3);
  assert.match(await reg.metrics(), /^x_seconds_count\{cache="hit"\} 2$/m);
  assert.throws(() => new TalliedHistogram('y', 'y', [1, 1], new client.Registry()), /buckets must increase/);
});
