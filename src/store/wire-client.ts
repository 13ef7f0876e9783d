// What the memcached store needs from one server's connection, whichever protocol carries it
// (binary through memjs, or the text protocol for memcached's proxies). The store adds the
// deadlines, the ring, and taking servers out; a client only talks to its one server.

/** One stored item with its CAS as memcached gave it ("0" when the server keeps none). */
export interface CasValue {
  value: Buffer;
  cas: string;
}

export interface WireClient {
  get(key: string): Promise<Buffer | null>;
  getWithCas(key: string): Promise<CasValue | null>;
  /** false: not stored (add of a key that exists). */
  set(key: string, value: Buffer, exptime: number): Promise<boolean>;
  /** set, with the CAS memcached gave the item it stored ("0" when it keeps none). Optional: the text protocol's set answers without one. */
  setWithCas?(key: string, value: Buffer, exptime: number): Promise<string>;
  /**
   * set only while the item's CAS is `cas` (memcached's cas): the item's new CAS when stored
   * (undefined when the protocol's answer has none), 'changed' when it was written or removed since.
   */
  setIfCas(key: string, value: Buffer, exptime: number, cas: string): Promise<{ cas: string | undefined } | 'changed'>;
  add(key: string, value: Buffer, exptime: number): Promise<boolean>;
  /** add, with the CAS of the item it stored ("0" when the server keeps none), or false when the key was there. Optional, as setWithCas. */
  addWithCas?(key: string, value: Buffer, exptime: number): Promise<string | false>;
  delete(key: string): Promise<boolean>;
  /** delete only while the item's CAS is `cas`: 'changed' when it was written or removed since. Optional, with addWithCas. */
  deleteIfCas?(key: string, cas: string): Promise<'deleted' | 'changed'>;
  /** A new expiry for the item, only while it is there: false when it is not. */
  touch(key: string, exptime: number): Promise<boolean>;
  /** Adds `by`, creating the counter at `initial` (with `exptime`) when absent; the new value. */
  incr(key: string, by: number, initial: number, exptime: number): Promise<number>;
  flush(): Promise<void>;
  /** Drops the connection at once; calls still pending may never settle (the store's deadline does). */
  destroy(): void;
}

/**
 * Memcached (or a proxy in front of it) answered with an error of its own: "value too
 * large", "not a number", a proxy's "no server for this key". The connection is in step and
 * the server serving: this request is refused, nothing more.
 */
export class ServerRefusal extends Error {}
