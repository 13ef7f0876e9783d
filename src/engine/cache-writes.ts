// Cache writes of the miss path: an answer stored (unless a purge came first or its
// generations could not be read), an entry deleted because what replaced it may not be
// stored, and the bookkeeping that lets shutdown and tests wait for every write to finish.
import type { Metrics } from '../admin/metrics.js';
import { effectiveWindows, storeTtlSeconds, type StaleWindows } from '../policy/freshness.js';
import { generationKeys, tagsOf } from '../policy/tags.js';
import type { Entry } from '../store/entry-codec.js';
import { headersObject, type UpstreamResponse } from '../upstream/upstream.js';
import type { CacheAccess } from './cache-access.js';
import { CounterPlacement } from './tags.js';

/** Asked just before an answer is written to the cache: false once the key was purged meanwhile. */
export type MayStore = () => boolean | Promise<boolean>;

/** Generation counter values for an entry, read as its headers arrived (null: not to be had). */
export type Stamps = Promise<Record<string, number> | null>;

export interface CacheWritesDeps {
  cache: CacheAccess | null;
  metrics: Metrics;
  windows: StaleWindows;
  /** cache.keep (seconds) */
  keep: number;
  keyPrefix: string;
  /** memcached servers (tag counters are placed beside their entries), when that is the store. */
  servers?: string[];
}

export class CacheWrites {
  private readonly pending = new Set<Promise<unknown>>();
  private readonly counters: CounterPlacement;

  constructor(private readonly d: CacheWritesDeps) {
    this.counters = new CounterPlacement(d.servers);
  }

  /**
   * Writes an entry to the cache (lifetime `ttl` seconds, kept longer for stale serving);
   * resolves false when it was not stored. Tracked for settled().
   */
  store(key: string, entry: Entry, ttl: number, mayStore?: MayStore, stamps?: Stamps): Promise<boolean> {
    const cache = this.d.cache;
    if (!cache) return Promise.resolve(false);
    // Relative seconds: the store converts lifetimes over memcached's 30-day limit itself.
    const exptime = storeExptime(entry, ttl, this.d.windows, this.d.keep);
    return this.track(
      (async () => {
        // A PURGE that came while this answer was on its way wins: the answer predates it.
        if (mayStore && !(await mayStore())) {
          this.d.metrics.notStored.inc({ reason: 'purged' });
          return false;
        }
        // A renewed entry keeps the generations it was checked against when it was looked up.
        if (stamps) {
          const tags = await stamps;
          // An entry whose purges could not be followed is not stored.
          if (!tags) {
            this.d.metrics.notStored.inc({ reason: 'no-generations' });
            return false;
          }
          entry.tags = tags;
        }
        return cache.save(key, entry, exptime);
      })(),
    );
  }

  /** Deletes the entry of `key`: what replaced it may not be stored, so neither may it be served. */
  forget(key: string): void {
    if (this.d.cache) void this.track(this.d.cache.remove(key));
  }

  /** Keeps settled() waiting until the returned function is called. */
  hold(): () => void {
    let release!: () => void;
    void this.track(new Promise<void>((resolve) => (release = resolve)));
    return release;
  }

  /** Resolves once every cache write started so far has finished (shutdown, tests). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /**
   * The generations of the answer's Host and tags, read now (as its headers arrive, not once
   * the body is in): stored with it, so a tag purge or purge-all from here on invalidates it.
   */
  stamps(key: string, host: string, up: UpstreamResponse): Stamps | undefined {
    const cache = this.d.cache;
    if (!cache) return undefined;
    const tags = tagsOf(headersObject(up.rawHeaders));
    const p = cache.stamp(this.counters.forEntry(key, generationKeys(this.d.keyPrefix, host, tags)));
    // Settled before anyone awaits it when the answer is not stored after all.
    p.catch(() => {});
    return p;
  }

  /** Counts `p` among the writes settled() waits for (a lease's release, which may take an entry back out). */
  track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => {});
    return p;
  }
}

/**
 * The store lifetime (seconds) of an entry fresh for `ttl` more seconds: kept through the stale
 * windows that apply to it (its own, RFC 5861), then cache.keep more for revalidation only.
 */
export function storeExptime(entry: Entry, ttl: number, windows: StaleWindows, keep: number): number {
  return Math.max(1, storeTtlSeconds(ttl, effectiveWindows(entry.stale, windows), hasValidator(entry) ? keep : 0));
}

/** Only an entry that can be revalidated (RFC 9111 4.3.1) is worth keeping past its windows. */
function hasValidator(entry: Entry): boolean {
  return (entry.etag !== undefined && entry.etag !== '') || (entry.lastModified !== undefined && entry.lastModified !== '');
}
