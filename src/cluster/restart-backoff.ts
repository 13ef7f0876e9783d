// When a crashed worker is replaced: at once for a lone crash, later for a crash loop.

export interface BackoffPolicy {
  /** Crashes older than this are forgotten (ms). */
  windowMs: number;
  /** Delay after the second crash in the window, doubled for each further one (ms). */
  baseMs: number;
  maxMs: number;
}

export const RESTART_BACKOFF: BackoffPolicy = { windowMs: 60_000, baseMs: 250, maxMs: 30_000 };

/**
 * How long to wait before replacing a crashed worker, given the times of recent crashes
 * (this one included): at once for a lone crash, then doubling, so a worker that dies on
 * every start costs a few forks a minute, not a spinning CPU.
 */
export function restartDelay(crashTimes: number[], now: number, p: BackoffPolicy = RESTART_BACKOFF): number {
  const recent = crashTimes.filter((t) => now - t < p.windowMs).length;
  if (recent <= 1) return 0;
  return Math.min(p.maxMs, p.baseMs * 2 ** (recent - 2));
}
