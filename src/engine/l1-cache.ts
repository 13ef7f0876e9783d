// The in-process hot tier in front of memcached. An entry is served from here for at most
// ttlMs after the read (or write) of memcached that produced it began, so a PURGE or an
// update made elsewhere is seen everywhere within that bound; this process's PURGE deletes at
// once. Bounded in bytes, least recently used first out.
//
// A hot entry is renewed before it runs out: the first hit past a point between 60% and 90%
// of its ttlMs (drawn per copy) asks the owner (CacheAccess) to check memcached again, once,
// in the background (asking for the item's CAS alone when the copy was read with one). Without it every hot key fell out of L1 once per ttlMs and all the requests
// arriving until memcached answered took the slow path together (measured: ~15% more CPU per
// hit and p99 up from 3 to 10+ ms). The point is drawn so that keys stored together are not
// renewed together: a burst of a hundred answers arriving at once stalls the event loop.
//
// A copy that runs out is not served, but stays held (in the LRU order and the byte budget)
// until it is evicted or replaced: when the next request reads the same bytes from
// memcached, that Entry comes back with what deliver.ts prepared for it (header lists, the
// serialised head, the inflated body), where a new decode would make them all again.
import type { Entry } from '../store/entry-codec.js';
import { identityCopyBytes } from './gzip-body.js';

interface Slot {
  entry: Entry;
  /** The stored bytes it was decoded from, when read from the store: an unchanged re-read keeps `entry`. */
  raw?: Buffer;
  /** The store's version of those bytes (memcached's CAS), when it told: a renewal then asks only for the version. */
  version?: string;
  /** When the store read or write it came from began (ms). */
  at: number;
  /** The first hit after this (ms) asks for a renewal. */
  renewAt: number;
  size: number;
  /** When it last moved to the young end of the LRU order (ms). */
  touched: number;
  /** A background re-read of it is under way. */
  renewing: boolean;
  /** Times get() served it: the owner hears of it once, at hotAfter (see onHot). */
  hits: number;
}

/** Taken before a store read; the read's result is kept only if nothing was deleted meanwhile. */
export interface L1Ticket {
  at: number;
  deletes: number;
}

const TOUCH_MS = 100;
/** Renewal is asked for past RENEW_FROM .. RENEW_FROM + RENEW_SPREAD of ttlMs. */
const RENEW_FROM = 0.6;
const RENEW_SPREAD = 0.3;

export class L1Cache {
  private readonly slots = new Map<string, Slot>();
  private bytes = 0;
  /** Counts delete() and clear(): a read that began before one may hold what it removed. */
  private deletes = 0;
  /** Set by the owner: re-read this key from the store and set() it (or delete() it when gone). */
  onRenew?: (key: string) => void;
  /**
   * Set by the owner: this copy was served hotAfter times (0: never told). Returns false when
   * the owner cannot take it up now; the count then starts again.
   */
  onHot?: (key: string) => boolean;
  hotAfter = 0;

  constructor(
    private readonly maxBytes: number,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly random: () => number = Math.random,
  ) {}

  private renewPoint(at: number): number {
    return at + this.ttlMs * (RENEW_FROM + RENEW_SPREAD * this.random());
  }

  /** What it holds now (memfront_l1_bytes, memfront_l1_entries). */
  status(): { bytes: number; entries: number } {
    return { bytes: this.bytes, entries: this.slots.size };
  }

  get enabled(): boolean {
    return this.maxBytes > 0 && this.ttlMs > 0;
  }

  /** `now`: the caller's reading of the same clock, when it has one (the hit path does). */
  get(key: string, now?: number): Entry | undefined {
    const slot = this.slots.get(key);
    if (!slot) return undefined;
    now ??= this.now();
    // Run out: not served, but kept for a read of the same bytes (see the top of this file).
    if (now - slot.at > this.ttlMs) return undefined;
    if (now >= slot.renewAt && !slot.renewing && this.onRenew) {
      slot.renewing = true;
      this.onRenew(key);
    }
    // Map order is the LRU order: move to the young end, at most every TOUCH_MS per entry
    // (a hot entry would otherwise be moved on every hit).
    if (now - slot.touched >= TOUCH_MS) this.touch(key, slot, now);
    if (++slot.hits === this.hotAfter && this.onHot && !this.onHot(key)) slot.hits = 0;
    return slot.entry;
  }

  ticket(): L1Ticket {
    return { at: this.now(), deletes: this.deletes };
  }

  /**
   * Keeps an entry. With a ticket (a store read), `at` is when the read began, and nothing is
   * kept if a delete or clear happened since: the read may have returned what it removed.
   */
  set(key: string, entry: Entry, raw?: Buffer, ticket?: L1Ticket, version?: string): void {
    if (!this.enabled) return;
    if (ticket && ticket.deletes !== this.deletes) return;
    const size = heldBytes(entry, raw);
    if (size > this.maxBytes / 4) return; // one object must not wash out the hot set
    const old = this.slots.get(key);
    if (old) this.drop(key, old);
    const now = this.now();
    const at = ticket?.at ?? now;
    this.slots.set(key, { entry, raw, version, at, renewAt: this.renewPoint(at), size, touched: now, renewing: false, hits: 0 });
    this.bytes += size;
    for (const [k, s] of this.slots) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(k, s);
    }
  }

  /**
   * A re-read found the held entry unchanged: it is served for another ttlMs from the read's
   * start, keeping its slot and bytes (no new objects to age into the old generation).
   * False when it is no longer held or a delete overtook the read.
   */
  refresh(key: string, ticket: L1Ticket, version?: string): boolean {
    const slot = this.slots.get(key);
    if (!slot || ticket.deletes !== this.deletes) return false;
    if (version !== undefined) slot.version = version;
    slot.at = ticket.at;
    slot.renewAt = this.renewPoint(ticket.at);
    slot.renewing = false;
    // A copy that had run out comes back from wherever the LRU order had left it.
    this.touch(key, slot, this.now());
    return true;
  }

  /** The store's version of the bytes this very entry was set with (a write's own): renewals then ask for the version alone. */
  stamp(key: string, entry: Entry, version: string): void {
    const slot = this.slots.get(key);
    if (slot?.entry === entry) slot.version = version;
  }

  /**
   * Holds `next` in place of `entry`, read or written as `raw` at `version`, without a new
   * slot: it is the same response in other bytes, so it keeps the slot's time, its place in
   * the LRU order and its count. False (nothing changed) when the slot no longer holds `entry`.
   */
  replace(key: string, entry: Entry, next: Entry, raw: Buffer, version: string | undefined): boolean {
    const slot = this.slots.get(key);
    if (slot?.entry !== entry) return false;
    const size = heldBytes(next, raw);
    this.bytes += size - slot.size;
    slot.entry = next;
    slot.raw = raw;
    slot.version = version;
    slot.size = size;
    return true;
  }

  /** The entry held for this key (run out or not) when it was decoded from exactly these bytes: refresh() serves it again. */
  unchanged(key: string, raw: Buffer): Entry | undefined {
    const slot = this.slots.get(key);
    return slot?.raw !== undefined && slot.raw.equals(raw) ? slot.entry : undefined;
  }

  /** This very entry object is the one held for the key (no LRU move, no renewal). */
  holds(key: string, entry: Entry): boolean {
    return this.slots.get(key)?.entry === entry;
  }

  /** The held entry and the store version it was read at, when the store gave one. */
  versioned(key: string): { entry: Entry; version: string } | undefined {
    const slot = this.slots.get(key);
    return slot?.version === undefined ? undefined : { entry: slot.entry, version: slot.version };
  }

  /** A renewal could not read the store: the entry runs out at its time, and the next hit may try again. */
  renewFailed(key: string): void {
    const slot = this.slots.get(key);
    if (slot) slot.renewing = false;
  }

  delete(key: string): boolean {
    this.deletes++;
    const slot = this.slots.get(key);
    if (!slot) return false;
    this.drop(key, slot);
    return true;
  }

  clear(): void {
    this.deletes++;
    this.slots.clear();
    this.bytes = 0;
  }

  get size(): { entries: number; bytes: number } {
    return { entries: this.slots.size, bytes: this.bytes };
  }

  /** To the young end of the LRU order (Map order). */
  private touch(key: string, slot: Slot, now: number): void {
    slot.touched = now;
    this.slots.delete(key);
    this.slots.set(key, slot);
  }

  private drop(key: string, slot: Slot): void {
    this.slots.delete(key);
    this.bytes -= slot.size;
  }
}

/** Per-slot bookkeeping (the entry object, its header lists, the key): a flat guess. */
const SLOT_OVERHEAD = 512;

/**
 * What holding an entry costs, counted as it is rather than guessed (contract: "L1 counts the
 * bytes it really holds"): the stored bytes it was read from or written as, its body when
 * that is not a view into them, and the inflated copy a gzip body gets once an identity client
 * asks (gzip-body.ts: its exact length, recorded when it was stored; none for bodies too large
 * to keep one). A chunked entry's index holds no body here: its chunks are read from memcached.
 */
export function heldBytes(entry: Entry, raw?: Buffer): number {
  const body = entry.body;
  const bodyInRaw =
    raw !== undefined &&
    body.buffer === raw.buffer &&
    body.byteOffset >= raw.byteOffset &&
    body.byteOffset + body.length <= raw.byteOffset + raw.length;
  return (raw?.length ?? 0) + (bodyInRaw ? 0 : body.length) + identityCopyBytes(entry) + SLOT_OVERHEAD;
}
