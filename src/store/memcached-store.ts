// The memcached store: one connection per server in either wire protocol (binary through
// memjs, memjs-client.ts; or the text protocol, text-client.ts, for memcached's proxies),
// and around it what a cache that must never hold a request up needs.
//
// - Every call has its own deadline (guarded-connection.ts), and at the first sign of
//   trouble a server's connection is thrown away whole (its socket destroyed, its other
//   pending calls rejected) and replaced by a fresh one.
// - memjs picks servers by modulo, which remaps most keys when the list changes. Here each
//   server has its own single-server connection and a ketama ring (ring.ts) chooses one.
// - A failed server leaves the ring at once, so its keys go to the next server instead of
//   failing one by one, and a background probe (a get, as the cache's own reads are) brings
//   it back when it answers again, after replaying the deletes it missed while out (see
//   flushOnRevive).
// - Memcached's own error answers ("Value too large") are refusals (ServerRefusal): only
//   network failures and timeouts say the server is in trouble.
// - getVersioned reads the CAS beside the value. The binary protocol cannot ask for the CAS
//   alone, so version() asks a meta-protocol connection (meta-cas.ts) for it, and a hot entry
//   is checked without being read whole, and the same connection tells which chunks of an
//   entry are still there (present()). On the text protocol (for proxies, which forward no
//   meta commands) version() cannot tell, and a renewal reads the entry whole with gets.

import { CacheError } from '../errors.js';
import type { CacheStore, StoreServerStatus, Versioned } from './cache-store.js';
import { GuardedConnection } from './guarded-connection.js';
import { MemjsClient } from './memjs-client.js';
import { MetaCasClient } from './meta-cas.js';
import { HashRing } from './ring.js';
import { TextClient } from './text-client.js';
import { ServerRefusal, type WireClient } from './wire-client.js';

const ALL_DOWN = new CacheError('MF_CACHE_UNAVAILABLE', 'no memcached server is up');

export type MemcachedProtocol = 'binary' | 'text';

export interface StoreLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface MemcachedStoreOptions {
  /** "host:port" (port defaults to 11211; IPv6 as "[::1]:11211"). */
  servers: string[];
  /**
   * "binary" (memjs, the default) or "text": memcached's classic text protocol, the one
   * memcached's proxies (twemproxy, mcrouter) forward.
   */
  protocol?: MemcachedProtocol;
  /** Deadline of every call; past it the call rejects with MF_CACHE_TIMEOUT. */
  timeoutMs: number;
  /** The servers' item size limit (memcached -I): larger values are refused locally. */
  maxItemSize: number;
  /** How often a failed server is probed. Default 2000. */
  retryMs?: number;
  /**
   * Flush a failed server when it comes back, before using it again. Default false.
   *
   * While a server was out (as this process saw it), its keys were written and deleted on
   * the next server along the ring, so what it still holds may include entries that were
   * purged since. Flushing it removes them, but "out" is one process's view: a single slow
   * moment (one call past timeoutMs) marks a server down, and in a pool shared by many
   * memfronts each such moment anywhere would flush a third (with three servers) of every
   * site's cache at once, a self-inflicted stampede on the backend on exactly the bad days
   * this cache is for. A server that really died comes back empty anyway.
   *
   * So instead each process remembers the keys it deleted (PURGE) or incremented (tag
   * generations) while their home server was out, and replays those deletes on the server
   * before it serves again: what was purged stays purged, and the rest of its entries are
   * kept (an older copy of an entry written elsewhere meanwhile is still within its TTL).
   * Past MAX_MISSED remembered keys the server is flushed after all. Other processes'
   * purges reached it directly, or they remember their own.
   */
  flushOnRevive?: boolean;
  logger?: StoreLogger;
  /**
   * version() questions asked within this many ms go to the server in one write. Default 0
   * (each at once). Each write wakes memcached, and on a core it shares with memfront each
   * wake-up preempts memfront: renewals checked one by one added ~1.5 involuntary context
   * switches apiece (measured), batched a third of that.
   */
  versionBatchMs?: number;
  /** Told whenever a server goes down or comes back (metrics, health). */
  onStatusChange?: (status: StoreServerStatus) => void;
}

/** Memcached's own limit on key length (bytes). */
const MAX_KEY_BYTES = 250;
/** Memcached reads an expiry above 30 days as a Unix time, not a duration. */
const MAX_RELATIVE_TTL = 60 * 60 * 24 * 30;
/** memjs writes incr's amount and initial value as 32-bit words (and misreads counters beyond). */
const MAX_COUNTER = 0xffffffff;
const PROBE_KEY = 'memfront:probe';
/** Deletes remembered per server while it is out; past this it is flushed on revival instead. */
const MAX_MISSED = 10_000;
/** Remembered deletes are replayed this many at a time (pipelined on one connection). */
const REPLAY_BATCH = 100;

interface Slot {
  address: string;
  host: string;
  port: number;
  up: boolean;
  conn: GuardedConnection;
  /**
   * Asks for CAS values alone (meta protocol, its own connection). Binary protocol only:
   * the proxies the text protocol is for do not forward meta commands (twemproxy closes the
   * connection on `mg`).
   */
  meta: MetaCasClient | undefined;
  /** Keys deleted or incremented elsewhere while this server was out: deleted here before it serves again. */
  missed: Set<string>;
  /** More than MAX_MISSED of them: flush it instead. */
  overflow: boolean;
  /** Timeouts since the last answer: one slow moment is a miss, a run of them is an outage. */
  timeouts: number;
}

/**
 * Consecutive timeouts that take a server out. A single late answer (a busy event loop, a
 * GC pause, a burst) is only a miss: taking the server out for it would turn a load spike
 * into a cache outage. A server that has stopped answering (memjs's hang) reaches this in
 * a few calls, and its connection is then replaced.
 */
export const TIMEOUTS_BEFORE_DOWN = 3;

export class MemcachedStore implements CacheStore {
  private readonly slots: Slot[];
  private readonly byAddress = new Map<string, Slot>();
  private ring: HashRing;
  /** The ring with every server, up or not: where a key lives when all are well. */
  private readonly homeRing: HashRing;
  private readonly timeoutMs: number;
  private readonly protocol: MemcachedProtocol;
  private readonly maxItemSize: number;
  private readonly retryMs: number;
  private readonly flushOnRevive: boolean;
  private readonly logger?: StoreLogger;
  private readonly onStatusChange?: (status: StoreServerStatus) => void;
  private probeTimer: NodeJS.Timeout | undefined;
  private probing = false;
  private closed = false;

  constructor(options: MemcachedStoreOptions) {
    if (options.servers.length === 0) throw new RangeError('MemcachedStore needs at least one server');
    this.timeoutMs = options.timeoutMs;
    this.protocol = options.protocol ?? 'binary';
    this.maxItemSize = options.maxItemSize;
    this.retryMs = options.retryMs ?? 2000;
    this.flushOnRevive = options.flushOnRevive ?? false;
    this.logger = options.logger;
    this.onStatusChange = options.onStatusChange;
    this.slots = [...new Set(options.servers)].map((address) => {
      const { host, port } = parseAddress(address);
      return {
        address,
        host,
        port,
        up: true,
        conn: this.connect(host, port),
        meta: this.protocol === 'binary' ? new MetaCasClient(host, port, this.timeoutMs, options.versionBatchMs ?? 0) : undefined,
        missed: new Set<string>(),
        overflow: false,
        timeouts: 0,
      };
    });
    for (const slot of this.slots) this.byAddress.set(slot.address, slot);
    this.ring = new HashRing(this.slots.map((s) => s.address));
    this.homeRing = this.ring;
  }

  async get(key: string): Promise<Buffer | null> {
    const value = await this.call(key, 'get', (c) => c.get(key));
    return value === null ? null : detached(value);
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    let address = '';
    const found = await this.call(key, 'get', (c, a) => ((address = a), c.getWithCas(key)));
    return found === null ? null : { value: detached(found.value), version: versionOf(address, found.cas) };
  }

  /**
   * The key's version without its value, from the server that owns the key now. Trouble on
   * the meta connection rejects but does not take the server out: that is for the main
   * connection's calls to find, which the caller's fallback makes.
   */
  async version(key: string, urgent = false): Promise<string | null | undefined> {
    if (this.closed) throw new CacheError('MF_CACHE_UNAVAILABLE', 'memcached store closed');
    const address = this.ring.get(key);
    if (address === undefined) throw ALL_DOWN;
    const meta = this.byAddress.get(address)!.meta;
    // Text protocol: `gets` would read the value anyway, and asked for the CAS alone it cost
    // as much as a whole read (bench/protocol-reads.ts) and a second read when the entry had
    // changed. "Cannot tell" makes the caller read it whole, once.
    if (!meta) return undefined;
    const cas = await meta.cas(key, urgent);
    return typeof cas === 'string' ? versionOf(address, cas) : cas;
  }

  /**
   * Whether the servers owning the keys hold them, asked of each server's meta connection
   * in one write; undefined when a server cannot tell (no meta commands). Trouble rejects
   * without taking a server out, as for version().
   */
  async present(keys: readonly string[]): Promise<boolean[] | undefined> {
    if (this.closed) throw new CacheError('MF_CACHE_UNAVAILABLE', 'memcached store closed');
    const byServer = new Map<string, number[]>();
    for (let i = 0; i < keys.length; i++) {
      const address = this.ring.get(keys[i]);
      if (address === undefined) throw ALL_DOWN;
      const at = byServer.get(address);
      if (at) at.push(i);
      else byServer.set(address, [i]);
    }
    const out = new Array<boolean>(keys.length);
    const answers = await Promise.all(
      [...byServer].map(async ([address, at]) => {
        // Text protocol: no meta connection (proxies forward no meta commands): cannot tell.
        const meta = this.byAddress.get(address)!.meta;
        return { at, held: meta ? await meta.present(at.map((i) => keys[i])) : undefined };
      }),
    );
    for (const { at, held } of answers) {
      if (!held) return undefined;
      at.forEach((i, n) => (out[i] = held[n]));
    }
    return out;
  }

  async set(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (value.length > this.maxItemSize) return false;
    return this.refusable(this.call(key, 'set', (c) => c.set(key, value, exptime(ttlSeconds))));
  }

  async setVersioned(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false> {
    return this.writeVersioned(key, 'set', value, ttlSeconds);
  }

  async setIfVersion(key: string, value: Buffer, ttlSeconds: number, version: string): Promise<{ version: string | undefined } | 'changed' | false> {
    if (value.length > this.maxItemSize) return false;
    const { home, cas } = splitVersion(version);
    let outcome: { version: string | undefined } | 'changed' = 'changed';
    const stored = await this.refusable(
      this.call(key, 'set', async (c, address) => {
        // The key lives on another server now: its version there is another item's.
        if (address !== home) return true;
        const r = await c.setIfCas(key, value, exptime(ttlSeconds), cas);
        if (r !== 'changed') outcome = { version: r.cas === undefined ? undefined : versionOf(address, r.cas) };
        return true;
      }),
    );
    return stored && outcome;
  }

  async add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (value.length > this.maxItemSize) return false;
    return this.refusable(this.call(key, 'add', (c) => c.add(key, value, exptime(ttlSeconds))));
  }

  async addVersioned(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false> {
    return this.writeVersioned(key, 'add', value, ttlSeconds);
  }

  /** set or add, with the version the write gave the key when the protocol's answer says it. */
  private async writeVersioned(key: string, op: 'set' | 'add', value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false> {
    if (value.length > this.maxItemSize) return false;
    let address = '';
    let cas: string | undefined;
    const written = await this.refusable(
      this.call(key, op, async (c, a) => {
        address = a;
        const withCas = op === 'set' ? c.setWithCas?.bind(c) : c.addWithCas?.bind(c);
        if (!withCas) return c[op](key, value, exptime(ttlSeconds));
        const r = await withCas(key, value, exptime(ttlSeconds));
        if (r === false) return false;
        cas = r;
        return true;
      }),
    );
    return written && { version: cas === undefined ? undefined : versionOf(address, cas) };
  }

  async deleteIfVersion(key: string, version: string): Promise<'deleted' | 'changed'> {
    const { home, cas } = splitVersion(version);
    return this.call(key, 'delete', async (c, address) => {
      // The key lives on another server now: whatever is there is another item.
      if (address !== home) return 'changed';
      if (c.deleteIfCas) return c.deleteIfCas(key, cas);
      // The text protocol has no conditional delete: read, compare, delete (not atomic).
      const now = await c.getWithCas(key);
      if (now === null || now.cas !== cas) return 'changed';
      return (await c.delete(key)) ? 'deleted' : 'changed';
    });
  }

  async delete(key: string): Promise<boolean> {
    try {
      return await this.call(key, 'delete', (c) => c.delete(key));
    } finally {
      this.rememberIfHomeDown(key);
    }
  }

  async touch(key: string, ttlSeconds: number): Promise<boolean> {
    return this.call(key, 'touch', (c) => c.touch(key, exptime(ttlSeconds)));
  }

  async incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number> {
    if (!isCounter(by) || !isCounter(initial)) {
      throw new CacheError('MF_CACHE_UNAVAILABLE', `incr needs integers in 0..${MAX_COUNTER} (by ${by}, initial ${initial})`);
    }
    try {
      return await this.call(key, 'incr', (c) => c.incr(key, by, initial, exptime(ttlSeconds)));
    } finally {
      this.rememberIfHomeDown(key);
    }
  }

  status(): StoreServerStatus[] {
    return this.slots.map((s) => ({ server: s.address, up: s.up }));
  }

  usable(): boolean {
    return !this.closed && this.slots.some((s) => s.up);
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.probeTimer);
    this.probeTimer = undefined;
    const reason = new CacheError('MF_CACHE_UNAVAILABLE', 'memcached store closed');
    for (const slot of this.slots) {
      slot.conn.discard(reason);
      slot.meta?.close();
    }
  }

  /**
   * Runs one operation on the server owning `key`. Memcached answering with an error status
   * (e.g. "Value too large") is a refusal: the server is fine. Anything else (refused
   * connection, reset, timeout) takes the server out of the ring.
   */
  private async call<T>(key: string, what: string, op: (client: WireClient, address: string) => Promise<T>): Promise<T> {
    if (this.closed) throw new CacheError('MF_CACHE_UNAVAILABLE', 'memcached store closed');
    if (Buffer.byteLength(key) > MAX_KEY_BYTES) {
      throw new CacheError('MF_CACHE_UNAVAILABLE', `key longer than ${MAX_KEY_BYTES} bytes: ${key.slice(0, 60)}…`);
    }
    const address = this.ring.get(key);
    // Every server is down: fail now rather than wait for a timeout the probe will report.
    // One error object for all such calls: a stack per call was measurable with the whole pool down.
    if (address === undefined) throw ALL_DOWN;
    const slot = this.byAddress.get(address)!;
    const conn = slot.conn;
    try {
      const result = await conn.run((client) => op(client, address), this.timeoutMs, () =>
        new CacheError('MF_CACHE_TIMEOUT', `memcached ${address} did not answer ${what} within ${this.timeoutMs} ms`),
      );
      slot.timeouts = 0;
      return result;
    } catch (err) {
      if (err instanceof CacheError && err.code === 'MF_CACHE_TIMEOUT' && slot.conn === conn && ++slot.timeouts < TIMEOUTS_BEFORE_DOWN) {
        throw err;
      }
      if (isRefusal(err)) {
        slot.timeouts = 0;
        throw new CacheError('MF_CACHE_UNAVAILABLE', `memcached ${address} refused ${what}`, { cause: err });
      }
      const failure =
        err instanceof CacheError ? err : new CacheError('MF_CACHE_UNAVAILABLE', `memcached ${address} failed on ${what}`, { cause: err });
      this.markDown(slot, conn, failure);
      throw failure;
    }
  }

  /** set/add: a refusal by the server (too large, out of memory) is "not stored", not trouble. */
  private async refusable(stored: Promise<boolean>): Promise<boolean> {
    try {
      return await stored;
    } catch (err) {
      if (err instanceof CacheError && isRefusal(err.cause)) return false;
      throw err;
    }
  }

  /** A fresh connection to one server, in the configured protocol. */
  private connect(host: string, port: number): GuardedConnection {
    return new GuardedConnection(this.protocol === 'text' ? new TextClient(host, port) : new MemjsClient(host, port, this.timeoutMs));
  }

  private markDown(slot: Slot, conn: GuardedConnection, failure: CacheError): void {
    // Only the first failure on a connection replaces it; later ones are its echoes.
    if (slot.conn === conn) {
      slot.timeouts = 0;
      slot.conn = this.connect(slot.host, slot.port);
      // Calls queued behind the one that failed would only fail later: fail them now.
      conn.discard(new CacheError('MF_CACHE_UNAVAILABLE', `memcached ${slot.address} connection dropped`, { cause: failure }));
    }
    if (!slot.up || this.closed) return;
    slot.up = false;
    this.rebuildRing();
    this.logger?.warn({ server: slot.address, err: failure }, 'memcached server down; its keys go to the next server');
    this.onStatusChange?.({ server: slot.address, up: false });
    this.scheduleProbe();
  }

  /** A delete (or incr) whose key's home server is out went elsewhere, or nowhere: note it for that server. */
  private rememberIfHomeDown(key: string): void {
    const address = this.homeRing.get(key);
    const home = address === undefined ? undefined : this.byAddress.get(address);
    if (!home || home.up) return;
    if (home.missed.size < MAX_MISSED) home.missed.add(key);
    else home.overflow = true;
  }

  private markUp(slot: Slot, how: { flushed: boolean; replayed: number }): void {
    if (slot.up || this.closed) return;
    slot.up = true;
    this.rebuildRing();
    this.logger?.info({ server: slot.address, ...how }, 'memcached server back');
    this.onStatusChange?.({ server: slot.address, up: true });
  }

  private rebuildRing(): void {
    // A ring over the live servers only: a key of a dead server lands on the next point,
    // and the keys of live servers stay where they are.
    this.ring = new HashRing(this.slots.filter((s) => s.up).map((s) => s.address));
  }

  private scheduleProbe(): void {
    if (this.probeTimer || this.probing || this.closed) return;
    this.probeTimer = setTimeout(() => {
      this.probeTimer = undefined;
      void this.probeDown();
    }, this.retryMs);
    // The probe must not keep a finished process alive.
    this.probeTimer.unref();
  }

  private async probeDown(): Promise<void> {
    this.probing = true;
    try {
      await Promise.all(this.slots.filter((s) => !s.up).map((s) => this.probe(s)));
    } finally {
      this.probing = false;
    }
    if (this.slots.some((s) => !s.up)) this.scheduleProbe();
  }

  private async probe(slot: Slot): Promise<void> {
    const conn = slot.conn;
    const onTimeout = () => new CacheError('MF_CACHE_TIMEOUT', `memcached ${slot.address} did not answer the probe`);
    // Any answer, even an error status, means it is serving again.
    const run = <T>(op: (client: WireClient) => Promise<T>) =>
      conn.run(op, this.timeoutMs, onTimeout).catch((err: unknown) => {
        if (isRefusal(err)) return undefined;
        throw err;
      });
    let flushed = false;
    let replayed = 0;
    const flush = async () => {
      try {
        await run((c) => c.flush());
      } catch (err) {
        if (this.protocol === 'binary') throw err;
        // A proxy (twemproxy) forwards no flush_all and drops the connection instead; the
        // text client connects again by itself. Replaying the deletes remembered (the first
        // MAX_MISSED) is the best left: the server is not kept out for ever.
        this.logger?.warn({ server: slot.address, err, remembered: slot.missed.size }, 'flush_all not answered (a proxy?); replaying the remembered deletes instead');
        slot.overflow = false;
        return;
      }
      slot.missed.clear();
      slot.overflow = false;
      flushed = true;
    };
    try {
      // A get first, as the cache's own reads: an answer to it is what "serving" means.
      await run((c) => c.get(PROBE_KEY));
      if (this.flushOnRevive || slot.overflow) await flush();
      // Until it is back in the ring, new deletes of its keys are still noted: replay until
      // none is left, then mark it up with no await in between.
      while (slot.missed.size > 0) {
        const keys = [...slot.missed].slice(0, REPLAY_BATCH);
        await Promise.all(keys.map((key) => run((c) => c.delete(key)).then(() => slot.missed.delete(key))));
        replayed += keys.length;
        if (slot.overflow) await flush();
      }
      this.markUp(slot, { flushed, replayed });
    } catch (err) {
      if (slot.conn === conn && !this.closed) {
        slot.conn = this.connect(slot.host, slot.port);
        conn.discard(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

/**
 * A value is a view of the bytes read from the socket (memjs-reader.ts, text-protocol.ts): kept as is,
 * unless it is a small part of a larger read (other answers came with it), which an entry
 * kept in L1 would otherwise hold whole.
 */
function detached(value: Buffer): Buffer {
  return value.buffer.byteLength > 2 * value.length + 4096 ? Buffer.from(value) : value;
}

/**
 * A version names the server: CAS values are one server's counter, and a key can move
 * between servers. CAS 0: memcached run with -C keeps none, so there is no version to renew by.
 */
function versionOf(address: string, cas: string): string | undefined {
  return cas === '0' ? undefined : `${address} ${cas}`;
}

/** A version as versionOf made it: the server's address and the item's CAS there. */
function splitVersion(version: string): { home: string; cas: string } {
  const space = version.lastIndexOf(' ');
  return { home: version.slice(0, space), cas: version.slice(space + 1) };
}

/** Memcached (or the proxy before it) answered with an error of its own: the server is fine. */
function isRefusal(err: unknown): boolean {
  return err instanceof ServerRefusal;
}

function isCounter(n: number): boolean {
  return Number.isInteger(n) && n >= 0 && n <= MAX_COUNTER;
}

/** Our TTLs are always durations; memcached needs long ones as absolute Unix times. */
function exptime(ttlSeconds: number): number {
  const ttl = Math.max(0, Math.ceil(ttlSeconds));
  return ttl > MAX_RELATIVE_TTL ? Math.floor(Date.now() / 1000) + ttl : ttl;
}

export function parseAddress(address: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(address) ?? /^([^:]+)(?::(\d+))?$/.exec(address);
  if (!m) throw new RangeError(`bad memcached server address: ${address}`);
  const port = m[2] === undefined ? 11211 : Number(m[2]);
  if (!(port > 0 && port < 65536)) throw new RangeError(`bad memcached server port: ${address}`);
  return { host: m[1], port };
}
