// The memcached store: memjs for the wire protocol, and around it what memjs gets wrong
// for a cache that must never hold a request up.
//
// - memjs can leave a request pending forever: after a timeout, the old socket's 'close'
//   handler cancels the new socket's timer and orphans it, so the next request to a server
//   that accepts but does not answer never settles. Every call here has its own deadline,
//   and at the first sign of trouble a server's memjs client is thrown away whole (its
//   sockets destroyed, its other pending calls rejected) and replaced by a fresh one.
// - memjs picks servers by modulo, which remaps most keys when the list changes. Here each
//   server has its own single-server memjs client and a ketama ring (ring.ts) chooses one.
// - A failed server leaves the ring at once, so its keys go to the next server instead of
//   failing one by one, and a background probe brings it back when it answers again,
//   after replaying the deletes it missed while out (see flushOnRevive).
// - memjs reports memcached's own error statuses ("Value too large") and network failures
//   alike; only the latter say the server is in trouble.
// - memjs's get drops the item's CAS, and the binary protocol cannot ask for the CAS alone:
//   getVersioned reads it beside the value, and version() asks a meta-protocol connection
//   (meta-cas.ts) for it, so a hot entry can be checked without being read whole; the same
//   connection tells which chunks of an entry are still there (present()).

import type { Socket } from 'node:net';
import memjs from 'memjs';
import { CacheError } from '../errors.js';
import type { CacheStore, StoreServerStatus, Versioned } from './cache-store.js';
import { installMemjsReader } from './memjs-reader.js';
import { MetaCasClient } from './meta-cas.js';
import { HashRing } from './ring.js';

installMemjsReader();

const ALL_DOWN = new CacheError('MF_CACHE_UNAVAILABLE', 'no memcached server is up');

export interface StoreLogger {
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
}

export interface MemcachedStoreOptions {
  /** "host:port" (port defaults to 11211; IPv6 as "[::1]:11211"). */
  servers: string[];
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
/** Remembered deletes are replayed this many at a time (memjs pipelines them on one socket). */
const REPLAY_BATCH = 100;

// memjs logs to console by default; we report failures ourselves, once, with their cause.
const silent = { log() {} };

/** One memjs client for one server, thrown away whole at the first sign of trouble. */
class Connection {
  readonly client: memjs.Client;
  private readonly pending = new Set<(err: Error) => void>();
  private discarded = false;

  constructor(host: string, port: number, timeoutMs: number) {
    // memjs's own timers are only a backstop behind our deadline, which discards this
    // connection before they fire.
    const backstopS = Math.max(1, (timeoutMs * 4) / 1000);
    const server = new memjs.Server(host, port, undefined, undefined, {
      timeout: backstopS,
      conntimeout: backstopS,
      keepAlive: true,
      keepAliveDelay: 30,
    });
    // retries: 1 = no retry inside memjs: a failure must surface at once to become a miss.
    this.client = new memjs.Client([server], { retries: 1, failover: false, logger: silent });
  }

  /** Runs `op`, rejecting with `onTimeout()` after `timeoutMs`, or at once if discarded. */
  run<T>(op: (client: memjs.Client) => Promise<T>, timeoutMs: number, onTimeout: () => CacheError): Promise<T> {
    if (this.discarded) return Promise.reject(new CacheError('MF_CACHE_UNAVAILABLE', 'connection discarded'));
    // One promise settled by whichever comes first: the answer, the deadline, or discard().
    // (Promise.race against a timer promise would do the same with more allocations per call.)
    return new Promise<T>((resolve, reject) => {
      const fail = (err: Error) => {
        settled = true;
        clearTimeout(timer);
        this.pending.delete(fail);
        reject(err);
      };
      let settled = false;
      // Timers run before I/O in each turn of the event loop: on a busy loop the deadline
      // can fire while memcached's answer already waits in the socket. One setImmediate lets
      // that answer be read first, so only a server that really is late counts as a timeout.
      const timer = setTimeout(() => setImmediate(() => settled || fail(onTimeout())), timeoutMs);
      this.pending.add(fail);
      op(this.client).then((value) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pending.delete(fail);
        resolve(value);
      }, fail);
    });
  }

  /** Rejects every pending call with `reason` and destroys the sockets. */
  discard(reason: Error): void {
    if (this.discarded) return;
    this.discarded = true;
    for (const abort of this.pending) abort(reason);
    this.pending.clear();
    for (const server of this.client.servers) {
      // Destroy rather than end(): a server that stopped reading would keep an ended
      // socket (and our event loop) alive. memjs does not expose the socket, hence the cast.
      const socket = (server as unknown as { _socket?: Socket })._socket;
      if (socket) socket.destroy();
      else server.close();
    }
  }
}

interface Slot {
  address: string;
  host: string;
  port: number;
  up: boolean;
  conn: Connection;
  /** Asks for CAS values alone (meta protocol, its own connection). */
  meta: MetaCasClient;
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
        conn: new Connection(host, port, this.timeoutMs),
        meta: new MetaCasClient(host, port, this.timeoutMs, options.versionBatchMs ?? 0),
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
    const { value } = await this.call(key, 'get', (c) => c.get(key));
    return value === null ? null : detached(value);
  }

  async getVersioned(key: string): Promise<Versioned | null> {
    const found = await this.call(key, 'get', (c, address) => getWithCas(c, key, address));
    return found === null ? null : { value: detached(found.value), version: found.version };
  }

  /**
   * The key's version without its value, from the server that owns the key now. Trouble on
   * the meta connection rejects but does not take the server out: that is for the memjs
   * connection's calls to find, which the caller's fallback makes.
   */
  async version(key: string): Promise<string | null | undefined> {
    if (this.closed) throw new CacheError('MF_CACHE_UNAVAILABLE', 'memcached store closed');
    const address = this.ring.get(key);
    if (address === undefined) throw ALL_DOWN;
    const cas = await this.byAddress.get(address)!.meta.cas(key);
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
      [...byServer].map(async ([address, at]) => ({ at, held: await this.byAddress.get(address)!.meta.present(at.map((i) => keys[i])) })),
    );
    for (const { at, held } of answers) {
      if (!held) return undefined;
      at.forEach((i, n) => (out[i] = held[n]));
    }
    return out;
  }

  async set(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (value.length > this.maxItemSize) return false;
    return this.refusable(this.call(key, 'set', (c) => c.set(key, value, { expires: exptime(ttlSeconds) })));
  }

  async add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean> {
    if (value.length > this.maxItemSize) return false;
    return this.refusable(this.call(key, 'add', (c) => c.add(key, value, { expires: exptime(ttlSeconds) })));
  }

  async delete(key: string): Promise<boolean> {
    try {
      return await this.call(key, 'delete', (c) => c.delete(key));
    } finally {
      this.rememberIfHomeDown(key);
    }
  }

  async incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number> {
    if (!isCounter(by) || !isCounter(initial)) {
      throw new CacheError('MF_CACHE_UNAVAILABLE', `incr needs integers in 0..${MAX_COUNTER} (by ${by}, initial ${initial})`);
    }
    let value: number | null | undefined;
    try {
      ({ value } = await this.call(key, 'incr', (c) => c.increment(key, by, { initial, expires: exptime(ttlSeconds) })));
    } finally {
      this.rememberIfHomeDown(key);
    }
    if (typeof value !== 'number') throw new CacheError('MF_CACHE_UNAVAILABLE', `incr of ${key} returned no value`);
    return value;
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
      slot.meta.close();
    }
  }

  /**
   * Runs one operation on the server owning `key`. Memcached answering with an error status
   * (e.g. "Value too large") is a refusal: the server is fine. Anything else (refused
   * connection, reset, timeout) takes the server out of the ring.
   */
  private async call<T>(key: string, what: string, op: (client: memjs.Client, address: string) => Promise<T>): Promise<T> {
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

  private markDown(slot: Slot, conn: Connection, failure: CacheError): void {
    // Only the first failure on a connection replaces it; later ones are its echoes.
    if (slot.conn === conn) {
      slot.timeouts = 0;
      slot.conn = new Connection(slot.host, slot.port, this.timeoutMs);
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
    const run = <T>(op: (client: memjs.Client) => Promise<T>) =>
      conn.run(op, this.timeoutMs, onTimeout).catch((err: unknown) => {
        if (isRefusal(err)) return undefined;
        throw err;
      });
    let flushed = false;
    let replayed = 0;
    const flush = async () => {
      await run((c) => c.flush());
      slot.missed.clear();
      slot.overflow = false;
      flushed = true;
    };
    try {
      if (this.flushOnRevive || slot.overflow) await flush();
      else await run((c) => c.get(PROBE_KEY));
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
        slot.conn = new Connection(slot.host, slot.port, this.timeoutMs);
        conn.discard(err instanceof Error ? err : new Error(String(err)));
      }
    }
  }
}

/**
 * memjs's value is a view of the bytes read from the socket (memjs-reader.ts): kept as is,
 * unless it is a small part of a larger read (other answers came with it), which an entry
 * kept in L1 would otherwise hold whole.
 */
function detached(value: Buffer): Buffer {
  return value.buffer.byteLength > 2 * value.length + 4096 ? Buffer.from(value) : value;
}

/** A version names the server: CAS values are one server's counter, and a key can move between servers. */
function versionOf(address: string, cas: string): string {
  return `${address} ${cas}`;
}

/** memjs's get, keeping the CAS that memjs reads from the answer but does not pass on. */
function getWithCas(client: memjs.Client, key: string, address: string): Promise<Versioned | null> {
  return new Promise((resolve, reject) => {
    client.incrSeq();
    const request = memjs.Utils.makeRequestBuffer(0, key, '', '', client.seq);
    client.perform(key, request, client.seq, (err: Error | null, response?: memjs.Response) => {
      if (err || !response) return reject(err ?? new Error('memjs gave no answer'));
      const status = response.header.status;
      // 1: not found. Other statuses are refusals, reported the way memjs's own get does.
      if (status === 1) return resolve(null);
      if (status !== 0) return reject(new Error(`MemJS GET: status ${status}`));
      const cas = response.header.cas.readBigUInt64BE(0);
      // 0: memcached run with -C keeps no CAS, so there is no version to renew by.
      resolve({ value: response.val, version: cas === 0n ? undefined : versionOf(address, cas.toString()) });
    });
  });
}

/** memjs reports a memcached error status as an Error whose message starts "MemJS <OP>:". */
function isRefusal(err: unknown): boolean {
  return err instanceof Error && !(err instanceof CacheError) && err.message.startsWith('MemJS ');
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
