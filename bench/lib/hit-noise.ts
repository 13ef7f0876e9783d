// Telling a clean run from one that other processes disturbed. On a shared machine a test
// suite that lands on the server's core (or wrk's) mid-run takes a share of it that no
// interleaving evens out; such a run is repeated, and if every attempt is disturbed the least
// disturbed one is kept and said to be.

import type { RunMeasure } from './hit-targets.js';

/** The larger share of the server's or wrk's core that other processes took (0..1); undefined when unknown. */
export function runNoise(m: Pick<RunMeasure, 'serverCoreOthers' | 'wrkCoreOthers'>): number | undefined {
  const xs = [m.serverCoreOthers, m.wrkCoreOthers].filter((x): x is number => x !== undefined && Number.isFinite(x));
  return xs.length ? Math.max(...xs) : undefined;
}

/** Whether to run again: disturbed beyond maxNoise and attempts left. Unknown noise is never retried. */
export function shouldRetry(m: Pick<RunMeasure, 'serverCoreOthers' | 'wrkCoreOthers'>, attempt: number, maxAttempts: number, maxNoise: number): boolean {
  const noise = runNoise(m);
  return noise !== undefined && noise > maxNoise && attempt < maxAttempts;
}

/** The least disturbed attempt (the first when none is known). */
export function leastNoisy<T extends Pick<RunMeasure, 'serverCoreOthers' | 'wrkCoreOthers'>>(attempts: readonly T[]): T {
  if (attempts.length === 0) throw new Error('leastNoisy: no attempts');
  let best = attempts[0];
  for (const a of attempts.slice(1)) {
    const na = runNoise(a);
    const nb = runNoise(best);
    if (na !== undefined && (nb === undefined || na < nb)) best = a;
  }
  return best;
}
