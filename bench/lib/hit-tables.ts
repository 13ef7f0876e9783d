// The hit-path comparison as text: one table per body size (every measured column), the
// overview in issue 8's shape (rows by req/s at each size), the ratios and the targets, for the
// terminal and as markdown for the issue note. Pure: results in, strings out.

import { fmtInt, fmtMs, formatTable } from './bench-table.js';
import { HIT_ROWS, sizeLabel, summariseRow, verdict, type Ratio, type RowResult, type SizeResult, type TargetCheck } from './hit-targets.js';

const SIZE_HEADER = ['cache hits', 'req/s', 'p50 ms', 'p99 ms', 'RSS MB', 'memcached MB', 'CPU us/req', 'user us/req', 'B/answer', 'runs req/s'];

function mb(bytes: number | undefined): string {
  return bytes === undefined ? '-' : (bytes / 1e6).toFixed(1);
}

function rowCells(row: RowResult): string[] {
  const s = summariseRow(row);
  if (!s) return [row.label, row.status === 'ok' ? 'no runs' : row.status, '-', '-', '-', '-', '-', '-', '-', row.status === 'failed' ? (row.detail ?? '') : ''];
  return [
    row.label,
    fmtInt(s.rps),
    fmtMs(s.p50Ms),
    fmtMs(s.p99Ms),
    mb(s.serverRssPeakBytes),
    mb(s.companionRssPeakBytes),
    s.cpuUsPerRequest === undefined ? '-' : s.cpuUsPerRequest.toFixed(1),
    s.userUsPerRequest === undefined ? '-' : s.userUsPerRequest.toFixed(1),
    row.bytesPerResponse === undefined ? '-' : fmtInt(row.bytesPerResponse),
    s.runsRps.map(fmtInt).join(' '),
  ];
}

function orderedRows(size: SizeResult): RowResult[] {
  return HIT_ROWS.map((h) => size.rows.find((r) => r.id === h.id)).filter((r): r is RowResult => r !== undefined);
}

export function sizeTableCells(size: SizeResult): { header: string[]; rows: string[][] } {
  return { header: SIZE_HEADER, rows: orderedRows(size).map(rowCells) };
}

/** Issue 8's table: one row per cache, req/s at each size ("not installed" where it could not run). */
export function overviewCells(sizes: readonly SizeResult[]): { header: string[]; rows: string[][] } {
  const header = ['cache hits', ...sizes.map((s) => `${sizeLabel(s.size)} req/s`)];
  const rows = HIT_ROWS.filter((h) => sizes.some((s) => s.rows.some((r) => r.id === h.id))).map((h) => [
    sizes.flatMap((s) => s.rows.filter((r) => r.id === h.id))[0]?.label ?? h.label,
    ...sizes.map((s) => {
      const row = s.rows.find((r) => r.id === h.id);
      if (!row) return '-';
      const sum = summariseRow(row);
      return sum ? fmtInt(sum.rps) : row.status;
    }),
  ]);
  return { header, rows };
}

export function ratioLines(ratios: readonly Ratio[]): string[] {
  return ratios.map((r) => `${sizeLabel(r.size)}: ${r.of} / ${r.over} = ${r.value === undefined ? `- (${r.why})` : `${r.value.toFixed(2)}x`}` +
    (r.cpuValue === undefined ? '' : `, by CPU per request ${r.cpuValue.toFixed(2)}x`) +
    (r.userValue === undefined ? '' : `, by user CPU ${r.userValue.toFixed(2)}x`) +
    (r.paired === undefined ? '' : `; rounds' own ratios: median ${r.paired.toFixed(2)}x`));
}

export function targetLines(checks: readonly TargetCheck[]): string[] {
  return checks.flatMap((c) => [
    `[${verdict(c.met)}] ${c.target}: ${c.measuredText}${c.why ? ` (${c.why})` : ''}`,
    ...(c.slices ? [`    alternating slices: ${c.slices.text}: ${verdict(c.slices.met)}`] : []),
    ...(c.ceiling ? [`    ${c.ceiling.text}: ${c.ceiling.reached ? 'reaches it' : 'does not reach it either'}`] : []),
  ]);
}

/** A GitHub-flavoured markdown table; every column but the first right-aligned, pipes escaped. */
export function markdownTable(header: string[], rows: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const line = (cells: string[]) => `| ${cells.map(esc).join(' | ')} |`;
  return [line(header), `|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`, ...rows.map(line)].join('\n');
}

export interface HitReportText {
  title: string;
  /** Lines about how it was measured (config, pinning, load). */
  setup: string[];
  sizes: SizeResult[];
  ratios: Ratio[];
  targets: TargetCheck[];
  notes: string[];
}

export function hitReportTerminal(r: HitReportText): string {
  const out: string[] = [r.title, ...r.setup, ''];
  for (const s of r.sizes) {
    const t = sizeTableCells(s);
    out.push(`${sizeLabel(s.size)} body`, formatTable(t.header, t.rows), '');
  }
  const o = overviewCells(r.sizes);
  out.push(formatTable(o.header, o.rows), '', 'ratios (of median req/s; "by CPU per request" compares the CPU each answer cost instead):', ...ratioLines(r.ratios).map((l) => `  ${l}`), '', 'targets (issue 18):', ...targetLines(r.targets).map((l) => `  ${l}`));
  if (r.notes.length) out.push('', 'notes:', ...r.notes.map((n) => `  - ${n}`));
  return out.join('\n');
}

export function hitReportMarkdown(r: HitReportText): string {
  const out: string[] = [`# ${r.title}`, '', ...r.setup.map((l) => `- ${l}`), ''];
  const o = overviewCells(r.sizes);
  out.push(markdownTable(o.header, o.rows), '');
  for (const s of r.sizes) {
    const t = sizeTableCells(s);
    out.push(`## ${sizeLabel(s.size)} body`, '', markdownTable(t.header, t.rows), '');
  }
  out.push('## Ratios', '', ...ratioLines(r.ratios).map((l) => `- ${l}`), '', '## Targets', '', ...targetLines(r.targets).map((l) => `- ${l}`));
  if (r.notes.length) out.push('', '## Notes', '', ...r.notes.map((n) => `- ${n}`));
  return out.join('\n') + '\n';
}
