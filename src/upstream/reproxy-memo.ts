// X-Reproxy-Cache-For's memory: for a Host+URI, the URL list (and the headers) a backend
// gave, so later requests go to the file servers without asking the backend (as Perlbal's
// reproxy cache). In-process, bounded by entries and by bytes, least recently used first out.

export interface Remembered {
  /** The URL list as the backend sent it (checked again each time it is used). */
  urls: string[];
  /** The backend's headers laid over the target's answer (rawHeaders layout). */
  headers: string[];
  /** Lower-cased names of the headers taken from `headers` (preserved or named), even when absent. */
  names: string[];
  expectedSize?: number;
}

interface Slot extends Remembered {
  expiresAt: number;
  bytes: number;
}

export interface MemoLimits {
  maxEntries: number;
  maxBytes: number;
  /** Upper bound on any entry's lifetime (seconds): cache.maxTtl. */
  maxSeconds: number;
}

export class ReproxyMemo {
  // A Map iterates in insertion order: re-inserting on use keeps the oldest-used first.
  private readonly slots = new Map<string, Slot>();
  private bytes = 0;

  constructor(private readonly limits: MemoLimits, private readonly now: () => number = Date.now) {}

  get(key: string): Remembered | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    if (slot.expiresAt <= this.now()) {
      this.forget(key);
      return undefined;
    }
    this.slots.delete(key);
    this.slots.set(key, slot);
    return slot;
  }

  set(key: string, value: Remembered, seconds: number): void {
    this.forget(key);
    const bytes = key.length + value.urls.reduce((n, u) => n + u.length, 0) + value.headers.reduce((n, h) => n + h.length, 0) + value.names.reduce((n, h) => n + h.length, 0) + 64;
    if (bytes > this.limits.maxBytes) return;
    const ttl = Math.min(seconds, this.limits.maxSeconds);
    if (ttl <= 0) return;
    this.slots.set(key, { ...value, expiresAt: this.now() + ttl * 1000, bytes });
    this.bytes += bytes;
    for (const [oldest] of this.slots) {
      if (this.slots.size <= this.limits.maxEntries && this.bytes <= this.limits.maxBytes) break;
      this.forget(oldest);
    }
  }

  /** A remembered list that no longer works is dropped, so the backend is asked again. */
  forget(key: string): void {
    const slot = this.slots.get(key);
    if (!slot) return;
    this.slots.delete(key);
    this.bytes -= slot.bytes;
  }

  get size(): number {
    return this.slots.size;
  }
}
