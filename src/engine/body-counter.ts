// Body bytes an answer actually put on its way to the client, counted where every route's
// answer passes: the response's own write and end. Each path used to return its count, and
// some returned it too late (a stored miss: after the gzip for the store, when the log line
// was already written) or not at all (memfront's 502): 0 in the log and in
// memfront_served_bytes_total. Counting at the response cannot miss a path.
import type { ServerResponse } from 'node:http';

export interface BodyCount {
  bytes: number;
}

function lengthOf(chunk: unknown, encoding: unknown): number {
  if (typeof chunk === 'string') return Buffer.byteLength(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return chunk.byteLength;
  return 0;
}

/** Counts what is written to `res` from now on (writes to a response already destroyed are lost, and not counted). */
export function countBody(res: ServerResponse): BodyCount {
  const count: BodyCount = { bytes: 0 };
  const write = res.write;
  const end = res.end;
  res.write = function (this: ServerResponse, chunk: unknown, ...rest: unknown[]) {
    if (!this.destroyed) count.bytes += lengthOf(chunk, rest[0]);
    return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest);
  } as ServerResponse['write'];
  res.end = function (this: ServerResponse, chunk?: unknown, ...rest: unknown[]) {
    if (!this.destroyed && typeof chunk !== 'function') count.bytes += lengthOf(chunk, rest[0]);
    return (end as (...a: unknown[]) => ServerResponse).call(this, chunk, ...rest);
  } as ServerResponse['end'];
  return count;
}

/**
 * What reached the client's socket by the time the response closed: no body for HEAD, 204 or
 * 304 (Node drops what is written to them), and, for an answer cut off, less what was still
 * waiting in memfront's buffers.
 */
export function bodyBytesSent(res: ServerResponse, method: string | undefined, count: BodyCount): number {
  if (method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return 0;
  if (res.writableFinished) return count.bytes;
  return Math.max(0, count.bytes - res.writableLength);
}
