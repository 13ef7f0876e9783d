// The report as one self-contained HTML page: the tables, charts drawn here as inline SVG (hit
// rate over time, requests/s, latency by percentile per outcome and per target, memfront's CPU
// and memory), and the whole report as JSON in a <script type="application/json"> block, so
// the page is also the data. No script runs and nothing is fetched.

import { OUTCOMES, type Outcome } from '../driver/outcome.js';
import { bytes, int, ms, pct } from './format.js';
import type { BenchReport, TargetReport } from './report-types.js';
import { escapeXml, lineChart, logTicks, niceCeil, niceTicks, percentileX, PERCENTILE_TICKS, type Series } from './svg-chart.js';
import type { DistributionPoint } from '../driver/latency-recorder.js';
import { describeWorkload, errorLines, headlineLines, hitsOnlyRows, outcomeRows, pinningLine, workloadRows, type TableData } from './terminal-report.js';

export const DATA_ELEMENT_ID = 'bench-data';

const OUTCOME_COLORS: Record<Outcome, string> = {
  hit: '#2a9d8f',
  stale: '#e9a03b',
  miss: '#e76f51',
  bypass: '#6c757d',
  none: '#264653',
  other: '#9b5de5',
};

const TARGET_COLORS: Record<string, string> = {
  memfront: '#1f6feb',
  'nginx-srcache': '#2ca02c',
  varnish: '#9467bd',
  backend: '#d62728',
  bare: '#7f7f7f',
  target: '#1f6feb',
};

function colorOf(t: TargetReport): string {
  return TARGET_COLORS[t.id] ?? '#444';
}

/** JSON that cannot close its <script> element early. */
export function embedJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026').replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

function htmlTable(t: TableData | undefined): string {
  if (!t) return '';
  const head = `<tr>${t.header.map((h, i) => `<th${i ? ' class="num"' : ''}>${escapeXml(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => `<td${i ? ' class="num"' : ''}>${escapeXml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n<thead>${head}</thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

function percentAxisTicks() {
  return niceTicks(0, 1, 5).map((v) => ({ value: v, label: `${Math.round(v * 100)}%` }));
}

function timeAxis(maxT: number) {
  const max = Math.max(1, maxT);
  return { label: 'seconds', min: 0, max, ticks: niceTicks(0, max, 6).map((v) => ({ value: v, label: String(v) })) };
}

function hitRateChart(r: BenchReport): string | undefined {
  const caches = r.targets.filter((t) => t.kind === 'cache' && t.workload);
  if (!caches.length) return undefined;
  const series: Series[] = [];
  let maxT = 1;
  for (const t of caches) {
    const tl = t.workload!.run.timeline;
    maxT = Math.max(maxT, tl.length);
    const color = colorOf(t);
    series.push({
      name: `${t.label}, each second`,
      color,
      width: 1,
      points: tl.filter((p) => p.anonRequests > 0).map((p) => [p.t + 0.5, p.anonServed / p.anonRequests]),
    });
    let req = 0;
    let served = 0;
    series.push({
      name: `${t.label}, so far`,
      color,
      width: 3,
      points: tl.map((p) => {
        req += p.anonRequests;
        served += p.anonServed;
        return [p.t + 1, req ? served / req : 0] as [number, number];
      }),
    });
    if (t.theory?.coldStartCurve?.length) {
      series.push({
        name: `${t.label}, theory so far`,
        color,
        dashed: true,
        width: 1.5,
        points: t.theory.coldStartCurve.map(([x, y]) => [x, y] as [number, number]),
      });
    }
    if (t.theory) {
      series.push({
        name: `${t.label}, theory (long run)`,
        color: '#999',
        dashed: true,
        width: 1,
        points: [
          [0, t.theory.steadyStateAnonymous],
          [tl.length, t.theory.steadyStateAnonymous],
        ],
      });
    }
  }
  return lineChart({
    title: 'Hit rate over time (anonymous requests served from the cache)',
    x: timeAxis(maxT),
    y: { label: 'hit rate', min: 0, max: 1, ticks: percentAxisTicks() },
    series,
    width: 900,
    height: 380,
  });
}

function rpsChart(r: BenchReport): string | undefined {
  const runs = r.targets.filter((t) => t.workload);
  if (!runs.length) return undefined;
  let maxT = 1;
  let maxY = 1;
  const series: Series[] = runs.map((t) => {
    const tl = t.workload!.run.timeline;
    maxT = Math.max(maxT, tl.length);
    // The last bucket is a fraction of a second; leave it out rather than draw a false drop.
    const pts = tl.slice(0, Math.max(1, tl.length - 1)).map((p) => [p.t + 0.5, p.requests] as [number, number]);
    for (const [, y] of pts) maxY = Math.max(maxY, y);
    return { name: t.label, color: colorOf(t), points: pts };
  });
  const yMax = niceCeil(maxY * 1.05);
  return lineChart({
    title: 'Requests per second (workload)',
    x: timeAxis(maxT),
    y: { label: 'requests/s', min: 0, max: yMax, ticks: niceTicks(0, yMax, 5).map((v) => ({ value: v, label: int(v) })) },
    series,
  });
}

/** A round floor for a log axis: 1, 2 or 5 times a power of ten at or below v. */
function logFloor(v: number): number {
  const mag = 10 ** Math.floor(Math.log10(v));
  const m = [5, 2, 1].find((x) => x * mag <= v * (1 + 1e-12)) ?? 1;
  return Number((m * mag).toPrecision(6));
}

function logCeil(v: number): number {
  const mag = 10 ** Math.floor(Math.log10(v));
  const m = [1, 2, 5, 10].find((x) => x * mag >= v * (1 - 1e-12)) ?? 10;
  return Number((m * mag).toPrecision(6));
}

function latencyAxis(values: number[]) {
  const pos = values.filter((v) => v > 0);
  const lo = logFloor(Math.max(0.01, Math.min(...pos, 1)));
  const hi = logCeil(Math.max(...pos, lo * 2));
  return { label: 'latency, ms (log)', min: lo, max: hi, log: true, ticks: logTicks(lo, hi).map((v) => ({ value: v, label: String(v) })) };
}

/** Points of a latency curve; the maximum sits at the finest percentile the count resolves. */
function curve(d: DistributionPoint[], count: number): Array<[number, number]> {
  const end = Math.min(5, Math.log10(Math.max(10, count)));
  return d.map((p) => [p.percentile >= 100 ? end : Math.min(end, percentileX(p.percentile, 5)), p.ms]);
}

function percentileChart(title: string, curves: Series[], values: number[]): string {
  const xMax = Math.min(5, Math.max(2, Math.ceil(Math.max(...curves.flatMap((c) => c.points.map(([x]) => x))))));
  return lineChart({
    title,
    x: { label: 'percentile', min: 0, max: xMax, ticks: PERCENTILE_TICKS },
    y: latencyAxis(values),
    series: curves,
  });
}

function outcomeLatencyChart(t: TargetReport): string | undefined {
  const run = t.workload?.run;
  if (!run) return undefined;
  const series: Series[] = [];
  const values: number[] = [];
  for (const o of OUTCOMES) {
    const l = run.outcomes[o];
    if (!l || l.distribution.length === 0) continue;
    series.push({ name: `${o} (${int(l.summary.count)})`, color: OUTCOME_COLORS[o], points: curve(l.distribution, l.summary.count) });
    values.push(...l.distribution.map((d) => d.ms));
  }
  if (!series.length) return undefined;
  return percentileChart(`Latency by outcome: ${t.label}`, series, values);
}

function hitsOnlyLatencyChart(r: BenchReport): string | undefined {
  const series: Series[] = [];
  const values: number[] = [];
  for (const t of r.targets) {
    const run = t.hitsOnly?.run;
    if (!run) continue;
    const l = t.kind === 'cache' ? (run.outcomes.hit ?? run.all) : run.all;
    if (!l.distribution.length) continue;
    series.push({ name: t.label, color: colorOf(t), points: curve(l.distribution, l.summary.count) });
    values.push(...l.distribution.map((d) => d.ms));
  }
  return series.length ? percentileChart('Latency of hits (warm cache) against the bare Node server', series, values) : undefined;
}

function processCharts(t: TargetReport): string[] {
  const p = t.workload?.process;
  if (!p || p.series.length < 2) return [];
  const maxT = p.series.at(-1)!.t;
  const cpuMax = niceCeil(Math.max(100, ...p.series.map((s) => s.cpuPercent)));
  const rssMax = niceCeil((Math.max(...p.series.map((s) => s.rssBytes)) / 1048576) * 1.1);
  return [
    lineChart({
      title: `CPU: ${t.label} (100% = one core)`,
      x: timeAxis(maxT),
      y: { label: 'CPU %', min: 0, max: cpuMax, ticks: niceTicks(0, cpuMax, 5).map((v) => ({ value: v, label: `${v}%` })) },
      series: [{ name: 'CPU', color: colorOf(t), points: p.series.map((s) => [s.t, s.cpuPercent]) }],
    }),
    lineChart({
      title: `Memory: ${t.label} (RSS)`,
      x: timeAxis(maxT),
      y: { label: 'MB', min: 0, max: rssMax, ticks: niceTicks(0, rssMax, 5).map((v) => ({ value: v, label: String(v) })) },
      series: [{ name: 'RSS', color: colorOf(t), points: p.series.map((s) => [s.t, s.rssBytes / 1048576]) }],
    }),
  ];
}

const STYLE = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1d1d1f;margin:24px auto;max-width:1220px;padding:0 16px;background:#fafafa}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#555;margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:10px 14px;min-width:200px}
.card .v{font-size:22px;font-weight:600}.card .k{color:#666;font-size:12px}
table{border-collapse:collapse;background:#fff;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #e2e2e2;padding:4px 8px;text-align:left;white-space:nowrap}th{background:#f3f3f3;font-weight:600}
.num{text-align:right}
.charts{display:flex;flex-wrap:wrap;gap:14px}.chart{border:1px solid #e2e2e2;border-radius:6px;background:#fff}
.lines p{margin:4px 0}.warn{color:#b00020}
footer{color:#777;font-size:12px;margin-top:28px}
`;

function cards(r: BenchReport): string {
  const out: string[] = [];
  const mf = r.targets.find((t) => t.kind === 'cache' && t.status === 'ok' && t.workload);
  if (mf?.workload) {
    const run = mf.workload.run;
    out.push(`<div class="card"><div class="k">${escapeXml(mf.label)} hit rate (anonymous)</div><div class="v">${pct(run.hitRate)} (${pct(run.anonymous.hitRate)})</div><div class="k">theory ${pct(mf.theory?.coldStart)} this run, ${pct(mf.theory?.steadyState)} long run</div></div>`);
    out.push(`<div class="card"><div class="k">requests/s (workload)</div><div class="v">${int(run.rps)}</div><div class="k">backend answered ${int(mf.workload.backend?.requests ?? mf.workload.metrics?.backendRequests)}</div></div>`);
    const hit = run.outcomes.hit?.summary;
    if (hit) out.push(`<div class="card"><div class="k">hits p50 / p99 / p99.9</div><div class="v">${ms(hit.p50)} / ${ms(hit.p99)} / ${ms(hit.p999)} ms</div><div class="k">${int(hit.count)} hits</div></div>`);
    if (mf.workload.process) out.push(`<div class="card"><div class="k">peak RSS / CPU</div><div class="v">${bytes(mf.workload.process.peakRssBytes)} / ${mf.workload.process.cpuPercent.toFixed(0)}%</div><div class="k">100% = one core</div></div>`);
  }
  const ceiling = r.targets.find((t) => t.id === 'bare' && t.status === 'ok')?.hitsOnly?.run.rps;
  if (mf?.hitsOnly && ceiling) {
    out.push(`<div class="card"><div class="k">hits/s vs the bare Node ceiling</div><div class="v">${int(mf.hitsOnly.run.rps)} / ${int(ceiling)}</div><div class="k">${(mf.hitsOnly.run.rps / ceiling).toFixed(2)}x</div></div>`);
  }
  return out.length ? `<div class="cards">${out.join('\n')}</div>` : '';
}

export function renderHtmlReport(r: BenchReport): string {
  const charts: string[] = [];
  const hr = hitRateChart(r);
  if (hr) charts.push(hr);
  const rps = rpsChart(r);
  if (rps) charts.push(rps);
  const latency: string[] = [];
  for (const t of r.targets) {
    if (t.kind !== 'cache') continue;
    const c = outcomeLatencyChart(t);
    if (c) latency.push(c);
  }
  const ho = hitsOnlyLatencyChart(r);
  if (ho) latency.push(ho);
  const proc = r.targets.filter((t) => t.kind === 'cache').flatMap(processCharts);
  const outcomeTables = r.targets
    .filter((t) => t.kind === 'cache' && t.workload)
    .map((t) => `<h3>${escapeXml(t.label)}</h3>\n${htmlTable(outcomeRows(t.workload!))}`)
    .join('\n');
  const errors = errorLines(r);
  const when = new Date(r.startedAt).toUTCString();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>memfront bench, ${escapeXml(r.startedAt)}</title>
<style>${STYLE}</style>
</head>
<body>
<h1>memfront bench</h1>
<p class="sub">${escapeXml(describeWorkload(r))}<br>${escapeXml(when)} · ${r.machine.cpus} CPUs${r.machine.cpuModel ? ` (${escapeXml(r.machine.cpuModel)})` : ''} · Node ${escapeXml(r.machine.node)} · ${escapeXml(pinningLine(r))} · load average at start ${r.machine.loadAverage.map((l) => l.toFixed(2)).join(' ')}</p>
${cards(r)}
<div class="lines">${headlineLines(r).map((l) => `<p>${escapeXml(l)}</p>`).join('\n')}${errors.map((l) => `<p class="warn">${escapeXml(l)}</p>`).join('\n')}</div>
${r.notes.length ? `<h2>Notes</h2>\n<ul>${r.notes.map((n) => `<li>${escapeXml(n)}</li>`).join('\n')}</ul>` : ''}
<h2>Hit rate and throughput</h2>
<div class="charts">
${charts.join('\n')}
</div>
<h2>Workload</h2>
${htmlTable(workloadRows(r))}
<h2>Latency</h2>
<div class="charts">
${latency.join('\n')}
</div>
${outcomeTables}
${hitsOnlyRows(r) ? `<h2>Hits only (warm cache, anonymous, same pages; the ceiling answers a constant ${escapeXml(bytes(r.ceilingBytes))} body)</h2>\n${htmlTable(hitsOnlyRows(r))}` : ''}
${proc.length ? `<h2>memory and CPU</h2>\n<div class="charts">\n${proc.join('\n')}\n</div>` : ''}
<footer>Command: <code>${escapeXml(r.command)}</code>. The full report, with every latency histogram (HdrHistogram, compressed base64), is the JSON in this page's <code>#${DATA_ELEMENT_ID}</code> element.</footer>
<script type="application/json" id="${DATA_ELEMENT_ID}">${embedJson(r)}</script>
</body>
</html>
`;
}

/** The report a page carries, read back (for tests and for tools that only kept the HTML). */
export function reportFromHtml(html: string): unknown {
  const m = new RegExp(`<script type="application/json" id="${DATA_ELEMENT_ID}">([\\s\\S]*?)</script>`).exec(html);
  if (!m) throw new Error(`no #${DATA_ELEMENT_ID} element in the page`);
  return JSON.parse(m[1]);
}
