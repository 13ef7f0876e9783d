// The one deliberate place where cache failures are swallowed: every store error is
// counted, logged with its cause, and becomes a miss (or a skipped write). Cache trouble
// is never the user's trouble.
//
// Also where an entry becomes items and items become an entry again:
// - an entry larger than one item is written as chunks, then an index item naming them
//   (chunked-entry.ts), only once its whole body is here; read back, the index comes with a
//   reader that checks each chunk, and a missing or damaged one deletes the index;
// - an entry records the generation counters it depends on (tags.ts) and is a miss once any
//   of them moved: tag purge and purge-all.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { CacheStore } from '../store/cache-store.js';
import { chunkIntact, chunkKey, chunkCount, chunkSizeFor, planChunks, type ChunkIndex } from '../store/chunked-entry.js';
import { decodeEntry, encodeEntry, entryOf, isNewerEntry, isOlderEntry, type Entry } from '../store/entry-codec.js';
import { decodeIndex, isIndex, type VariantIndex } from '../policy/vary.js';
import type { Metrics } from '../admin/metrics.js';
import type { L1Cache, L1Ticket } from './l1-cache.js';
import { checkChunksWith, EntryGone } from './chunks.js';
import { Generations } from './tags.js';
import { HotGzip, type HotGzipOptions } from './hot-gzip.js';

export type Lookup =
  /** `l1`: the in-process copy answered (memfront_cache_hits_total's tier). */
  | { kind: 'found'; entry: Entry; size: number; l1?: boolean }
  | { kind: 'absent' }
  /** It was there, but a tag or Host it depends on was purged since: a miss, never stale. */
  | { kind: 'invalidated' }
  /** The URL varies: its key holds the index of its variants (vary.ts), each under its own key. */
  | { kind: 'variants'; index: VariantIndex }
  | { kind: 'corrupt' }
  | { kind: 'error' };

export interface CacheAccessOptions {
  /** cache.memcached.maxItemSize: larger entries are written in chunks. Default 1 MiB. */
  maxItemSize?: number;
  /**
   * How long generation counters read from the cache may be reused in-process: the L1 tier's
   * ttlMs when it is on (the contract's bound for other processes), else 0. Default 0.
   */
  generationCacheMs?: number;
  /** Gzip pages again, harder, once L1 served them this often (hot-gzip.ts); absent: never. */
  hotGzip?: Omit<HotGzipOptions, 'done' | 'error'> & { hits: number };
}

/** Variant indexes remembered in-process (see hotIndex). */
const MAX_HOT_INDEXES = 10_000;
/** Entries whose counters are remembered, to read them alongside the entry (see lookup). */
const MAX_COUNTER_HINTS = 10_000;
/** Chunks outlive their index by this much, so an index never outlives its chunks. */
const CHUNK_GRACE_SECONDS = 60;
/** Chunk writes under way at once for one entry. */
const CHUNK_WRITE_CONCURRENCY = 4;
const EMPTY = Buffer.alloc(0);
/** At most one log line per kind of cache failure in this long. */
const FAILURE_LOG_MS = 1000;

export class CacheAccess {
  private readonly maxItemSize: number;
  private readonly generations: Generations;
  /** The counters each recently read entry recorded: a URL's tags rarely change between reads. */
  private readonly counterHints = new Map<string, string[]>();
  /**
   * Variant indexes read within the L1 tier's ttlMs (vary.ts): with L1 on, a varying URL's
   * hit needs no memcached read at all, as a plain one's. Same bound as L1 itself: this
   * process's purges drop them at once, other processes' are seen within ttlMs.
   */
  private readonly hotIndexes = new Map<string, { index: VariantIndex; until: number }>();
  private readonly indexMs: number;
  /** When each kind of failure (operation and code) was last logged, and how many since were not. */
  private readonly failureLog = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly store: CacheStore,
    private readonly metrics: Metrics,
    private readonly logger: Logger,
    /** The in-process hot tier; entries in it were read from or written to the store within its ttlMs. */
    private readonly l1?: L1Cache,
    opts: CacheAccessOptions = {},
  ) {
    this.maxItemSize = opts.maxItemSize ?? 1024 * 1024;
    this.generations = new Generations(this, opts.generationCacheMs ?? 0);
    this.indexMs = l1 ? (opts.generationCacheMs ?? 0) : 0;
    if (l1) l1.onRenew = (key) => void this.renew(key).catch((err) => this.logger.error({ err, key }, 'L1 renewal failed inside memfront'));
    // Only a store that writes conditionally can take the new bytes without undoing a purge.
    const hot = opts.hotGzip;
    if (l1 && hot && hot.hits > 0 && store.setIfVersion) {
      const regzip = new HotGzip(this, {
        ...hot,
        done: (result, saved) => {
          metrics.hotGzip.inc({ result });
          if (saved > 0) metrics.hotGzipSaved.inc(saved);
        },
        error: (err) => logger.error({ err }, 'gzipping a hot page again failed inside memfront'),
      });
      l1.hotAfter = hot.hits;
      l1.onHot = (key) => regzip.take(key);
    }
  }

  /** False while the store has no server in use (answers are then not worth compressing for it). */
  usable(): boolean {
    return this.store.usable();
  }

  /** The in-process copy of the entry, when there is one: no I/O, so the hit path need not wait. */
  hot(key: string, now?: number): Entry | undefined {
    return this.l1?.get(key, now);
  }

  async lookup(key: string): Promise<Lookup> {
    // L1 copies are not checked against the counters: this process's purges clear L1, and
    // other processes' are seen within its ttlMs, as for a path PURGE.
    const hot = this.l1?.get(key);
    if (hot) return { kind: 'found', entry: hot, size: hot.body.length, l1: true };
    const index = this.hotIndex(key);
    if (index) return { kind: 'variants', index };
    return this.read(key);
  }

  /** The store's answer for the key (kept in L1 when found). `byVersion`: an L1 copy that ran out may be checked by its version first. */
  private async read(key: string, byVersion = true): Promise<Lookup> {
    const ticket = this.l1?.ticket();
    // The counters the entry recorded last time are read alongside it (on its own memcached
    // server: one round trip for both), not after it.
    const hint = this.counterHints.get(key);
    const early = hint ? this.generations.read(hint) : undefined;
    const held = byVersion && this.l1 && this.store.version ? this.l1.versioned(key) : undefined;
    if (held) {
      const revived = await this.revive(key, held, ticket!, early, hint);
      if (revived) return revived;
    }
    let value: Buffer | null;
    let version: string | undefined;
    try {
      // With its version when it goes to L1, so that its renewal can ask for that alone.
      if (this.l1 && this.store.getVersioned) {
        const found = await this.store.getVersioned(key);
        value = found?.value ?? null;
        version = found?.version;
      } else {
        value = await this.store.get(key);
      }
    } catch (err) {
      this.failed('get', err);
      return { kind: 'error' };
    }
    if (value === null) return { kind: 'absent' };
    // The same bytes as the L1 copy: its Entry is kept, and with it what deliver.ts prepared
    // for it (header lists, the inflated body).
    const same = this.l1?.unchanged(key, value);
    let entry = same ?? decodeEntry(value);
    if (!entry && isIndex(value)) {
      const index = decodeIndex(value);
      if (index) {
        this.rememberIndex(key, index);
        return { kind: 'variants', index };
      }
    }
    if (!entry) {
      // Another version's (a deploy under way): a miss, and not ours to delete.
      if (isOlderEntry(value) || isNewerEntry(value)) return { kind: 'absent' };
      this.metrics.cacheErrors.inc({ op: 'get', code: 'MF_ENTRY_CORRUPT' });
      this.logger.warn({ key }, 'unreadable cache entry treated as a miss');
      // Contract: an unreadable entry "is deleted and fetched again": deleted now, so that an
      // answer that may not be stored does not leave it in place for the next visitor.
      // Awaited: the fetch that follows must not race its own store against this delete.
      await this.deleteQuietly(key);
      return { kind: 'corrupt' };
    }
    if (entry.tags) {
      const current = await this.generations.current(entry.tags, early ? await early : undefined);
      this.hintCounters(key, entry.tags, hint);
      if (current === 'error') return { kind: 'error' };
      if (!current) return { kind: 'invalidated' };
    }
    if (same) this.l1!.refresh(key, ticket!, version);
    else {
      if (entry.chunks) entry = this.withReader(key, entry);
      this.discardable(key, entry);
      this.l1?.set(key, entry, value, ticket, version);
    }
    return { kind: 'found', entry, size: value.length };
  }

  /**
   * A copy L1 holds but no longer serves (its ttlMs ran out with no hit to renew it: a page
   * asked for less often than that), read at a version the store can name: the version alone
   * is asked for, as a renewal does, and an unchanged entry is served again without its bytes
   * crossing the wire, being compared, or becoming garbage. Measured with every hit past its
   * L1 copy (ttlMs 1): 100 KB pages stored gzip, ~185 us per hit, a sixth of it collecting the
   * 19 KB read buffers. undefined when the entry must be read whole: it changed, the store
   * cannot tell, or the question failed (the whole read then meets any trouble itself).
   */
  private async revive(key: string, held: { entry: Entry; version: string }, ticket: L1Ticket, early: Promise<Map<string, number | null | 'error'>> | undefined, hint: string[] | undefined): Promise<Lookup | undefined> {
    let version: string | null | undefined;
    try {
      version = await this.store.version!(key, true);
    } catch {
      return undefined;
    }
    if (version === null) return { kind: 'absent' };
    if (version !== held.version) return undefined;
    const entry = held.entry;
    if (entry.tags) {
      const current = await this.generations.current(entry.tags, early ? await early : undefined);
      this.hintCounters(key, entry.tags, hint);
      if (current === 'error') return { kind: 'error' };
      if (!current) return { kind: 'invalidated' };
    }
    this.l1!.refresh(key, ticket);
    return { kind: 'found', entry, size: entry.body.length };
  }

  /**
   * L1 asked for a hot entry to be checked before it runs out (l1-cache.ts). When the store
   * gave a version with it, the version alone is asked for, and only a changed entry is
   * read whole.
   */
  private async renew(key: string): Promise<void> {
    const l1 = this.l1!;
    const held = this.store.version ? l1.versioned(key) : undefined;
    if (held) {
      const ticket = l1.ticket();
      let version: string | null | undefined;
      try {
        version = await this.store.version!(key);
      } catch (err) {
        this.failed('version', err);
        return this.renewed(key, 'failed');
      }
      if (version === null) return this.renewed(key, 'gone');
      if (version === held.version) {
        const current = held.entry.tags ? await this.generations.current(held.entry.tags) : true;
        if (current === 'error') return this.renewed(key, 'failed');
        if (!current) return this.renewed(key, 'gone');
        l1.refresh(key, ticket);
        return this.renewed(key, 'unchanged');
      }
      // Changed, or the store cannot tell: read it whole.
    }
    // Its version was just asked for (when the store could tell): not again.
    const r = await this.read(key, held === undefined);
    // Gone, purged by tag or unreadable in the store: gone here too, at once.
    this.renewed(key, r.kind === 'error' ? 'failed' : r.kind === 'found' ? 'reread' : 'gone');
  }

  private renewed(key: string, result: 'unchanged' | 'reread' | 'gone' | 'failed'): void {
    this.metrics.l1Renewals.inc({ result });
    if (result === 'failed') this.l1!.renewFailed(key);
    else if (result === 'gone') this.l1!.delete(key);
  }

  private hintCounters(key: string, tags: Record<string, number>, hint: string[] | undefined): void {
    const keys = Object.keys(tags);
    if (hint && hint.length === keys.length && hint.every((k, i) => k === keys[i])) return;
    if (this.counterHints.size >= MAX_COUNTER_HINTS) this.counterHints.delete(this.counterHints.keys().next().value!);
    this.counterHints.set(key, keys);
  }

  /** Writes the entry; resolves false when it was not stored (refused or failed). */
  async save(key: string, entry: Entry, exptimeSeconds: number): Promise<boolean> {
    if (entry.tags) this.hintCounters(key, entry.tags, this.counterHints.get(key));
    if (entry.chunks) return this.renewChunked(key, entry, exptimeSeconds);
    if (entry.body.length >= this.maxItemSize) return this.saveChunked(key, entry, exptimeSeconds);
    const value = encodeEntry(entry);
    if (value.length > this.maxItemSize) return this.saveChunked(key, entry, exptimeSeconds);
    // In L1 from the start of the write, so the next request in this process is a hit
    // even before memcached has answered; out again if the write did not happen. Its body is
    // the one inside the stored bytes L1 keeps anyway (the body ends them), not a second copy.
    const held = this.l1 ? this.discardable(key, entryOf({ ...entry, body: value.subarray(value.length - entry.body.length) })) : undefined;
    if (held) this.l1!.set(key, held, value);
    try {
      const written = this.store.setVersioned
        ? await this.store.setVersioned(key, value, exptimeSeconds)
        : (await this.store.set(key, value, exptimeSeconds)) && { version: undefined };
      const ok = written !== false;
      if (!ok) this.l1?.delete(key);
      // With the version this write made, the copy's first renewal asks for the version alone.
      else if (held && written.version !== undefined) this.l1!.stamp(key, held, written.version);
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

  /** HotGzipHost: the L1 copy of the key and the store version it came at. */
  held(key: string): { entry: Entry; version: string } | undefined {
    return this.l1?.versioned(key);
  }

  /** HotGzipHost: the key's version in the store, or undefined when it cannot tell now. */
  async currentVersion(key: string): Promise<string | null | undefined> {
    if (!this.store.version) return undefined;
    try {
      return await this.store.version(key);
    } catch {
      return undefined;
    }
  }

  /**
   * Writes `next` in place of `entry` (held in L1, at `version` in the store) only while the
   * store still holds that version, and holds it in L1 in the same slot. Returns the entry L1
   * now holds; 'changed' when the store or L1 moved on meanwhile (a purge, an update: they win).
   */
  async replaceHeld(key: string, entry: Entry, version: string, next: Entry, exptimeSeconds: number): Promise<Entry | 'changed' | 'failed'> {
    if (!this.l1 || !this.store.setIfVersion || next.chunks) return 'failed';
    const value = encodeEntry(next);
    if (value.length > this.maxItemSize) return 'failed';
    let written: { version: string | undefined } | 'changed' | false;
    try {
      written = await this.store.setIfVersion(key, value, exptimeSeconds, version);
    } catch (err) {
      this.failed('set', err);
      return 'failed';
    }
    if (written === false) return 'failed';
    if (written === 'changed') return 'changed';
    this.metrics.storedBytes.observe(value.length);
    const held = this.discardable(key, entryOf({ ...next, body: value.subarray(value.length - next.body.length) }));
    return this.l1.replace(key, entry, held, value, written.version) ? held : 'changed';
  }

  async remove(key: string): Promise<boolean | 'error'> {
    // PURGE clears this process's copy at once; other processes' copies age out within ttlMs.
    const hadHot = this.l1?.delete(key) ?? false;
    this.hotIndexes.delete(key);
    try {
      return (await this.store.delete(key)) || hadHot;
    } catch (err) {
      this.failed('delete', err);
      return 'error';
    }
  }

  /** The counters the entry under `key` recorded when it was last stored or read, if known. */
  counterHint(key: string): readonly string[] | undefined {
    return this.counterHints.get(key);
  }

  /**
   * The current values of these generation counters (created when absent), to be recorded
   * in an entry as its `tags`; null when the cache cannot say (the entry is then not stored).
   */
  stamp(counterKeys: readonly string[]): Promise<Record<string, number> | null> {
    return this.generations.stamp(counterKeys);
  }

  /**
   * Tag purge / purge-all: moves the counters, so every entry recording them is a miss in
   * every process (within the L1 bound elsewhere). This process's L1 is emptied at once: it
   * does not know which of its entries carry them. False when a counter could not be moved.
   */
  async invalidate(counterKeys: readonly string[]): Promise<boolean> {
    this.l1?.clear();
    this.hotIndexes.clear();
    const ok = await this.generations.bump(counterKeys);
    // A lookup that raced the bump may have put an entry it checked before it back in L1.
    this.l1?.clear();
    return ok;
  }

  /**
   * Writes a variant index under a URL's key (only when absent, or unconditionally); whatever
   * this process held for the key in L1 (the page before it varied) is superseded.
   */
  async putIndex(key: string, value: Buffer, ttlSeconds: number, onlyIfAbsent: boolean): Promise<boolean | 'error'> {
    this.l1?.delete(key);
    this.hotIndexes.delete(key);
    const ok = await (onlyIfAbsent ? this.add(key, value, ttlSeconds) : this.setRaw(key, value, ttlSeconds));
    const index = ok === true ? decodeIndex(value) : null;
    if (index) this.rememberIndex(key, index);
    return ok;
  }

  private hotIndex(key: string): VariantIndex | undefined {
    if (this.indexMs <= 0) return undefined;
    const held = this.hotIndexes.get(key);
    if (!held) return undefined;
    if (held.until > Date.now()) return held.index;
    this.hotIndexes.delete(key);
    return undefined;
  }

  private rememberIndex(key: string, index: VariantIndex): void {
    if (this.indexMs <= 0) return;
    // Bounded without bookkeeping: a full map starts over (hot URLs come straight back).
    if (this.hotIndexes.size >= MAX_HOT_INDEXES) this.hotIndexes.clear();
    this.hotIndexes.set(key, { index, until: Date.now() + this.indexMs });
  }

  async add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean | 'error'> {
    try {
      return await this.store.add(key, value, ttlSeconds);
    } catch (err) {
      this.failed('add', err);
      return 'error';
    }
  }

  /** LeaseStore: add, with the version it gave the key when the store tells. */
  async addVersioned(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false | 'error'> {
    try {
      if (this.store.addVersioned) return await this.store.addVersioned(key, value, ttlSeconds);
      return (await this.store.add(key, value, ttlSeconds)) && { version: undefined };
    } catch (err) {
      this.failed('add', err);
      return 'error';
    }
  }

  /** LeaseStore: set only while the key is at `version`. */
  async setIfVersion(key: string, value: Buffer, ttlSeconds: number, version: string): Promise<{ version: string | undefined } | 'changed' | false | 'error'> {
    if (!this.store.setIfVersion) return 'error';
    try {
      return await this.store.setIfVersion(key, value, ttlSeconds, version);
    } catch (err) {
      this.failed('set', err);
      return 'error';
    }
  }

  /** LeaseStore: delete only while the key is at `version`. */
  async removeIfVersion(key: string, version: string): Promise<'deleted' | 'changed' | 'error'> {
    if (!this.store.deleteIfVersion) return 'error';
    try {
      return await this.store.deleteIfVersion(key, version);
    } catch (err) {
      this.failed('delete', err);
      return 'error';
    }
  }

  /** LeaseStore: a new expiry for the key, only while it is there. */
  async touch(key: string, ttlSeconds: number): Promise<boolean | 'error'> {
    try {
      return await this.store.touch(key, ttlSeconds);
    } catch (err) {
      this.failed('touch', err);
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

  /**
   * Contract: an entry over the item size "is stored as an index item plus chunks under their
   * own keys, written only once the whole body arrived" (it has: this is called with it).
   * Chunks first, index last: a reader never finds an index whose chunks are still to come.
   */
  private async saveChunked(key: string, entry: Entry, exptimeSeconds: number): Promise<boolean> {
    // Whatever L1 held for the key is superseded; the body itself is too big to keep there.
    this.l1?.delete(key);
    const { index, parts } = planChunks(entry.body, chunkSizeFor(this.maxItemSize), randomBytes(6).toString('hex'));
    const chunkTtl = exptimeSeconds + CHUNK_GRACE_SECONDS;
    try {
      let next = 0;
      let refused = false;
      const writer = async () => {
        while (!refused && next < parts.length) {
          const i = next++;
          if (!(await this.store.set(chunkKey(key, index.id, i), parts[i], chunkTtl))) refused = true;
        }
      };
      await Promise.all(Array.from({ length: Math.min(CHUNK_WRITE_CONCURRENCY, parts.length) }, writer));
      if (refused) {
        this.metrics.notStored.inc({ reason: 'refused' });
        return false;
      }
    } catch (err) {
      this.failed('set', err);
      return false;
    }
    return this.writeIndex(key, entryOf({ ...entry, body: EMPTY, chunks: index, readChunk: undefined }), exptimeSeconds, entry.body.length);
  }

  /**
   * A renewed index item (a 304 revalidated it): its chunks must live as long as it now
   * does, so each is read, checked and written again with the new lifetime before the index
   * is. A chunk already gone ends it: the index is deleted, the next request stores anew.
   */
  private async renewChunked(key: string, entry: Entry, exptimeSeconds: number): Promise<boolean> {
    const index = entry.chunks!;
    const chunkTtl = exptimeSeconds + CHUNK_GRACE_SECONDS;
    try {
      for (let i = 0; i < chunkCount(index); i++) {
        const k = chunkKey(key, index.id, i);
        const value = await this.store.get(k);
        if (value === null || !chunkIntact(index, i, value)) {
          await this.gone(key, index, i);
          this.metrics.notStored.inc({ reason: 'chunk-missing' });
          return false;
        }
        if (!(await this.store.set(k, value, chunkTtl))) {
          this.metrics.notStored.inc({ reason: 'refused' });
          return false;
        }
      }
    } catch (err) {
      this.failed('set', err);
      return false;
    }
    return this.writeIndex(key, entryOf({ ...entry, body: EMPTY, readChunk: undefined }), exptimeSeconds, index.length);
  }

  private async writeIndex(key: string, indexEntry: Entry, exptimeSeconds: number, bodyBytes: number): Promise<boolean> {
    const value = encodeEntry(indexEntry);
    try {
      const ok = await this.store.set(key, value, exptimeSeconds);
      if (!ok) {
        this.metrics.notStored.inc({ reason: 'refused' });
        return false;
      }
    } catch (err) {
      this.failed('set', err);
      return false;
    }
    this.metrics.stores.inc();
    this.metrics.storedBytes.observe(value.length + bodyBytes);
    // The index alone goes to L1 (a few hundred bytes): its chunks are read from the store,
    // and being this write's own, they are its bytes or missing, never another's.
    this.l1?.set(key, this.withReader(key, indexEntry), value);
    return true;
  }

  /**
   * Leaves on an entry the way to delete it once it turns out unreadable past decoding (deliver.ts:
   * its gzip does not inflate as it says): from L1 if this is the copy held there, and from
   * the store.
   */
  private discardable(key: string, entry: Entry): Entry {
    entry.discard = () => {
      this.metrics.cacheErrors.inc({ op: 'get', code: 'MF_ENTRY_CORRUPT' });
      this.logger.warn({ key }, 'cached entry does not inflate; deleted and treated as a miss');
      if (this.l1?.holds(key, entry)) this.l1.delete(key);
      void this.deleteQuietly(key);
    };
    return entry;
  }

  private async deleteQuietly(key: string): Promise<void> {
    try {
      await this.store.delete(key);
    } catch (err) {
      this.failed('delete', err);
    }
  }

  private withReader(key: string, entry: Entry): Entry {
    const index = entry.chunks!;
    const withReader = entryOf({ ...entry, readChunk: (i: number) => this.readChunk(key, index, i) });
    if (this.store.present) checkChunksWith(withReader, (first, last) => this.chunksPresent(key, index, first, last));
    return withReader;
  }

  /**
   * Whether chunks first..last are all still there, asked without reading them (memcached's
   * `mg` with no flags, pipelined). One gone: the index goes too, as when a read finds it
   * missing. The store cannot tell, or fails: undefined, and the reads find out as before.
   */
  private async chunksPresent(key: string, index: ChunkIndex, first: number, last: number): Promise<boolean | undefined> {
    const keys: string[] = [];
    for (let i = first; i <= last; i++) keys.push(chunkKey(key, index.id, i));
    let held: boolean[] | undefined;
    try {
      held = await this.store.present!(keys);
    } catch (err) {
      this.failed('present', err);
      return undefined;
    }
    if (!held) return undefined;
    const missing = held.indexOf(false);
    if (missing < 0) return true;
    await this.gone(key, index, first + missing);
    return false;
  }

  private async readChunk(key: string, index: ChunkIndex, i: number): Promise<Buffer> {
    let value: Buffer | null;
    try {
      value = await this.store.get(chunkKey(key, index.id, i));
    } catch (err) {
      this.failed('get', err);
      throw new EntryGone(`chunk ${i} of ${key} could not be read`, { cause: err });
    }
    if (value !== null && chunkIntact(index, i, value)) return value;
    await this.gone(key, index, i);
    throw new EntryGone(`chunk ${i} of ${key} is ${value === null ? 'missing' : 'damaged'}`);
  }

  /**
   * A chunk of this index is gone: the index goes too (awaited, so the request that found
   * out and goes on to fetch sees it gone), unless it was replaced by a newer write meanwhile.
   */
  private async gone(key: string, index: ChunkIndex, i: number): Promise<void> {
    this.metrics.cacheErrors.inc({ op: 'chunk', code: 'MF_ENTRY_CORRUPT' });
    this.logger.warn({ key, chunk: i }, 'chunk of a cached entry missing or damaged; the entry is dropped');
    const hot = this.l1?.get(key);
    if (hot?.chunks?.id === index.id) this.l1?.delete(key);
    try {
      const current = decodeEntry(await this.store.get(key));
      if (current?.chunks?.id === index.id) await this.store.delete(key);
    } catch (err) {
      this.failed('delete', err);
    }
  }

  /**
   * Every failure is counted; the log gets one line per operation and code per second, with
   * how many were left out. With memcached down every request fails two or three operations:
   * a warning with its stack for each cost more than the request itself (measured: ~500
   * answers/s instead of the backend's rate), and the store already said it went down.
   */
  private failed(op: string, err: unknown): void {
    const code = (err as { code?: string })?.code ?? 'UNKNOWN';
    this.metrics.cacheErrors.inc({ op, code });
    const k = op + ' ' + code;
    const now = Date.now();
    const last = this.failureLog.get(k);
    if (last && now - last.at < FAILURE_LOG_MS) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.failureLog.set(k, { at: now, suppressed: 0 });
    this.logger.warn(suppressed > 0 ? { err, op, suppressed } : { err, op }, 'cache operation failed; treated as a miss');
  }
}
