// What --target reads: the URL list file and memfront's /metrics counters.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { countersDelta, countersFromText } from '../../bench/lib/memfront-metrics.js';
import { parseUrlList } from '../../bench/workload/url-list.js';

test('URL lists: paths, full URLs, comments and blank lines', () => {
  const text = '# most popular first\n/\n\nhttps://www.example.test/post/1?utm_source=x\npost/2  # no slash\n  /feed  \r\n';
  assert.deepEqual(parseUrlList(text), ['/', '/post/1?utm_source=x', '/post/2', '/feed']);
  assert.deepEqual(parseUrlList('\n# nothing\n'), []);
});

test('memfront counters from /metrics, and their change over a phase', () => {
  const text = [
    '# HELP memfront_requests_total Requests answered',
    '# TYPE memfront_requests_total counter',
    'memfront_requests_total{cache="hit",route="backend"} 90',
    'memfront_requests_total{cache="hit",route="static"} 10',
    'memfront_requests_total{cache="miss",route="backend"} 5',
    'memfront_backend_requests_total{route="backend"} 7',
    'memfront_cache_errors_total{op="get",code="MF_CACHE_TIMEOUT"} 2',
  ].join('\n');
  const after = countersFromText(text);
  assert.deepEqual(after, { requests: { hit: 100, miss: 5 }, backendRequests: 7, cacheErrors: 2 });
  const before = { requests: { hit: 40 }, backendRequests: 3, cacheErrors: 0 };
  assert.deepEqual(countersDelta(before, after), { requests: { hit: 60, miss: 5 }, backendRequests: 4, cacheErrors: 2 });
  assert.deepEqual(countersFromText(''), { requests: {}, backendRequests: undefined, cacheErrors: undefined });
});
