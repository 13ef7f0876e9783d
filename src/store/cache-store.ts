// The narrow interface every cache store implements: bytes in, bytes out, nothing else.
// Implementations throw CacheError on trouble; the engine turns that into a miss.

export interface StoreServerStatus {
  server: string;      // "host:port", or "memory"
  up: boolean;
}

export interface Versioned {
  value: Buffer;
  /** Undefined when the store keeps none (memcached run with -C has no CAS). */
  version: string | undefined;
}

export interface CacheStore {
  /** The stored bytes, or null when absent. */
  get(key: string): Promise<Buffer | null>;
  /**
   * The stored bytes and their version: a token that changes whenever the key is written
   * (memcached's CAS, with the server's address), or null when absent. Optional, with version().
   */
  getVersioned?(key: string): Promise<Versioned | null>;
  /**
   * The key's version as getVersioned would give it, without reading the value; null when
   * absent; undefined when this store cannot tell now (the caller reads the value instead).
   * `urgent`: a request waits on the answer, so it is not held back to share a write with
   * others (memcached-store's versionBatchMs).
   */
  version?(key: string, urgent?: boolean): Promise<string | null | undefined>;
  /**
   * Whether the store holds each key, without reading the values; undefined when this
   * store cannot tell now (the caller then learns it by reading). Optional.
   */
  present?(keys: readonly string[]): Promise<boolean[] | undefined>;
  /** Stores unconditionally. ttlSeconds 0 = no expiry. Returns false when the store refused (e.g. too large). */
  set(key: string, value: Buffer, ttlSeconds: number): Promise<boolean>;
  /**
   * set, and the version this write gave the key (as getVersioned would give it; undefined
   * when the store cannot tell), or false when not stored. Optional, with version().
   */
  setVersioned?(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false>;
  /**
   * set, only while the key is still at `version` (memcached's cas): the version this write
   * gave it as setVersioned would, 'changed' when the key was written, removed or moved to
   * another server since, or false when the store refused the value. Optional.
   */
  setIfVersion?(key: string, value: Buffer, ttlSeconds: number, version: string): Promise<{ version: string | undefined } | 'changed' | false>;
  /** Stores only when absent (memcached `add`): the primitive behind cross-process leases. */
  add(key: string, value: Buffer, ttlSeconds: number): Promise<boolean>;
  /**
   * add, and the version it gave the key (undefined when the store cannot tell), or false
   * when the key was there. Optional: a lease added with a version is renewed and released
   * by that version, each in one step that cannot touch anyone else's.
   */
  addVersioned?(key: string, value: Buffer, ttlSeconds: number): Promise<{ version: string | undefined } | false>;
  /**
   * Deletes the key only while it is still at `version`: 'deleted', or 'changed' when it was
   * written, removed or moved to another server since. Optional, with addVersioned.
   */
  deleteIfVersion?(key: string, version: string): Promise<'deleted' | 'changed'>;
  /** True when something was deleted. */
  delete(key: string): Promise<boolean>;
  /**
   * Sets the key's expiry anew, only while it is there (memcached `touch`): true when it was.
   * Never brings back a key deleted meanwhile.
   */
  touch(key: string, ttlSeconds: number): Promise<boolean>;
  /** Atomic counter: increments by `by`, creating it at `initial` when absent; returns the new value. */
  incr(key: string, by: number, initial: number, ttlSeconds: number): Promise<number>;
  /** Per-server health for /healthz and metrics. */
  status(): StoreServerStatus[];
  /** False while no server is in use: every operation would fail at once. */
  usable(): boolean;
  close(): Promise<void>;
}
