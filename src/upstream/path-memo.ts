// A small in-process memo of dispatch decisions (mogile key → paths, static path → server),
// so a hot file costs one tracker query or one HEAD per ttl, not one per request.
// Bounded (least recently used entries go first), TTL'd from when a value was learnt,
// and forgettable: the caller forgets a decision as soon as acting on it fails.
// Concurrent loads of one key share one upstream question.

export interface PathMemoOptions {
  /** How long a decision is trusted; 0 = remember nothing (loads are still shared). */
  ttlMs: number;
  /** At most this many decisions are kept. */
  maxEntries?: number;
  now?: () => number;
}

interface Remembered<V> {
  value: V;
  expiresAt: number;
}

export const DEFAULT_MEMO_ENTRIES = 10_000;

export class PathMemo<V> {
  private readonly entries = new Map<string, Remembered<V>>();
  private readonly loading = new Map<string, Promise<V>>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;

  constructor(o: PathMemoOptions) {
    this.ttlMs = Math.max(0, o.ttlMs);
    this.maxEntries = Math.max(1, o.maxEntries ?? DEFAULT_MEMO_ENTRIES);
    this.now = o.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The remembered value, or undefined when none (or it has expired). */
  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // Re-inserted so Map order is least-recently-used first: a hot key is never the one evicted.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  set(key: string, value: V): void {
    if (this.ttlMs === 0) return;
    this.entries.delete(key);
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** Drops a decision that turned out wrong (its path or server failed). True when one was there. */
  forget(key: string): boolean {
    return this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  /**
   * The remembered value, else `load()`'s, remembered when `keep` accepts it (a negative
   * or failed answer is not). Callers arriving while a load runs share it; a load that
   * throws is shared as a rejection and remembered by nobody.
   */
  load(key: string, load: () => Promise<V>, keep: (v: V) => boolean = () => true): Promise<V> {
    const known = this.get(key);
    if (known !== undefined) return Promise.resolve(known);
    const running = this.loading.get(key);
    if (running) return running;
    // Started on a later tick so the entry below is in place before the load can settle.
    const p: Promise<V> = Promise.resolve()
      .then(load)
      .then((v) => {
        if (keep(v)) this.set(key, v);
        return v;
      })
      .finally(() => {
        if (this.loading.get(key) === p) this.loading.delete(key);
      });
    this.loading.set(key, p);
    return p;
  }
}
