// Duplicate callers of one key wait for the first (the leader) and share its result,
// in the manner of groupcache's singleflight. Inside one process only; the cross-process
// half is a memcached lease (see lease.ts).
//
// The leader may settle its waiters before it is done (release): an answer known at its
// headers not to be shareable is streamed to the leader's client alone, and its waiters
// must not wait on that client (contract: "they never wait on the leader's client").

/** Handed to the leader. */
export interface FlightToken<T = unknown> {
  /** False once the key was purged while it ran (its result must not be stored). */
  readonly live: boolean;
  /**
   * Settles the waiters now with `value` while the leader carries on; the leader's own
   * result is then its alone. Callers arriving until the leader ends get `value` too.
   */
  release(value: T): void;
}

interface Flight<T> {
  /** What waiters get: the leader's result, or what it released them with. */
  shared: Promise<T>;
  token: { live: boolean };
}

export class SingleFlight<T> {
  private readonly inFlight = new Map<string, Flight<T>>();

  /** What a caller joining the flight for `key` will get, if one is under way, else undefined. */
  joinable(key: string): Promise<T> | undefined {
    return this.inFlight.get(key)?.shared;
  }

  /** Runs fn as the leader for `key`; later callers of joinable(key) get its result. */
  lead(key: string, fn: (token: FlightToken<T>) => Promise<T>): Promise<T> {
    let settle!: (v: T) => void;
    let fail!: (err: unknown) => void;
    const shared = new Promise<T>((resolve, reject) => ((settle = resolve), (fail = reject)));
    // A failure nobody joined must not surface as unhandled.
    shared.catch(() => {});
    const token = {
      live: true,
      release(value: T) {
        settle(value);
      },
    };
    const flight: Flight<T> = { shared, token };
    this.inFlight.set(key, flight);
    const promise = fn(token).finally(() => {
      if (this.inFlight.get(key) === flight) this.inFlight.delete(key);
    });
    // Once released, what the leader ends with no longer reaches the waiters (a promise
    // settles once).
    promise.then(settle, fail);
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
