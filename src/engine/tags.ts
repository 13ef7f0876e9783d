// Tag purge and purge-all in O(1) cache operations per tag: generation counters.
//
// Every entry records, when stored, the values of the counters it depends on (its Host's and
// one per tag: policy/tags.ts names them). A purge increments the counters it names, one
// `incr` each, and from then on an entry recording an older value is a miss wherever it is
// looked up: every memfront sharing the memcached servers and keyPrefix reads the same
// counters. Nothing is enumerated or deleted, so a purge of a tag on a million pages costs
// what a purge of a tag on one does.
//
// Counters live without expiry (hot ones stay in memcached's LRU: every lookup reads its
// Host's). One that is gone anyway (evicted, or a memcached restart) reads as "moved": the
// entries depending on it are misses, never wrongly fresh. That is also why a counter is
// created at a random value and never at a fixed one: a counter evicted and created again
// must not come back at a value old entries recorded.
//
// Each counter has copies spread over the memcached servers (policy/tags.ts): an entry
// records the copy on its own server, so a lost server takes its own entries and no others.
//
// Values may be kept in-process for at most `cacheMs` (the L1 tier's bound, within which
// the contract lets other processes see a purge); this process's own purges update them at
// once.
import { randomInt } from 'node:crypto';
import { colocatedCopy } from '../policy/tags.js';
import { HashRing } from '../store/ring.js';

/** The cache operations generation counters need; CacheAccess provides them, failures as 'error'. */
export interface CounterStore {
  getRaw(key: string): Promise<Buffer | null | 'error'>;
  incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number | 'error'>;
}

/**
 * memjs sends incr's initial value as a 32-bit word and misreads counters past 2^32: start
 * low enough that a billion purges still fit.
 */
const MAX_INITIAL = 2 ** 30;
/** Values remembered in-process at most; past this the memory is simply cleared. */
const MAX_REMEMBERED = 10_000;

export class Generations {
  private readonly remembered = new Map<string, { value: number; at: number }>();

  constructor(
    private readonly store: CounterStore,
    /** How long a value read from the cache may be reused in this process (0 = never). */
    private readonly cacheMs: number,
    private readonly now: () => number = Date.now,
    private readonly initial: () => number = () => randomInt(1, MAX_INITIAL),
  ) {}

  /**
   * The current values of `keys`, creating the counters that do not exist yet (an `incr` by
   * 0 reads a counter, or creates it, in one atomic step). null when the cache cannot say:
   * an entry whose purges cannot be followed must not be stored.
   */
  async stamp(keys: readonly string[]): Promise<Record<string, number> | null> {
    const values = await Promise.all(keys.map((k) => this.store.incr(k, 0, this.initial(), 0)));
    const out: Record<string, number> = {};
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      if (v === 'error') return null;
      out[keys[i]] = v;
      this.remember(keys[i], v);
    }
    return out;
  }

  /**
   * Reads these counters now (those remembered are not asked for), so they can be fetched
   * alongside the entry that will say which it needs. Never rejects.
   */
  read(keys: readonly string[]): Promise<Map<string, number | null | 'error'>> {
    const toRead = keys.filter((k) => this.recall(k) === undefined);
    return Promise.all(toRead.map((k) => this.store.getRaw(k))).then((values) => {
      const out = new Map<string, number | null | 'error'>();
      for (let i = 0; i < toRead.length; i++) {
        const raw = values[i];
        out.set(toRead[i], raw === 'error' ? 'error' : raw === null ? null : (parseCounter(raw) ?? null));
      }
      return out;
    });
  }

  /**
   * Whether every counter still has the value recorded: false once any moved or is gone,
   * 'error' when the cache could not be read (the caller treats that as a miss too).
   * Counters already `read` alongside the entry are taken from there; the rest are asked
   * for in one batch.
   */
  async current(recorded: Record<string, number>, early?: Map<string, number | null | 'error'>): Promise<boolean | 'error'> {
    const keys = Object.keys(recorded);
    // What was read from the cache now; remembered values are not remembered again (that
    // would keep them past cacheMs).
    const got = new Map<string, number | null | 'error'>();
    const toRead: string[] = [];
    for (const k of keys) {
      const known = this.recall(k);
      if (known !== undefined) {
        if (known !== recorded[k]) return false;
      } else if (early?.has(k)) got.set(k, early.get(k)!);
      else toRead.push(k);
    }
    if (toRead.length > 0) {
      const values = await Promise.all(toRead.map((k) => this.store.getRaw(k)));
      for (let i = 0; i < toRead.length; i++) {
        const raw = values[i];
        got.set(toRead[i], raw === 'error' ? 'error' : raw === null ? null : (parseCounter(raw) ?? null));
      }
    }
    let result: boolean | 'error' = true;
    for (const [k, value] of got) {
      if (value === 'error') {
        result = 'error';
        continue;
      }
      // Gone (or not a counter of ours): it moved, as far as this entry can know.
      if (value === null) return false;
      this.remember(k, value);
      if (value !== recorded[k]) return false;
    }
    return result;
  }

  /** Moves every counter in `keys` (a purge). False when any could not be moved. */
  async bump(keys: readonly string[]): Promise<boolean> {
    const values = await Promise.all(keys.map((k) => this.store.incr(k, 1, this.initial(), 0)));
    let ok = true;
    for (let i = 0; i < keys.length; i++) {
      const v = values[i];
      if (v === 'error') {
        ok = false;
        // What we remembered may be what the purge meant to change: forget it.
        this.remembered.delete(keys[i]);
      } else this.remember(keys[i], v);
    }
    return ok;
  }

  private recall(key: string): number | undefined {
    if (this.cacheMs <= 0) return undefined;
    const r = this.remembered.get(key);
    if (!r) return undefined;
    if (this.now() - r.at > this.cacheMs) {
      this.remembered.delete(key);
      return undefined;
    }
    return r.value;
  }

  private remember(key: string, value: number): void {
    if (this.cacheMs <= 0) return;
    // Counters only grow, so a lower value is an older read that finished late (a lookup
    // racing this process's own purge): it must not bring the purged value back.
    const known = this.recall(key);
    if (known !== undefined && known > value) return;
    if (this.remembered.size >= MAX_REMEMBERED && !this.remembered.has(key)) this.remembered.clear();
    this.remembered.set(key, { value, at: this.now() });
  }
}

/** A counter as memcached keeps it: decimal ASCII. Anything else is no counter of ours. */
function parseCounter(raw: Buffer): number | undefined {
  const text = raw.toString('latin1').trim();
  return /^\d{1,15}$/.test(text) ? Number(text) : undefined;
}

/** Which copy of each counter an entry records: the one on the entry's own memcached server. */
export class CounterPlacement {
  private readonly ring: HashRing | undefined;
  private readonly memo = new Map<string, string>();

  /** servers: cache.memcached.servers, as the store's ring places keys; undefined for a store without one. */
  constructor(servers: readonly string[] | undefined) {
    this.ring = servers && servers.length > 1 ? new HashRing(servers) : undefined;
  }

  forEntry(entryKey: string, counterKeys: readonly string[]): string[] {
    const ring = this.ring;
    if (!ring) return counterKeys.map((k) => colocatedCopy(k, undefined, () => undefined));
    const home = ring.get(entryKey);
    return counterKeys.map((k) => {
      const memoKey = `${home} ${k}`;
      let copy = this.memo.get(memoKey);
      if (copy === undefined) {
        copy = colocatedCopy(k, home, (key) => ring.get(key));
        if (this.memo.size >= MAX_REMEMBERED) this.memo.clear();
        this.memo.set(memoKey, copy);
      }
      return copy;
    });
  }
}
