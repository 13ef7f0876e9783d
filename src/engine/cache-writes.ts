// Cache writes of the miss path: an answer stored (unless a purge came first or its
// generations could not be read), an entry deleted because what replaced it may not be
// stored, and the bookkeeping that lets shutdown and tests wait for every write to finish.
import type { Metrics } from '../admin/metrics.js';
import { effectiveWindows, storeTtlSeconds, type StaleWindows } from '../policy/freshness.js';
import { generationKeys, hostCounterKey, tagsOf } from '../policy/tags.js';
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
   * The generations of the counters an answer for `key` is known to depend on before it is
   * asked for: its Host's (purge-all) and the tags its entry had when last stored. To be read
   * before the request goes out (fetch.ts waits for them), so that a purge sent while the
   * backend makes the answer moves them past what the entry records.
   */
  earlyStamps(key: string, host: string): Stamps | undefined {
    const cache = this.d.cache;
    if (!cache) return undefined;
    const keys = new Set(this.counters.forEntry(key, [hostCounterKey(this.d.keyPrefix, host)]));
    for (const k of cache.counterHint(key) ?? []) keys.add(k);
    const p = cache.stamp([...keys]);
    p.catch(() => {});
    return p;
  }

  /**
   * The generations of the answer's Host and tags, to be stored with it, so that a tag purge
   * or purge-all from then on invalidates it: those read before the request went out
   * (`early`), the rest (tags it did not have before) now, as its headers arrive.
   */
  stamps(key: string, host: string, up: UpstreamResponse, early?: Stamps): Stamps | undefined {
    const cache = this.d.cache;
    if (!cache) return undefined;
    const tags = tagsOf(headersObject(up.rawHeaders));
    const keys = this.counters.forEntry(key, generationKeys(this.d.keyPrefix, host, tags));
    const p = early ? withEarly(cache, keys, early) : cache.stamp(keys);
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

/** `keys`' generations: the early reading of those it has, the others read now. */
async function withEarly(cache: CacheAccess, keys: string[], early: Stamps): Promise<Record<string, number> | null> {
  const before = await early;
  if (!before) return null;
  const rest = keys.filter((k) => !Object.hasOwn(before, k));
  const now = rest.length > 0 ? await cache.stamp(rest) : {};
  if (!now) return null;
  const out: Record<string, number> = {};
  for (const k of keys) out[k] = Object.hasOwn(before, k) ? before[k] : now[k];
  return out;
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
