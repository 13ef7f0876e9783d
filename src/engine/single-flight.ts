// Duplicate callers of one key wait for the first (the leader) and share its result,
// in the manner of groupcache's singleflight. Inside one process only; the cross-process
// half is a memcached lease (see lease.ts).

/** Handed to the leader: false once the key was purged while it ran (its result must not be stored). */
export interface FlightToken {
  readonly live: boolean;
}

interface Flight<T> {
  promise: Promise<T>;
  token: { live: boolean };
}

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Flight<T>>();

  /** The leader's promise for `key` if a call is under way, else undefined. */
  joinable(key: string): Promise<T> | undefined {
    return this.inFlight.get(key)?.promise;
  }

  /** Runs fn as the leader for `key`; later callers of joinable(key) get its result. */
  lead(key: string, fn: (token: FlightToken) => Promise<T>): Promise<T> {
    const token = { live: true };
    const promise = fn(token).finally(() => {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
    });
    const flight: Flight<T> = { promise, token };
    this.inFlight.set(key, flight);
    return promise;
  }

  /**
   * PURGE: the flight under way for `key` (if any) began before the purge, so its answer
   * must not be stored; requests from now on start a flight of their own. Its waiters still
   * get its result: they arrived before the purge.
   */
  forget(key: string): boolean {
    const flight = this.inFlight.get(key);
    if (!flight) return false;
    flight.token.live = false;
    this.inFlight.delete(key);
    return true;
  }

  get size(): number {
    return this.inFlight.size;
  }
}
