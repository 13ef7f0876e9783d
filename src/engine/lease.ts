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
//
// Where the store gives the version (memcached's CAS) of what `add` stored, the holder renews
// and releases by that version, each in one step: a conditional set, a conditional delete.
// Read-then-write in two steps has a gap in which a PURGE can drop the lease and another
// process take it: a renewal that way brought a dropped lease back (and with it leave to
// store a page the PURGE was meant to remove), a release deleted the newcomer's. Without a
// version (the text protocol) a renewal is a `touch`, which brings nothing back, and the
// release still reads, then deletes. The version also tells, at release, whether the lease
// was still ours all along: when not, a PURGE may have come between the last check and the
// store, and the caller takes the entry back out (leased-fetch.ts).

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

/** The few cache operations a lease needs; CacheAccess provides them, failures as 'error'. */
export interface LeaseStore {
  add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'>;
  getRaw(key: string): Promise<Buffer | null | 'error'>;
  setRaw(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'>;
  remove(key: string): Promise<boolean | 'error'>;
  /** add, with the version it gave the key (undefined: the store cannot tell). */
  addVersioned?(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false | 'error'>;
  /** set only while the key is at `version`. */
  setIfVersion?(key: string, value: Buffer, ttlSeconds: number, version: string): Promise<{ version: string | undefined } | 'changed' | false | 'error'>;
  /** delete only while the key is at `version`. */
  removeIfVersion?(key: string, version: string): Promise<'deleted' | 'changed' | 'error'>;
  /** A new expiry for the key, only while it is there. */
  touch(key: string, ttlSeconds: number): Promise<boolean | 'error'>;
}

/** How a lease ended: 'lost' when it was not ours at the end (dropped by a PURGE, or expired and taken). */
export type Released = 'released' | 'lost' | 'unknown';

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
      const added = this.store.addVersioned ? await this.store.addVersioned(lk, token, this.ttl) : await this.store.add(lk, token, this.ttl);
      if (added === 'error') return { kind: 'unavailable' };
      if (added) {
        const version = added === true ? undefined : added.version;
        return { kind: 'acquired', lease: new Lease(this.store, lk, token, this.ttl, this.renewMs, version) };
      }
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
  /** A renewal under way: release and pass wait for it, as it moves the version they go by. */
  private renewing: Promise<void> | undefined;

  constructor(
    private readonly store: LeaseStore,
    private readonly key: string,
    private readonly token: Buffer,
    private readonly ttl: number,
    renewMs: number,
    /** The store's version of our lease item, when it gives one: renewal and release go by it. */
    private version?: string,
  ) {
    this.timer = setInterval(() => {
      this.renewing ??= this.renew().finally(() => (this.renewing = undefined));
    }, renewMs);
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

  /**
   * The fetch is over (stored or failed): others may look at the cache now. Says whether the
   * lease was still ours: 'lost' when a PURGE dropped it (or it expired and was taken) since.
   */
  async release(): Promise<Released> {
    if (!this.end()) return 'unknown';
    await this.renewing;
    if (this.lost) return 'lost';
    if (this.version !== undefined && this.store.removeIfVersion) {
      const removed = await this.store.removeIfVersion(this.key, this.version);
      if (removed === 'error') return 'unknown';
      return removed === 'deleted' ? 'released' : this.lose();
    }
    const now = await this.store.getRaw(this.key);
    if (now === 'error') return 'unknown';
    // Only our own lease: one dropped by a PURGE may have been taken by another since.
    if (now === null || !now.equals(this.token)) return this.lose();
    await this.store.remove(this.key);
    return 'released';
  }

  /** The answer may not be shared: leave a pass marker so nobody waits for it. */
  async pass(): Promise<void> {
    if (!this.end()) return;
    await this.renewing;
    if (this.lost) return;
    // In place of our own lease only: a PURGE meanwhile left nothing to mark.
    if (this.version !== undefined && this.store.setIfVersion) await this.store.setIfVersion(this.key, Buffer.from(PASS), this.ttl, this.version);
    else await this.store.setRaw(this.key, Buffer.from(PASS), this.ttl);
  }

  private lose(): 'lost' {
    this.lost = true;
    return 'lost';
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
    if (this.version !== undefined && this.store.setIfVersion) {
      // One step: a lease a PURGE dropped is not brought back.
      const renewed = await this.store.setIfVersion(this.key, this.token, this.ttl, this.version);
      if (renewed === 'changed') this.lost = true;
      else if (renewed !== 'error' && renewed !== false) this.version = renewed.version;
      return;
    }
    // Without a version (the text protocol): a new expiry for whatever is there, which never
    // brings back a lease a PURGE dropped. If another process has taken it since, this extends
    // theirs, and held() or release tells us it is not ours.
    if ((await this.store.touch(this.key, this.ttl)) === false) this.lost = true;
  }
}
