// Duplicate callers of one key wait for the first (the leader) and share its result,
// in the manner of groupcache's singleflight. Inside one process only; the cross-process
// half is a memcached lease (see lease.ts).

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Promise<T>>();

  /** The leader's promise for `key` if a call is under way, else undefined. */
  joinable(key: string): Promise<T> | undefined {
    return this.inFlight.get(key);
  }

  /** Runs fn as the leader for `key`; later callers of joinable(key) get its result. */
  lead(key: string, fn: () => Promise<T>): Promise<T> {
    const p = fn().finally(() => {
      if (this.inFlight.get(key) === p) this.inFlight.delete(key);
    });
    this.inFlight.set(key, p);
    return p;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
