// The in-process hot tier in front of memcached. An entry is served from here for at most
// ttlMs after it was read from or written to memcached, so a PURGE or an update made
// elsewhere is seen everywhere within that bound; this process's PURGE deletes at once.
// Bounded in bytes, least recently used first out.
import type { Entry } from '../store/entry-codec.js';

interface Slot {
  entry: Entry;
  /** When it was read from or written to the shared store (ms). */
  at: number;
  size: number;
}

export class L1Cache {
  private readonly slots = new Map<string, Slot>();
  private bytes = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  get enabled(): boolean {
    return this.maxBytes > 0 && this.ttlMs > 0;
  }

  get(key: string): Entry | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (this.now() - slot.at > this.ttlMs) {
      this.drop(key, slot);
      return undefined;
    }
    // Map order is the LRU order: move to the young end.
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot.entry;
  }

  set(key: string, entry: Entry): void {
    if (!this.enabled) return;
    // A gzip entry also holds its inflated body once an identity client asked for it.
    // A chunked entry's index holds no body here: its chunks are read from memcached.
    const inflated = entry.gzip && !entry.chunks ? (entry.identityLength ?? entry.body.length * 4) : 0;
    const size = entry.body.length + inflated + 512;
    if (size > this.maxBytes / 4) return; // one object must not wash out the hot set
    const old = this.slots.get(key);
    if (old) this.drop(key, old);
    this.slots.set(key, { entry, at: this.now(), size });
    this.bytes += size;
    for (const [k, s] of this.slots) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(k, s);
    }
  }

  delete(key: string): boolean {
    const slot = this.slots.get(key);
    if (!slot) return false;
    this.drop(key, slot);
    return true;
  }

  clear(): void {
    this.slots.clear();
    this.bytes = 0;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.slots.size, bytes: this.bytes };
  }

  private drop(key: string, slot: Slot): void {
    this.slots.delete(key);
    this.bytes -= slot.size;
  }
}
