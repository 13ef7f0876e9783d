// The layout of an entry too large for one memcached item: an index item (the entry's
// header, no body) plus the body cut into chunks under keys of their own. Pure: which
// chunks, under which keys, holding which bytes, and whether a chunk read back is intact.
//
// Chunk keys carry an id drawn for each write, so a rewrite never mixes with the chunks of
// an older one: an index (in memcached or in a process's L1) only ever names chunks written
// with it, and a chunk evicted or overwritten is seen as missing, never as another's bytes.
import { crc32 } from 'node:zlib';

/** What the index item says about its chunks. */
export interface ChunkIndex {
  /** Drawn per write; part of every chunk key. */
  id: string;
  /** Bytes per chunk (the last may be shorter). */
  size: number;
  /** Bytes of the stored body, all chunks together. */
  length: number;
  /** CRC-32 of each chunk, in order. */
  crcs: number[];
}

/**
 * Room memcached needs beside the value in one item (key, flags, CAS, item header): a chunk
 * of maxItemSize - 1024 bytes is always accepted by a server started with -I maxItemSize.
 */
export const ITEM_OVERHEAD = 1024;

/** The largest chunk for servers whose item size limit is `maxItemSize`. */
export function chunkSizeFor(maxItemSize: number): number {
  return Math.max(1, maxItemSize - ITEM_OVERHEAD);
}

/** The key of chunk `i` of the write `id` of the entry under `key`. */
export function chunkKey(key: string, id: string, i: number): string {
  return `${key}:c${id}:${i}`;
}

/** The body cut into chunks of `size` bytes (views of it, no copies) and their index. */
export function planChunks(body: Buffer, size: number, id: string): { index: ChunkIndex; parts: Buffer[] } {
  const parts: Buffer[] = [];
  for (let start = 0; start < body.length; start += size) parts.push(body.subarray(start, Math.min(start + size, body.length)));
  return { index: { id, size, length: body.length, crcs: parts.map((p) => crc32(p)) }, parts };
}

export function chunkCount(index: ChunkIndex): number {
  return index.crcs.length;
}

/** How many bytes chunk `i` holds. */
export function chunkLength(index: ChunkIndex, i: number): number {
  return Math.min(index.size, index.length - i * index.size);
}

/** Whether a value read back is chunk `i`, whole and unchanged. */
export function chunkIntact(index: ChunkIndex, i: number, value: Buffer): boolean {
  return i >= 0 && i < chunkCount(index) && value.length === chunkLength(index, i) && crc32(value) === index.crcs[i];
}

/**
 * The chunks holding bytes start..end (inclusive) of the stored body, and where the bytes
 * begin in the first of them: a Range reads these and no others.
 */
export function chunksFor(index: ChunkIndex, start: number, end: number): { first: number; last: number; skip: number } {
  const first = Math.floor(start / index.size);
  const last = Math.min(chunkCount(index) - 1, Math.floor(end / index.size));
  return { first, last, skip: start - first * index.size };
}

/** An index as read from JSON: the shape, and chunk sizes that add up to the length. */
export function isChunkIndex(x: unknown): x is ChunkIndex {
  if (typeof x !== 'object' || x === null) return false;
  const o = x as Record<string, unknown>;
  if (typeof o.id !== 'string' || !/^[0-9a-z]{1,32}$/i.test(o.id)) return false;
  if (!Number.isInteger(o.size) || (o.size as number) < 1) return false;
  if (!Number.isInteger(o.length) || (o.length as number) < 0) return false;
  if (!Array.isArray(o.crcs) || !o.crcs.every((c) => Number.isInteger(c) && c >= 0 && c <= 0xffffffff)) return false;
  return o.crcs.length === Math.ceil((o.length as number) / (o.size as number));
}
