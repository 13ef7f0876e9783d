// The report: its JSON has the documented shape and survives a round trip to disk; the HTML
// page carries the same data, draws its charts inline and fetches nothing; the terminal text
// states the headline figures.

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { RunResult } from '../../bench/driver/driver-plan.js';
import { LatencyRecorder } from '../../bench/driver/latency-recorder.js';
import type { Outcome } from '../../bench/driver/outcome.js';
import { Timeline } from '../../bench/driver/timeline.js';
import { DATA_ELEMENT_ID, renderHtmlReport, reportFromHtml } from '../../bench/report/html-report.js';
import { REPORT_SCHEMA, type BenchReport } from '../../bench/report/report-types.js';
import { headlines } from '../../bench/report/summary.js';
import { terminalReport } from '../../bench/report/terminal-report.js';
import { writeReport } from '../../bench/report/write-report.js';
import { theoreticalHitRate } from '../../bench/workload/hit-rate-theory.js';

/** A run made the way the driver makes one: `mix` says how many of each outcome and how slow. */
function fakeRun(label: string, mix: Array<[Outcome, number, number]>, seconds = 10): RunResult {
  const rec = new LatencyRecorder();
  const tl = new Timeline();
  let requests = 0;
  let served = 0;
  let hits = 0;
  let anon = 0;
  let anonServed = 0;
  for (const [outcome, count, ms] of mix) {
    for (let i = 0; i < count; i++) {
      const at = ((requests % 1000) / 1000) * seconds * 1000;
      const anonymous = outcome !== 'bypass';
      rec.record(outcome, ms * 1000 * (0.8 + 0.4 * ((i * 37) % 100) / 100));
      tl.response(at, outcome, anonymous, 10_000);
      requests++;
      if (outcome === 'hit' || outcome === 'stale') served++;
      if (outcome === 'hit') hits++;
      if (anonymous) {
        anon++;
        if (outcome === 'hit' || outcome === 'stale') anonServed++;
      }
    }
  }
  const outcomes: RunResult['outcomes'] = {};
  for (const o of rec.outcomes()) outcomes[o] = rec.latency(o);
  return {
    label,
    startedAt: '2026-01-01T00:00:00.000Z',
    connections: 50,
    durationS: seconds,
    requests,
    rps: requests / seconds,
    bytes: requests * 10_000,
    errors: 0,
    errorCodes: {},
    statuses: { 200: requests },
    outcomes,
    all: rec.allLatency(),
    hitRate: served / requests,
    hitOnlyRate: hits / requests,
    anonymous: { requests: anon, served: anonServed, hitRate: anonServed / anon },
    timeline: tl.toJSON(),
    purges: { sent: 10, purged: 8, notFound: 2, failed: 0, updated: 10 },
    driverCpuPercent: 60,
  };
}

function fakeReport(): BenchReport {
  const theory = theoreticalHitRate({ pages: [{ p: 0.6, ttlS: 60 }, { p: 0.4, ttlS: 300 }], requestRate: 1000, loggedInShare: 0.1, purgeRate: 1, staleWhileRevalidateS: 30, fetchS: 0.02, durationS: 10 });
  const usage = { peakRssBytes: 90 * 1048576, cpuSeconds: 8, userSeconds: 6, systemSeconds: 2, wallSeconds: 10, cpuPercent: 80, processes: 1, series: [{ t: 0.25, rssBytes: 80 * 1048576, cpuPercent: 75 }, { t: 0.5, rssBytes: 90 * 1048576, cpuPercent: 85 }] };
  return {
    schema: REPORT_SCHEMA,
    startedAt: '2026-01-01T00:00:00.000Z',
    finishedAt: '2026-01-01T00:01:00.000Z',
    command: 'npm run bench -- --quick --baseline',
    machine: { cpus: 2, cpuModel: 'Test CPU', node: 'v20.0.0', platform: 'linux', pinned: true, loadAverage: [0.5, 0.4, 0.3] },
    workload: { mode: 'synthetic', pages: 200, zipfS: 1, loggedInShare: 0.1, gzipShare: 0.9, purgeRatePerS: 1, renderMs: 20, connections: 50, durationS: 10, meanPageBytes: 40_000, weightedMeanBytes: 30_000 },
    targets: [
      {
        id: 'memfront',
        label: 'memfront',
        kind: 'cache',
        status: 'ok',
        workload: { run: fakeRun('memfront', [['hit', 900, 0.5], ['stale', 20, 0.6], ['miss', 40, 25], ['bypass', 100, 22]]), backend: { requests: 150, bytes: 6_000_000 }, process: usage, cpuUsPerRequest: 7500, metrics: { requests: { hit: 900 }, backendRequests: 150 } },
        hitsOnly: { run: fakeRun('memfront hits', [['hit', 5000, 0.4]], 5), process: usage, cpuUsPerRequest: 80 },
        theory: { ...theory, inputs: { requestRate: 1000, loggedInShare: 0.1, purgeRate: 1, staleWhileRevalidateS: 30, fetchS: 0.02, durationS: 10, pages: 2 } },
      },
      { id: 'varnish', label: 'Varnish', kind: 'cache', status: 'not installed', detail: 'not installed' },
      { id: 'bare', label: 'bare Node (ceiling)', kind: 'ceiling', status: 'ok', hitsOnly: { run: fakeRun('bare', [['none', 6000, 0.3]], 5) } },
      { id: 'backend', label: 'backend alone', kind: 'backend', status: 'ok', workload: { run: fakeRun('backend', [['none', 500, 21]], 5), backend: { requests: 500, bytes: 20_000_000 } } },
    ],
    ceilingBytes: 10_000,
    notes: ['a note with <markup> & "quotes"'],
  };
}

test('the JSON shape: schema, workload, one entry per target with its phases', async () => {
  const r = fakeReport();
  const dir = await mkdtemp(join(tmpdir(), 'bench-report-'));
  try {
    const files = await writeReport(r, dir);
    assert.match(files.json, /bench-2026-01-01T00-00-00-000Z\.json$/);
    const back = JSON.parse(await readFile(files.json, 'utf8')) as BenchReport;
    assert.deepEqual(back, r);
    assert.equal(back.schema, 'memfront-bench/1');
    assert.deepEqual(Object.keys(back).sort(), ['ceilingBytes', 'command', 'finishedAt', 'machine', 'notes', 'schema', 'startedAt', 'targets', 'workload']);
    const mf = back.targets[0];
    assert.deepEqual(Object.keys(mf.workload!.run).sort(), [
      'all', 'anonymous', 'bytes', 'connections', 'driverCpuPercent', 'durationS', 'errorCodes', 'errors', 'hitOnlyRate', 'hitRate', 'label', 'outcomes', 'purges', 'requests', 'rps', 'startedAt', 'statuses', 'timeline',
    ]);
    const hit = mf.workload!.run.outcomes.hit!;
    assert.deepEqual(Object.keys(hit.summary).sort(), ['count', 'max', 'mean', 'p50', 'p90', 'p99', 'p999']);
    assert.ok(hit.distribution.length > 5);
    assert.equal(typeof hit.hdr, 'string');
    assert.ok(mf.theory!.coldStart! > 0 && mf.theory!.steadyState > 0);
    assert.equal(back.targets[1].status, 'not installed');
    assert.equal(await readFile(files.html, 'utf8'), renderHtmlReport(r));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the HTML carries the report as data and reads back equal', () => {
  const r = fakeReport();
  const html = renderHtmlReport(r);
  assert.deepEqual(reportFromHtml(html), r);
  assert.ok(html.includes(`id="${DATA_ELEMENT_ID}"`));
  // The notes' markup is escaped in the page and in the data block.
  assert.ok(html.includes('a note with &lt;markup&gt; &amp; &quot;quotes&quot;'));
  const data = /<script type="application\/json" id="bench-data">([\s\S]*?)<\/script>/.exec(html)![1];
  assert.ok(!data.includes('<'), 'no raw < inside the data block');
});

test('the HTML draws its charts inline and fetches nothing', () => {
  const html = renderHtmlReport(fakeReport());
  const titles = [
    'Hit rate over time (anonymous requests served from the cache)',
    'Requests per second (workload)',
    'Latency by outcome: memfront',
    'Latency of hits (warm cache) against the bare Node server',
    'CPU: memfront (100% = one core)',
    'Memory: memfront (RSS)',
  ];
  for (const t of titles) assert.ok(html.includes(`<title>${t}</title>`), t);
  assert.equal((html.match(/<svg /g) ?? []).length, titles.length);
  assert.ok((html.match(/<polyline /g) ?? []).length >= 12);
  for (const o of ['hit (900)', 'stale (20)', 'miss (40)', 'bypass (100)']) assert.ok(html.includes(`>${o}</text>`), o);
  // Self-contained: no script, stylesheet, image or font from anywhere.
  assert.ok(!/<script(?![^>]*application\/json)/.test(html), 'no executable script');
  assert.ok(!/\b(src|href)=/.test(html), 'no external resource');
  assert.ok(!/@import|url\(/.test(html));
  assert.ok(!/NaN|undefined/.test(html.replace(/<script type="application\/json"[\s\S]*?<\/script>/, '')));
});

test('headline figures and the terminal text', () => {
  const r = fakeReport();
  const [h] = headlines(r);
  assert.equal(h.target, 'memfront');
  assert.ok(Math.abs(h.hitRate! - 920 / 1060) < 1e-12);
  assert.ok(Math.abs(h.vsCeiling! - 1000 / 1200) < 1e-9, `vs ceiling ${h.vsCeiling}`);
  assert.ok(Math.abs(h.vsBackendRps! - 106 / 100) < 1e-9);
  assert.ok(Math.abs(h.backendOffload! - (1 - 150 / 1060)) < 1e-12);
  const text = terminalReport(r);
  for (const want of ['memfront bench: 200 pages', 'Latency by outcome: memfront', 'Varnish', 'not installed', 'Hits only', 'bare Node (ceiling)', 'backend alone', 'x ceiling', 'theory', '0.83x the ceiling', 'note: a note with <markup>']) {
    assert.ok(text.includes(want), want);
  }
});
