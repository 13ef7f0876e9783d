// Inflating gzip bodies within bounds (contract: "Bounded inflation"). A few kilobytes of
// gzip can inflate to gigabytes, so no inflate here runs without a limit on its output, and
// none that may be large runs on the event loop: each is either small and synchronous, or
// done by the thread pool in slices that the consumer pulls (zlib stops while its output is
// not read), so memory follows the reader, not the body.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import type { Entry } from '../store/entry-codec.js';

const gunzipAsync = promisify(zlib.gunzip);

/**
 * Inflated copies of at most this many bytes are kept beside their entry once an identity
 * client asked (the hot path then answers from memory; L1 counts the copy). Larger bodies are
 * inflated per answer as they are sent, and nothing of them is kept.
 */
export const IDENTITY_COPY_LIMIT = 1024 * 1024;
/** Up to this many inflated bytes, inflating on the event loop (~1 ms) beats a trip to the thread pool. */
export const SYNC_INFLATE_LIMIT = 64 * 1024;
/** Output slice of streamed inflates. */
const SLICE = 64 * 1024;

/** The bytes of an inflated copy that holding this entry may come to (L1's accounting). */
export function identityCopyBytes(entry: Entry): number {
  if (!entry.gzip || entry.chunks || entry.identityLength === undefined) return 0;
  return entry.identityLength <= IDENTITY_COPY_LIMIT ? entry.identityLength : 0;
}

/**
 * How many bytes a gzip body inflates to, found by inflating it once in the thread pool and
 * dropping the output as it comes: 'too-large' as soon as it passes `limit`, 'bad-gzip' when
 * it does not inflate completely (not gzip, truncated, trailing garbage, empty).
 */
export async function inflatedLength(gzip: Buffer, limit: number): Promise<number | 'too-large' | 'bad-gzip'> {
  const inflater = zlib.createGunzip({ chunkSize: SLICE });
  inflater.end(gzip);
  let length = 0;
  try {
    for await (const out of inflater as AsyncIterable<Buffer>) {
      length += out.length;
      // Leaving the loop destroys the inflater: the rest is never inflated.
      if (length > limit) return 'too-large';
    }
  } catch {
    return 'bad-gzip';
  }
  return length;
}

/**
 * The whole inflated body, on the event loop: only for bodies of at most SYNC_INFLATE_LIMIT
 * inflated bytes. null when it does not inflate to exactly `length` bytes.
 */
export function inflateSync(gzip: Buffer, length: number): Buffer | null {
  if (length > SYNC_INFLATE_LIMIT) throw new RangeError(`${length} bytes is too much to inflate on the event loop`);
  try {
    const out = zlib.gunzipSync(gzip, { maxOutputLength: Math.max(1, length) });
    return out.length === length ? out : null;
  } catch {
    return null;
  }
}

/** The whole inflated body, by the thread pool; null when it does not inflate to exactly `length` bytes. */
export async function inflateAsync(gzip: Buffer, length: number): Promise<Buffer | null> {
  try {
    const out = await gunzipAsync(gzip, { maxOutputLength: Math.max(1, length) });
    return out.length === length ? out : null;
  } catch {
    return null;
  }
}

/** A gzip body that does not inflate to the length its entry says. */
export class NotInflating extends Error {}

/**
 * Bytes [skip, skip + take) of what a gzip body inflates to, in slices made by the thread
 * pool as they are asked for. The body must inflate to exactly `length` bytes: past it, or
 * short of it, or broken, the iteration throws NotInflating (no more than `length` inflated
 * bytes are ever made, whatever the body holds). A range ending early stops inflating there.
 */
export async function* inflateSlices(gzip: Buffer, length: number, skip = 0, take = length): AsyncGenerator<Buffer> {
  const inflater = zlib.createGunzip({ chunkSize: SLICE });
  inflater.end(gzip);
  const end = skip + take;
  let made = 0;
  try {
    for await (const out of inflater as AsyncIterable<Buffer>) {
      const at = made;
      made += out.length;
      if (made > length) throw new NotInflating(`inflates past its ${length} bytes`);
      if (made <= skip) continue;
      yield out.subarray(Math.max(0, skip - at), Math.min(out.length, end - at));
      if (made >= end && end < length) return;
    }
  } catch (err) {
    throw err instanceof NotInflating ? err : new NotInflating('does not inflate', { cause: err });
  } finally {
    inflater.destroy();
  }
  if (made !== length) throw new NotInflating(`inflates to ${made} bytes, not ${length}`);
}
