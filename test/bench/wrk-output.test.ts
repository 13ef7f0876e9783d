// Reading wrk's done() report: real wrk 4.1 output captured against a constant server and a
// server answering 404s, plus the failure when the report line is missing.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseWrkOutput, WRK_DONE_SCRIPT, WRK_JSON_MARK } from '../../bench/lib/wrk-output.js';

const OK_RUN = `Running 1s test @ http://127.0.0.1:44349/
  1 threads and 10 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.46ms    2.52ms  34.18ms   90.06%
    Req/Sec    14.15k    11.11k   32.36k    60.00%
  14053 requests in 1.01s, 139.46MB read
Requests/sec:  13972.39
Transfer/sec:    138.66MB
WRK_JSON {"requests":14053,"duration_us":1005769,"bytes":146235518,"errors":{"connect":0,"read":0,"write":0,"status":0,"timeout":0},"latency_us":{"p50":391,"p90":3960,"p99":10226,"max":34177,"mean":1461.150}}
`;

const NOT_FOUND_RUN = `Running 1s test @ http://127.0.0.1:38969/missing
  1 threads and 4 connections
  14345 requests in 1.10s, 31.42MB read
  Non-2xx or 3xx responses: 14345
Requests/sec:  13047.92
WRK_JSON {"requests":14345,"duration_us":1099409,"bytes":32950465,"errors":{"connect":2,"read":3,"write":0,"status":14345,"timeout":1},"latency_us":{"p50":200,"p90":2533,"p99":13696,"max":23811,"mean":977.659}}
`;

test('a clean run gives exact requests per second and latency percentiles in ms', () => {
  const r = parseWrkOutput(OK_RUN);
  assert.equal(r.requests, 14053);
  assert.equal(r.durationS, 1.005769);
  assert.ok(Math.abs(r.rps - 14053 / 1.005769) < 1e-9);
  assert.equal(r.bytes, 146235518);
  const { mean, ...percentiles } = r.latencyMs;
  assert.deepEqual(percentiles, { p50: 0.391, p90: 3.96, p99: 10.226, max: 34.177 });
  assert.ok(Math.abs(mean - 1.46115) < 1e-9);
  assert.equal(r.errors, 0);
  assert.equal(r.non2xx, 0);
});

test('status errors are non2xx, socket errors are summed apart from them', () => {
  const r = parseWrkOutput(NOT_FOUND_RUN);
  assert.equal(r.non2xx, 14345);
  assert.equal(r.errors, 6);
  assert.deepEqual(r.errorDetail, { connect: 2, read: 3, write: 0, timeout: 1 });
});

test('output without the report line is an error that shows the output', () => {
  assert.throws(() => parseWrkOutput('unable to connect to 127.0.0.1:1 Connection refused\n'), /no WRK_JSON line[\s\S]*Connection refused/);
});

test('the Lua script prints the marker the parser looks for, with percentiles', () => {
  assert.ok(WRK_DONE_SCRIPT.includes(WRK_JSON_MARK));
  assert.match(WRK_DONE_SCRIPT, /done = function\(summary, latency, requests\)/);
  for (const p of [50, 90, 99]) assert.ok(WRK_DONE_SCRIPT.includes(`latency:percentile(${p})`));
});
