// The figures a reader looks for first, derived once from a report so the terminal and the
// HTML state the same numbers: ratios against the baselines, the headline hit figures.

import type { BenchReport, TargetReport } from './report-types.js';

export interface Headline {
  target: string;
  hitRate?: number;
  anonHitRate?: number;
  theoryRun?: number;
  theorySteady?: number;
  rps?: number;
  hitP99Ms?: number;
  hitsOnlyRps?: number;
  hitsOnlyP99Ms?: number;
  /** hits-only req/s / the bare Node server's req/s. */
  vsCeiling?: number;
  /** workload req/s / the backend alone's req/s. */
  vsBackendRps?: number;
  /** Share of the backend's requests the cache saved (1 - backend requests / requests). */
  backendOffload?: number;
}

export function findTarget(report: BenchReport, id: string): TargetReport | undefined {
  return report.targets.find((t) => t.id === id && t.status === 'ok');
}

export function headlines(report: BenchReport): Headline[] {
  const ceiling = findTarget(report, 'bare')?.hitsOnly?.run.rps;
  const backendAlone = findTarget(report, 'backend')?.workload?.run.rps;
  return report.targets
    .filter((t) => t.kind === 'cache' && t.status === 'ok')
    .map((t) => {
      const w = t.workload;
      const h = t.hitsOnly;
      const backendRequests = w?.backend?.requests ?? w?.metrics?.backendRequests;
      return {
        target: t.label,
        hitRate: w?.run.hitRate,
        anonHitRate: w?.run.anonymous.hitRate,
        theoryRun: t.theory?.coldStart,
        theorySteady: t.theory?.steadyState,
        rps: w?.run.rps,
        hitP99Ms: w?.run.outcomes.hit?.summary.p99,
        hitsOnlyRps: h?.run.rps,
        hitsOnlyP99Ms: h?.run.outcomes.hit?.summary.p99 ?? h?.run.all.summary.p99,
        vsCeiling: h && ceiling ? h.run.rps / ceiling : undefined,
        vsBackendRps: w && backendAlone ? w.run.rps / backendAlone : undefined,
        backendOffload: w && backendRequests !== undefined && w.run.requests > 0 ? 1 - backendRequests / w.run.requests : undefined,
      };
    });
}
