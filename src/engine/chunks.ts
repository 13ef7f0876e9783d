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
 * Whether chunks first..last of an index item are all still in the cache: false when one is
 * gone (the index is deleted by then), undefined when the store cannot tell.
 */
export type ChunkPresence = (first: number, last: number) => Promise<boolean | undefined>;

// Beside the entry rather than in it: the entry's shape is the codec's (entry-codec.ts).
const presence = new WeakMap<Entry, ChunkPresence>();

/** How the chunks of this index item (as read from the cache) can be checked without reading them. */
export function checkChunksWith(entry: Entry, check: ChunkPresence): void {
  presence.set(entry, check);
}

/**
 * Chunks first..last of an index item, in order. Before this returns, the first is read and
 * the others are checked present where the store can tell (memcached evicts them one by
 * one): contract, "a request whose entry has any chunk missing is a miss ... found before
 * the first byte of the answer is sent". Each later one is read while the caller writes the
 * one before. Rejects with EntryGone at a missing chunk: before anything was written when
 * the check could be made, else where the missing one would have been sent.
 */
export async function openChunks(entry: Entry, first: number, last: number): Promise<AsyncIterable<Buffer>> {
  const read = entry.readChunk;
  if (!read || !entry.chunks) throw new EntryGone('not an index item read from the cache');
  const check = first < last ? presence.get(entry) : undefined;
  const [head, present] = await Promise.all([first <= last ? read(first) : undefined, check?.(first + 1, last)]);
  if (present === false) throw new EntryGone(`a chunk of ${first + 1}..${last} is missing`);
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
