// Writing a report to disk: bench-results/bench-<time>.json and .html side by side.

import { mkdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { renderHtmlReport } from './html-report.js';
import type { BenchReport } from './report-types.js';

export async function writeReport(r: BenchReport, dir: string): Promise<{ json: string; html: string }> {
  const out = resolve(dir);
  await mkdir(out, { recursive: true });
  const stamp = r.startedAt.replace(/[:.]/g, '-');
  const json = join(out, `bench-${stamp}.json`);
  const html = join(out, `bench-${stamp}.html`);
  await writeFile(json, JSON.stringify(r, null, 2) + '\n');
  await writeFile(html, renderHtmlReport(r));
  return { json, html };
}
