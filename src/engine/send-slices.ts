// Writing an answer whose body is made while it is sent (a large gzip entry inflated for an
// identity client): the next slice is asked for only once the client took the last one, so
// what is held for a slow client is one slice, not the body.
import type { ServerResponse } from 'node:http';
import { drained } from './drained.js';

/**
 * Writes the head and the slices. The first slice is made before anything is written: when
 * it fails, this rejects with its error and the caller still has a blank response to answer
 * with (the request becomes a miss). A later failure cuts the connection, as a backend body
 * cut short does, and `broken` is told. Resolves to the body bytes written.
 */
export async function sendSlices(
  res: ServerResponse,
  status: number,
  headers: string[],
  slices: AsyncGenerator<Buffer>,
  broken: (err: unknown) => void,
): Promise<number> {
  let next: IteratorResult<Buffer>;
  try {
    next = await slices.next();
  } catch (err) {
    broken(err);
    throw err;
  }
  res.writeHead(status, headers);
  let sent = 0;
  try {
    while (!next.done) {
      if (res.destroyed) return sent;
      sent += next.value.length;
      if (!res.write(next.value)) await drained(res);
      next = await slices.next();
    }
  } catch (err) {
    broken(err);
    res.destroy();
    return sent;
  } finally {
    // A client gone mid-way: stop inflating for it.
    void slices.return(undefined);
  }
  res.end();
  return sent;
}
