// `npm run bench` options: defaults, --quick, --compare forms, and refusals.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseBenchOptions } from '../../bench/lib/bench-options.js';

test('defaults', () => {
  const o = parseBenchOptions([]);
  assert.equal(o.pages, 1000);
  assert.equal(o.zipfS, 1);
  assert.equal(o.loggedInShare, 0.1);
  assert.equal(o.purgeRatePerS, 1);
  assert.equal(o.durationS, 60);
  assert.equal(o.requests, undefined);
  assert.equal(o.connections, 50);
  assert.equal(o.ratePerS, undefined);
  assert.equal(o.renderMs, 20);
  assert.equal(o.baseline, false);
  assert.deepEqual(o.compare, []);
  assert.equal(o.workers, undefined);
  assert.equal(o.outDir, 'bench-results');
});

test('--quick shortens the run; explicit values still win', () => {
  const q = parseBenchOptions(['--quick']);
  assert.equal(q.pages, 200);
  assert.equal(q.durationS, 10);
  assert.equal(q.baselineDurationS, 5);
  const q2 = parseBenchOptions(['--quick', '--pages', '50', '--duration=3']);
  assert.equal(q2.pages, 50);
  assert.equal(q2.durationS, 3);
});

test('--requests alone means no duration limit', () => {
  const o = parseBenchOptions(['--requests', '5000']);
  assert.equal(o.requests, 5000);
  assert.equal(o.durationS, undefined);
});

test('--compare with a list, with =, and alone', () => {
  const cases: Array<[string[], string[]]> = [
    [['--compare', 'nginx'], ['nginx']],
    [['--compare=varnish,nginx'], ['varnish', 'nginx']],
    [['--compare'], ['nginx', 'varnish']],
    [['--compare', '--baseline'], ['nginx', 'varnish']],
  ];
  for (const [argv, want] of cases) assert.deepEqual(parseBenchOptions(argv).compare, want, argv.join(' '));
  assert.equal(parseBenchOptions(['--compare', '--baseline']).baseline, true);
});

test('--target needs --urls and turns purging off by default', () => {
  const o = parseBenchOptions(['--target', 'http://example.test:8080', '--urls', 'urls.txt']);
  assert.equal(o.target, 'http://example.test:8080');
  assert.equal(o.purgeRatePerS, 0);
  assert.throws(() => parseBenchOptions(['--target', 'http://x.test']), /needs --urls/);
  assert.throws(() => parseBenchOptions(['--urls', 'u.txt']), /--urls is for --target/);
  assert.throws(() => parseBenchOptions(['--target', 'x.test', '--urls', 'u']), /http:\/\//);
  assert.throws(() => parseBenchOptions(['--target', 'http://x.test', '--urls', 'u', '--baseline']), /does not combine/);
});

test('mistakes are refused, not silently defaulted', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--logged-in', '1.5'], /share between 0 and 1/],
    [['--pages', '0'], /at least 1/],
    [['--connections', '2.5'], /whole number/],
    [['--duratoin', '5'], /unknown option --duratoin/],
    [['--compare', 'squid'], /nginx and varnish/],
    [['--rate', '0'], /must be above 0/],
    [['--pages'], /needs a value/],
    [['stray'], /unexpected argument/],
  ];
  for (const [argv, re] of cases) assert.throws(() => parseBenchOptions(argv), re, argv.join(' '));
});

test('--help wins over everything else', () => {
  assert.equal(parseBenchOptions(['--help', '--pages', 'x']).help, true);
});
