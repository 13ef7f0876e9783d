// One log line per kind of failure per interval, with how many were left out since the last
// one: a backend that is down fails every request, and a full error with its stack for each
// cost more log than the requests themselves (as cache-access.ts found for memcached).
export class LogLimiter {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
    /** Kinds remembered at most; a flood of distinct kinds must not grow the map without end. */
    private readonly maxKinds = 1000,
  ) {}

  /**
   * Whether a line for this kind may be written now; if so, how many were suppressed since the
   * last one (undefined: write nothing).
   */
  allow(kind: string): number | undefined {
    const now = this.now();
    const seen = this.last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return undefined;
    }
    if (!seen && this.last.size >= this.maxKinds) this.last.delete(this.last.keys().next().value!);
    this.last.set(kind, { at: now, suppressed: 0 });
    return seen?.suppressed ?? 0;
  }
}
