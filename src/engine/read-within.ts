// A body read whole for the cache stops where the cache would stop keeping it. Contract:
// "A HEAD miss is answered as soon as the answer is known not to fit: once the body passes
// cache.maxObjectSize memfront stops reading it" (an endless body would otherwise hold the
// HEAD client, and the backend connection, forever).
import { PassThrough } from 'node:stream';
import type { UpstreamResponse } from '../upstream/upstream.js';

/**
 * The answer as a reader of its whole body (entry-build's collect) should see it: the same
 * bytes, ending just past `limit` bytes, the transfer then stopped. Cut there, it counts as
 * complete, so the reader's own size check (not its completeness check) says why it stopped.
 */
export function endingPast(up: UpstreamResponse, limit: number): UpstreamResponse {
  const body = new PassThrough();
  let seen = 0;
  let cut = false;
  const source = up.body;
  const onData = (chunk: Buffer) => {
    seen += chunk.length;
    body.write(chunk);
    if (seen <= limit) return;
    cut = true;
    source.off('data', onData);
    up.abort();
    body.end();
  };
  source.on('data', onData);
  source.once('end', () => body.end());
  source.once('error', (err) => !cut && body.destroy(err));
  source.once('close', () => !cut && !up.complete() && body.destroy());
  return { ...up, body, complete: () => cut || up.complete() };
}
