// Coalescing across processes and instances: before going to the backend for a key, a
// process takes a short lease on it in memcached with `add` (which only one caller can win).
// The others do not go to the backend: they watch the lease and read the entry once it is
// released. The holder renews the lease while its fetch runs, so a slow page keeps it, and
// a holder that dies stops renewing: the lease expires within LEASE_TTL_SECONDS and someone
// else fetches.
//
// A fetch whose answer may not be shared (Set-Cookie, private, …) leaves a "pass" marker in
// the lease's place for a few seconds (Varnish's hit-for-miss): requests for the key then go
// to the backend at once, side by side, instead of queueing behind each other for nothing.
//
// Memcached trouble never holds a request up here: any failure reads as "no lease to be had"
// and the caller fetches on its own (the in-process single-flight still bounds that).

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** The few cache operations a lease needs; CacheAccess provides them, failures as 'error'. */
export interface LeaseStore {
  add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'>;
  getRaw(key: string): Promise<Buffer | null | 'error'>;
  setRaw(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'>;
  remove(key: string): Promise<boolean | 'error'>;
}

/** Memcached counts expiry in whole seconds: a lease lasts between TTL-1 and TTL seconds. */
export const LEASE_TTL_SECONDS = 3;
/** How often a holder renews its lease (well inside the TTL). */
const RENEW_MS = 1000;
/** How often a process without the lease looks at it. */
const POLL_MS = 20;
const PASS = 'P';

/** Under the entry's own key, hence under cache.memcached.keyPrefix. */
export function leaseKey(key: string): string {
  return `${key}:lease`;
}

export type Acquired =
  | { kind: 'acquired'; lease: Lease }
  /** Someone else is fetching this key: wait for it. */
  | { kind: 'busy' }
  /** The last answer for this key was not shareable: fetch on your own, do not wait. */
  | { kind: 'pass' }
  /** No lease to be had (memcached down or refusing): fetch on your own. */
  | { kind: 'unavailable' };

export type Waited = 'released' | 'pass' | 'timeout';

export class Leases {
  private readonly ttl: number;
  private readonly pollMs: number;
  private readonly renewMs: number;

  constructor(
    private readonly store: LeaseStore,
    o: { ttlSeconds?: number; pollMs?: number; renewMs?: number } = {},
  ) {
    this.ttl = o.ttlSeconds ?? LEASE_TTL_SECONDS;
    this.pollMs = o.pollMs ?? POLL_MS;
    this.renewMs = o.renewMs ?? RENEW_MS;
  }

  async acquire(key: string): Promise<Acquired> {
    const lk = leaseKey(key);
    const token = Buffer.from(`L${randomBytes(8).toString('hex')}`);
    for (let attempt = 0; attempt < 2; attempt++) {
      const added = await this.store.add(lk, token, this.ttl);
      if (added === 'error') return { kind: 'unavailable' };
      if (added) return { kind: 'acquired', lease: new Lease(this.store, lk, token, this.ttl, this.renewMs) };
      const held = await this.store.getRaw(lk);
      if (held === 'error') return { kind: 'unavailable' };
      if (held !== null) return held.toString('latin1') === PASS ? { kind: 'pass' } : { kind: 'busy' };
      // Released between our add and our get: one more try.
    }
    // add refused although nothing is there (memcached out of memory): no lease to be had.
    return { kind: 'unavailable' };
  }

  /**
   * Waits until the lease on `key` is released (or expires), or turns into a pass marker,
   * polling every pollMs; gives up at `deadline` (ms since epoch). A cache failure ends the
   * wait as 'released': the caller looks at the cache and decides again.
   */
  async waitRelease(key: string, deadline: number): Promise<Waited> {
    const lk = leaseKey(key);
    while (Date.now() < deadline) {
      await sleep(Math.min(this.pollMs, Math.max(1, deadline - Date.now())));
      const held = await this.store.getRaw(lk);
      if (held === 'error' || held === null) return 'released';
      if (held.toString('latin1') === PASS) return 'pass';
    }
    return 'timeout';
  }

  /** PURGE: a fetch begun before the purge loses its lease, so it will not store its answer. */
  async drop(key: string): Promise<void> {
    await this.store.remove(leaseKey(key));
  }
}

export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private lost = false;
  private ended = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly key: string,
    private readonly token: Buffer,
    private readonly ttl: number,
    renewMs: number,
  ) {
    this.timer = setInterval(() => void this.renew(), renewMs);
    // A lease must never keep a finished process alive.
    this.timer.unref();
  }

  /**
   * Still ours? False when it was dropped by a PURGE (or expired and was taken by another):
   * then our answer predates that and must not be stored. A cache failure says yes: the
   * store it guards would fail too, or succeed as it would have without leases.
   */
  async held(): Promise<boolean> {
    if (this.lost) return false;
    const now = await this.store.getRaw(this.key);
    if (now === 'error') return true;
    if (now === null || !now.equals(this.token)) this.lost = true;
    return !this.lost;
  }

  /** The fetch is over (stored or failed): others may look at the cache now. */
  async release(): Promise<void> {
    if (!this.end()) return;
    if (this.lost) return;
    const now = await this.store.getRaw(this.key);
    // Only our own lease: one dropped by a PURGE may have been taken by another since.
    if (now !== 'error' && now !== null && now.equals(this.token)) await this.store.remove(this.key);
  }

  /** The answer may not be shared: leave a pass marker so nobody waits for it. */
  async pass(): Promise<void> {
    if (!this.end()) return;
    if (this.lost) return;
    await this.store.setRaw(this.key, Buffer.from(PASS), this.ttl);
  }

  private end(): boolean {
    if (this.ended) return false;
    this.ended = true;
    clearInterval(this.timer);
    this.timer = undefined;
    return true;
  }

  private async renew(): Promise<void> {
    if (this.ended || this.lost) return;
    // Renewed only while still ours: a set would bring back a lease a PURGE dropped.
    if (!(await this.held()) || this.ended) return;
    await this.store.setRaw(this.key, this.token, this.ttl);
  }
}
