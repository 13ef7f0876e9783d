// The embedded store (cache.store = "memory"): one process, no memcached. An LRU bounded
// by bytes that behaves like memcached wherever the engine can tell the difference
// (expiry, add, incr, refusing what does not fit), so the shared store suite holds for both.

import { CacheError } from '../errors.js';
import type { CacheStore, StoreServerStatus, Versioned } from './cache-store.js';

export interface MemoryStoreOptions {
  /** Bound on the bytes held (values plus keys); the least recently used go first. */
  maxBytes: number;
  /** Clock in ms; tests pass a fake one to step past TTLs. */
  now?: () => number;
}

const MAX_COUNTER = 0xffffffff;

function isCounter(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_COUNTER;
}

interface Item {
  value: Buffer;
  /** Absolute ms; 0 = never. */
  expiresAt: number;
  cost: number;
  /** As memcached's CAS: a new number on every write. */
  cas: number;
}

export class MemoryStore implements CacheStore {
  private readonly maxBytes: number;
  private readonly now: () => number;
  // A Map iterates in insertion order: re-inserting on use keeps the oldest first.
  private readonly items = new Map<string, Item>();
  private bytes = 0;
  private lastCas = 0;

  constructor(options: MemoryStoreOptions) {
    this.maxBytes = options.maxBytes;
    this.now = options.now ?? Date.now;
  }

  async get(key: string): Promise<Buffer | null> {
    const item = this.live(key);
    if (!item) return null;
    this.items.delete(key);
    this.items.set(key, item);
    return item.value;
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    const value = await this.get(key);
    return value === null ? null : { value, version: String(this.items.get(key)!.cas) };
  }

  async version(key: string): Promise<string | null | undefined> {
    const item = this.live(key);
    return item ? String(item.cas) : null;
  }

  /** Whether each key is held (it evicts items one by one too, chunks among them). */
  async present(keys: readonly string[]): Promise<boolean[]> {
    return keys.map((key) => this.live(key) !== undefined);
  }

  async set(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    return this.put(key, value, ttlSeconds);
  }

  async setVersioned(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false> {
    return this.put(key, value, ttlSeconds) && { version: String(this.items.get(key)!.cas) };
  }

  async setIfVersion(key: string, value: Buffer, ttlSeconds: number, version: string): Promise<{ version: string | undefined } | 'changed' | false> {
    const item = this.live(key);
    if (!item || String(item.cas) !== version) return 'changed';
    return this.setVersioned(key, value, ttlSeconds);
  }

  async add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (this.live(key)) return false;
    return this.put(key, value, ttlSeconds);
  }

  async addVersioned(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false> {
    return (await this.add(key, value, ttlSeconds)) && { version: String(this.items.get(key)!.cas) };
  }

  async deleteIfVersion(key: string, version: string): Promise<'deleted' | 'changed'> {
    const item = this.live(key);
    if (!item || String(item.cas) !== version) return 'changed';
    this.remove(key);
    return 'deleted';
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    const item = this.live(key);
    if (!item) return false;
    item.expiresAt = ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0;
    return true;
  }

  async delete(key: string): Promise<boolean> {
    const existed = this.live(key) !== undefined;
    this.remove(key);
    return existed;
  }

  async incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number> {
    // The memcached store's limit (memjs sends 32-bit words), kept here so code that works
    // on one store works on the other.
    if (!isCounter(by) || !isCounter(initial)) {
      throw new CacheError('MF_CACHE_UNAVAILABLE', `incr needs integers in 0..${MAX_COUNTER} (by ${by}, initial ${initial})`);
    }
    const item = this.live(key);
    // As memcached's binary incr: an absent counter is created at `initial` (not initial+by),
    // and the TTL applies only on creation.
    if (!item) {
      this.put(key, Buffer.from(String(initial)), ttlSeconds);
      return initial;
    }
    const text = item.value.toString('latin1');
    if (!/^\d+$/.test(text)) {
      throw new CacheError('MF_CACHE_UNAVAILABLE', `incr on non-numeric value at ${key}`);
    }
    const next = Number(text) + by;
    const value = Buffer.from(String(next));
    this.bytes += value.length - item.value.length;
    item.cost += value.length - item.value.length;
    item.value = value;
    item.cas = ++this.lastCas;
    this.items.delete(key);
    this.items.set(key, item);
    this.evict();
    return next;
  }

  status(): StoreServerStatus[] {
    return [{ server: 'memory', up: true }];
  }

  usable(): boolean {
    return true;
  }

  async close(): Promise<void> {
    this.items.clear();
    this.bytes = 0;
  }

  /** The item, unless absent or expired (expired ones are dropped on sight). */
  private live(key: string): Item | undefined {
    const item = this.items.get(key);
    if (item && item.expiresAt !== 0 && item.expiresAt <= this.now()) {
      this.remove(key);
      return undefined;
    }
    return item;
  }

  private put(key: string, value: Buffer, ttlSeconds: number): boolean {
    const cost = value.length + key.length;
    // Storing it would evict everything and still not fit: refuse, as memcached refuses
    // an item over its size limit, and keep what is there.
    if (cost > this.maxBytes) return false;
    this.remove(key);
    // A copy, so a caller reusing its buffer cannot change what is cached. What get()
    // returns is the cached buffer itself, as memcached's store returns the socket's bytes.
    value = Buffer.from(value);
    this.items.set(key, { value, expiresAt: ttlSeconds > 0 ? this.now() + ttlSeconds * 1000 : 0, cost, cas: ++this.lastCas });
    this.bytes += cost;
    this.evict();
    return true;
  }

  private remove(key: string): void {
    const item = this.items.get(key);
    if (!item) return;
    this.items.delete(key);
    this.bytes -= item.cost;
  }

  private evict(): void {
    for (const key of this.items.keys()) {
      if (this.bytes <= this.maxBytes) return;
      this.remove(key);
    }
  }
}
