// The report as text for the terminal: what ran, one table per phase, latency by outcome,
// then the ratios in words.

import { formatTable } from '../lib/bench-table.js';
import { OUTCOMES } from '../driver/outcome.js';
import { bytes, int, ms, pct, ratio } from './format.js';
import type { BenchReport, PhaseReport, TargetReport } from './report-types.js';
import { headlines } from './summary.js';

export function describeWorkload(r: BenchReport): string {
  const w = r.workload;
  const load = w.durationS !== undefined ? `${w.durationS} s` : `${int(w.requests)} requests`;
  const parts = [
    `${int(w.pages)} pages`,
    `Zipf s=${w.zipfS}`,
    `${pct(w.loggedInShare, 0)} logged in`,
    `${pct(w.gzipShare, 0)} gzip`,
    `${w.purgeRatePerS} update${w.purgeRatePerS === 1 ? '' : 's'}/s`,
    `${w.connections} connections${w.ratePerS ? ` at ${int(w.ratePerS)} req/s` : ''}`,
    load,
  ];
  if (w.renderMs !== undefined) parts.push(`render ${w.renderMs} ms`);
  if (w.weightedMeanBytes !== undefined) parts.push(`${bytes(w.weightedMeanBytes)} per request on average`);
  return parts.join(', ');
}

function statusRow(t: TargetReport, width: number): string[] {
  const row = Array<string>(width).fill('');
  row[0] = t.label;
  row[1] = t.status === 'failed' ? 'failed' : 'not installed';
  return row;
}

export interface TableData {
  header: string[];
  rows: string[][];
}

export function workloadRows(r: BenchReport): TableData | undefined {
  const rows: string[][] = [];
  const header = ['target', 'req/s', 'hit rate', 'anon hit', 'theory run', 'theory long', 'backend reqs', 'p50 ms', 'p99 ms', 'sent', 'backend sent', 'peak RSS', 'CPU'];
  for (const t of r.targets) {
    if (t.kind === 'ceiling') continue;
    if (t.status !== 'ok') {
      rows.push(statusRow(t, header.length));
      continue;
    }
    const p = t.workload;
    if (!p) continue;
    const run = p.run;
    const cache = t.kind === 'cache';
    rows.push([
      t.label,
      int(run.rps),
      cache ? pct(run.hitRate) : '-',
      cache ? pct(run.anonymous.hitRate) : '-',
      pct(t.theory?.coldStart),
      pct(t.theory?.steadyState),
      int(p.backend?.requests ?? p.metrics?.backendRequests),
      ms(run.all.summary.p50),
      ms(run.all.summary.p99),
      bytes(run.bytes),
      bytes(p.backend?.bytes),
      bytes(p.process?.peakRssBytes),
      p.process ? `${p.process.cpuPercent.toFixed(0)}%` : '-',
    ]);
  }
  return rows.length ? { header, rows } : undefined;
}

export function outcomeRows(p: PhaseReport): TableData {
  const run = p.run;
  const rows: string[][] = [];
  for (const o of OUTCOMES) {
    const l = run.outcomes[o];
    if (!l) continue;
    const s = l.summary;
    rows.push([o, int(s.count), pct(run.requests ? s.count / run.requests : 0), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.p999), ms(s.max)]);
  }
  const a = run.all.summary;
  rows.push(['all', int(a.count), '100.0%', ms(a.p50), ms(a.p90), ms(a.p99), ms(a.p999), ms(a.max)]);
  return { header: ['outcome', 'requests', 'share', 'p50 ms', 'p90 ms', 'p99 ms', 'p99.9 ms', 'max ms'], rows };
}

export function hitsOnlyRows(r: BenchReport): TableData | undefined {
  const ceiling = r.targets.find((t) => t.id === 'bare' && t.status === 'ok')?.hitsOnly?.run.rps;
  const rows: string[][] = [];
  for (const t of r.targets) {
    const p = t.hitsOnly;
    if (!p) continue;
    const run = p.run;
    const lat = t.kind === 'cache' ? (run.outcomes.hit ?? run.all) : run.all;
    rows.push([
      t.label,
      int(run.rps),
      ceiling ? ratio(run.rps / ceiling) : '-',
      t.kind === 'cache' ? pct(run.hitRate) : '-',
      bytes(run.requests ? run.bytes / run.requests : undefined),
      ms(lat.summary.p50),
      ms(lat.summary.p99),
      ms(lat.summary.p999),
      p.cpuUsPerRequest !== undefined ? p.cpuUsPerRequest.toFixed(0) : '-',
      bytes(p.process?.peakRssBytes),
      `${run.driverCpuPercent.toFixed(0)}%`,
    ]);
  }
  if (!rows.length) return undefined;
  return { header: ['target', 'req/s', 'x ceiling', 'hit rate', 'per resp', 'p50 ms', 'p99 ms', 'p99.9 ms', 'CPU us/req', 'peak RSS', 'driver CPU'], rows };
}

const table = (t: TableData | undefined) => (t ? formatTable(t.header, t.rows) : undefined);

export function pinningLine(r: BenchReport): string {
  if (!r.machine.pinned) return 'no CPU pinning (needs taskset and 2 cores): the driver and the servers share cores';
  return r.workload.mode === 'target' ? 'load driver pinned to CPU 1' : 'servers pinned to CPU 0, load driver to CPU 1';
}

/** The headline figures per cache, in words. */
export function headlineLines(r: BenchReport): string[] {
  return headlines(r).map((h) => {
    const bits = [`hit rate ${pct(h.hitRate)} (theory: ${pct(h.theoryRun)} for this run from cold, ${pct(h.theorySteady)} long-run)`];
    if (h.hitP99Ms !== undefined) bits.push(`p99 of hits ${ms(h.hitP99Ms)} ms`);
    if (h.backendOffload !== undefined) bits.push(`${pct(h.backendOffload)} of requests never reached the backend`);
    if (h.vsBackendRps !== undefined) bits.push(`${ratio(h.vsBackendRps)} the backend alone's req/s`);
    if (h.vsCeiling !== undefined) bits.push(`hits at ${int(h.hitsOnlyRps)} req/s = ${ratio(h.vsCeiling)} the ceiling (p99 ${ms(h.hitsOnlyP99Ms)} ms)`);
    return `${h.target}: ${bits.join('; ')}`;
  });
}

/** Failed requests per target and phase: a figure built on errors is not a figure. */
export function errorLines(r: BenchReport): string[] {
  return r.targets.flatMap((t) =>
    [t.workload, t.hitsOnly]
      .filter((p): p is PhaseReport => !!p && p.run.errors > 0)
      .map((p) => `${t.label}: ${int(p.run.errors)} failed requests ${JSON.stringify(p.run.errorCodes)}`),
  );
}

export function terminalReport(r: BenchReport): string {
  const out: string[] = [];
  out.push(`memfront bench: ${describeWorkload(r)}`);
  out.push(pinningLine(r));
  const wt = table(workloadRows(r));
  if (wt) out.push('', 'Workload (Zipf pages, logged-in visitors, page updates)', wt);
  for (const t of r.targets) {
    if (t.kind !== 'cache' || !t.workload) continue;
    const o = outcomeRows(t.workload);
    out.push('', `Latency by outcome: ${t.label}`, formatTable(o.header, o.rows));
    const pu = t.workload.run.purges;
    if (pu.sent) out.push(`  updates: ${int(pu.sent)} PURGE sent (${int(pu.purged)} removed an entry, ${int(pu.notFound)} found none, ${int(pu.failed)} failed)`);
  }
  const ht = table(hitsOnlyRows(r));
  if (ht) out.push('', `Hits only (warm cache, anonymous, same pages; the ceiling answers a constant ${bytes(r.ceilingBytes)} body)`, ht);
  const lines = headlineLines(r);
  if (lines.length) out.push('', ...lines);
  const errors = errorLines(r);
  if (errors.length) out.push('', 'WARNING', ...errors);
  if (r.notes.length) out.push('', ...r.notes.map((n) => `note: ${n}`));
  return out.join('\n');
}
