// When pages are updated: `ratePerS` updates a second, evenly spaced, each for a page drawn
// from the same popularity as requests (popular pages are the ones editors touch most).

export class PurgeSchedule {
  private sent = 0;

  constructor(private readonly ratePerS: number) {}

  /** How many purges are due by `elapsedMs` that have not been handed out yet (and marks them). */
  due(elapsedMs: number): number {
    if (this.ratePerS <= 0) return 0;
    // The k-th purge (k from 1) is due at k / rate seconds.
    const total = Math.floor((elapsedMs / 1000) * this.ratePerS);
    const n = Math.max(0, total - this.sent);
    this.sent += n;
    return n;
  }

  /** Milliseconds from `elapsedMs` to the next purge; Infinity when purging is off. */
  nextInMs(elapsedMs: number): number {
    if (this.ratePerS <= 0) return Infinity;
    const nextAt = ((this.sent + 1) / this.ratePerS) * 1000;
    return Math.max(0, nextAt - elapsedMs);
  }
}
