// One measured phase: the driver's run against a server, with the server's CPU and memory
// sampled, the backend's own request count and memfront's counters read before and after, and
// a progress display meanwhile. The bench's phases, and any other bench, are built from this.

import type { PhaseReport } from '../report/report-types.js';
import { startProgress } from '../report/progress-display.js';
import { countersDelta, readMemfrontCounters } from '../lib/memfront-metrics.js';
import { startProcSampler } from '../lib/proc-sampler.js';
import type { BenchBackend } from '../lib/start-bench-backend.js';
import type { DriverPlan } from './driver-plan.js';
import { runDriver } from './start-driver.js';

export interface PhaseSetup {
  plan: DriverPlan;
  /** Whose CPU and memory to sample. */
  pid?: number;
  sampleChildren?: boolean;
  backend?: BenchBackend;
  adminUrl?: string;
  showHitRate: boolean;
  /** Progress bar on a terminal (false: a line every 5 s). */
  progressBar: boolean;
  /** Pin the driver to this CPU. */
  driverCpu?: number;
  /** Where warnings about the measurement go (e.g. a saturated driver). */
  notes: string[];
}

export async function measurePhase(s: PhaseSetup): Promise<PhaseReport> {
  const backendBefore = s.backend ? await s.backend.stats() : undefined;
  const countersBefore = s.adminUrl ? await readMemfrontCounters(s.adminUrl) : undefined;
  const sampler = s.pid ? startProcSampler(s.pid, { children: s.sampleChildren }) : undefined;
  const progress = startProgress({
    label: s.plan.label,
    durationS: s.plan.durationS,
    requests: s.plan.requests,
    showHitRate: s.showHitRate,
    bar: s.progressBar,
  });
  let run;
  try {
    run = await runDriver(s.plan, { cpu: s.driverCpu, onProgress: (p) => progress.update(p) });
  } finally {
    progress.stop();
  }
  const usage = sampler?.stop();
  const phase: PhaseReport = { run };
  // A driver that used its whole core measured itself, not the server.
  if (run.driverCpuPercent >= 90) {
    s.notes.push(
      `${s.plan.label}: the load driver used ${run.driverCpuPercent.toFixed(0)}% of its core, so ${Math.round(run.rps).toLocaleString('en-US')} req/s may be the driver's limit rather than the server's`,
    );
  }
  if (usage) {
    phase.process = usage;
    if (run.requests > 0) phase.cpuUsPerRequest = (usage.cpuSeconds * 1e6) / run.requests;
  }
  if (s.backend && backendBefore) {
    const after = await s.backend.stats();
    phase.backend = { requests: after.requests - backendBefore.requests, bytes: after.bytes - backendBefore.bytes };
  }
  if (s.adminUrl && countersBefore) {
    const after = await readMemfrontCounters(s.adminUrl);
    if (after) phase.metrics = countersDelta(countersBefore, after);
  }
  return phase;
}

