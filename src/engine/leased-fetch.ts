// How a fetch under a cross-process lease ends (lease.ts): the lease released once memcached
// has the entry (the waiters in this process have it in hand already), a pass marker when the
// answer may not be shared or was not stored, released at once when the fetch failed. And
// one more case: the entry was stored, but the release finds the lease no longer ours. A
// PURGE dropped it, and it may have come between the fetch's last look at its lease and the
// write, so the entry may be the page it removed: it is taken back out (design.md, "Leases
// and purges racing a fill"). Deleting a good entry costs one miss; keeping a purged one
// would serve it for its whole TTL.
import type { Metrics } from '../admin/metrics.js';
import type { CacheAccess } from './cache-access.js';
import type { FetchResult } from './fetch-result.js';
import type { Lease } from './lease.js';

export interface LeasedFetchDeps {
  cache: CacheAccess | null;
  metrics: Metrics;
  /** Counts a lease's ending among the cache writes shutdown and tests wait for. */
  track<T>(p: Promise<T>): Promise<T>;
}

export class LeasedFetches {
  constructor(private readonly d: LeasedFetchDeps) {}

  /** Runs a fetch under `lease` (none: memcached gave none), and ends the lease however it ends. */
  async run(key: string, lease: Lease | undefined, fetch: () => Promise<FetchResult>): Promise<FetchResult> {
    let result: FetchResult;
    try {
      result = await fetch();
    } catch (err) {
      void lease?.release();
      throw err;
    }
    if (lease) this.settle(key, lease, result);
    return result;
  }

  /** Ends the lease for this result; a second call for the same lease does nothing. */
  settle(key: string, lease: Lease, result: FetchResult): void {
    void this.d.track(this.end(key, lease, result));
  }

  private async end(key: string, lease: Lease, result: FetchResult): Promise<void> {
    if (result.kind === 'stored') {
      // Not stored after all (too big for memcached, purged meanwhile): nobody should wait for it.
      if (!(await result.saved)) await lease.pass();
      else if ((await lease.release()) === 'lost') await this.retract(key);
    } else if (result.kind === 'not-shareable') {
      await lease.pass();
    } else {
      await lease.release();
    }
  }

  private async retract(key: string): Promise<void> {
    this.d.metrics.notStored.inc({ reason: 'purged' });
    await this.d.cache?.remove(key);
  }
}
