// The one deliberate place where cache failures are swallowed: every store error is
// counted, logged with its cause, and becomes a miss (or a skipped write). Cache trouble
// is never the user's trouble.
import type { Logger } from 'pino';
import type { CacheStore } from '../store/cache-store.js';
import { decodeEntry, encodeEntry, type Entry } from '../store/entry-codec.js';
import type { Metrics } from '../admin/metrics.js';
import type { L1Cache } from './l1-cache.js';

export type Lookup =
  | { kind: 'found'; entry: Entry; size: number }
  | { kind: 'absent' }
  | { kind: 'corrupt' }
  | { kind: 'error' };

export class CacheAccess {
  constructor(
    private readonly store: CacheStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The in-process hot tier; entries in it were read from or written to the store within its ttlMs. */
    private readonly l1?: L1Cache,
  ) {}

  async lookup(key: string): Promise<Lookup> {
    const hot = this.l1?.get(key);
    if (hot) return { kind: 'found', entry: hot, size: hot.body.length };
    let value: Buffer | null;
    try {
      value = await this.store.get(key);
    } catch (err) {
      this.failed('get', err);
      return { kind: 'error' };
    }
    if (value === null) return { kind: 'absent' };
    const entry = decodeEntry(value);
    if (!entry) {
      this.metrics.cacheErrors.inc({ op: 'get', code: 'MF_ENTRY_CORRUPT' });
      this.logger.warn({ key }, 'unreadable cache entry treated as a miss');
      return { kind: 'corrupt' };
    }
    this.l1?.set(key, entry);
    return { kind: 'found', entry, size: value.length };
  }

  /** Writes the entry; resolves false when it was not stored (refused or failed). */
  async save(key: string, entry: Entry, exptimeSeconds: number): Promise<boolean> {
    const value = encodeEntry(entry);
    // In L1 from the start of the write, so the next request in this process is a hit
    // even before memcached has answered; out again if the write did not happen.
    this.l1?.set(key, entry);
    try {
      const ok = await this.store.set(key, value, exptimeSeconds);
      if (!ok) this.l1?.delete(key);
      if (ok) {
        this.metrics.stores.inc();
        this.metrics.storedBytes.observe(value.length);
      } else {
        this.metrics.notStored.inc({ reason: 'refused' });
      }
      return ok;
    } catch (err) {
      this.l1?.delete(key);
      this.failed('set', err);
      return false;
    }
  }

  async remove(key: string): Promise<boolean | 'error'> {
    // PURGE clears this process's copy at once; other processes' copies age out within ttlMs.
    const hadHot = this.l1?.delete(key) ?? false;
    try {
      return (await this.store.delete(key)) || hadHot;
    } catch (err) {
      this.failed('delete', err);
      return 'error';
    }
  }

  async add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'> {
    try {
      return await this.store.add(key, value, ttlSeconds);
    } catch (err) {
      this.failed('add', err);
      return 'error';
    }
  }

  async setRaw(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'> {
    try {
      return await this.store.set(key, value, ttlSeconds);
    } catch (err) {
      this.failed('set', err);
      return 'error';
    }
  }

  async getRaw(key: string): Promise<Buffer | null | 'error'> {
    try {
      return await this.store.get(key);
    } catch (err) {
      this.failed('get', err);
      return 'error';
    }
  }

  async incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number | 'error'> {
    try {
      return await this.store.incr(key, by, initial, ttlSeconds);
    } catch (err) {
      this.failed('incr', err);
      return 'error';
    }
  }

  status() {
    return this.store.status();
  }

  private failed(op: string, err: unknown): void {
    const code = (err as { code?: string })?.code ?? 'UNKNOWN';
    this.metrics.cacheErrors.inc({ op, code });
    this.logger.warn({ err, op }, 'cache operation failed; treated as a miss');
  }
}
