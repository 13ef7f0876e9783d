// Reading a chunked entry back: the error that says its bytes are gone, and the chunks of
// a span streamed in order, the next one read while the current one is written.
import { MemfrontError } from '../errors.js';
import type { Entry } from '../store/entry-codec.js';

/**
 * A chunk of an index item is missing or not intact. Before the answer began it makes the
 * request a miss; after, the connection is cut as for a short body. Either way the index is
 * deleted first, so the next request stores the entry again.
 */
export class EntryGone extends MemfrontError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('MF_ENTRY_CORRUPT', message, options);
  }
}

export function isEntryGone(err: unknown): err is EntryGone {
  return err instanceof EntryGone;
}

/**
 * Chunks first..last of an index item, in order. The first is read before this returns (so
 * a missing one is known before anything is written); each later one is read while the
 * caller writes the one before. Rejects with EntryGone at a missing chunk.
 */
export async function openChunks(entry: Entry, first: number, last: number): Promise<AsyncIterable<Buffer>> {
  const read = entry.readChunk;
  if (!read || !entry.chunks) throw new EntryGone('not an index item read from the cache');
  const head = first <= last ? await read(first) : undefined;
  return {
    async *[Symbol.asyncIterator]() {
      if (head === undefined) return;
      let current: Buffer = head;
      for (let i = first + 1; i <= last; i++) {
        const next = read(i);
        // Already failed reads must not surface as unhandled while we yield.
        next.catch(() => {});
        yield current;
        current = await next;
      }
      yield current;
    },
  };
}
