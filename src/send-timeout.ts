// Contract: "A client that accepts no bytes for sendTimeoutMs (default 60000) is disconnected."
//
// The socket's inactivity timer is that clock: Node refreshes it whenever a write is handed to
// the kernel or completes (and on every read), so while an answer waits in memfront's buffers
// for a client that takes nothing, nothing refreshes it. It also runs down while memfront has
// nothing to send (a slow backend, a coalesced wait): that is not the client's doing, so a
// timeout with nothing queued on the socket is ignored, and the next write arms it again.
// The keep-alive timer Node sets once the answer is finished replaces this one.
import type { ServerResponse } from 'node:http';

/** Disconnects the client of `res` if it accepts none of the queued bytes for `ms`. */
export function limitSendStall(res: ServerResponse, ms: number): void {
  res.setTimeout(ms);
  // Listening is what keeps Node from destroying the socket at every timeout itself.
  if (res.listenerCount('timeout') === 0) res.on('timeout', onStall);
}

/** Whether an answer already handed to Node (an L1 hit) still waits on its client. */
export function stillSending(res: ServerResponse): boolean {
  return (res.socket?.writableLength ?? 0) > 0;
}

function onStall(this: ServerResponse): void {
  if ((this.socket?.writableLength ?? 0) === 0) return;
  this.destroy();
}
