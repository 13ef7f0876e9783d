// One server's connection as the store uses it: every call with its own deadline, and the
// whole connection thrown away at the first sign of trouble (its other pending calls
// rejected at once, its socket destroyed), to be replaced by a fresh one.
//
// Why the deadline is ours and not the client's: memjs can leave a request pending forever
// (after a timeout, the old socket's 'close' handler cancels the new socket's timer and
// orphans it), and a server that accepts but never answers must still cost a request no
// more than the deadline, whichever protocol is spoken.

import { CacheError } from '../errors.js';
import type { WireClient } from './wire-client.js';

export class GuardedConnection {
  private readonly pending = new Set<(err: Error) => void>();
  private discarded = false;

  constructor(readonly client: WireClient) {}

  /** Runs `op`, rejecting with `onTimeout()` after `timeoutMs`, or at once if discarded. */
  run<T>(op: (client: WireClient) => Promise<T>, timeoutMs: number, onTimeout: () => CacheError): Promise<T> {
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

  /** Rejects every pending call with `reason` and destroys the connection. */
  discard(reason: Error): void {
    if (this.discarded) return;
    this.discarded = true;
    for (const abort of this.pending) abort(reason);
    this.pending.clear();
    this.client.destroy();
  }
}
