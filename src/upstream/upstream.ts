// What every upstream adapter (backend proxy, reproxy fetcher, mogile, static) hands the
// engine: a status, raw headers and a body stream whose completeness can be asked.
import type { Readable } from 'node:stream';

export interface UpstreamResponse {
  status: number;
  /** Header name/value pairs as received (Node's rawHeaders layout), repeated ones kept. */
  rawHeaders: string[];
  body: Readable;
  /** True once the whole body arrived as announced (not cut by a reset or a short length). */
  complete(): boolean;
  /** Stop the transfer and release the connection (client gone, or body not wanted). */
  abort(): void;
  /**
   * Set when this answer must not be stored whatever its headers say: a partial (Range)
   * or bodiless (HEAD) answer carried through to a reproxy, mogile or static server.
   */
  noStore?: 'partial' | 'head' | 'too-many-variants' | 'cache-unavailable';
}

/** Lower-cased header lookup over rawHeaders; the first value wins, repeated ones joined when asked. */
export function rawHeader(raw: string[], name: string, join?: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) {
      if (join === undefined) return raw[i + 1];
      out = out === undefined ? raw[i + 1] : out + join + raw[i + 1];
    }
  }
  return out;
}

/** rawHeaders as Node's lower-cased headers object (Set-Cookie an array, others joined). */
export function headersObject(raw: string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const k = raw[i].toLowerCase();
    const v = raw[i + 1];
    const prev = out[k];
    if (prev === undefined) out[k] = k === 'set-cookie' ? [v] : v;
    else if (Array.isArray(prev)) prev.push(v);
    else out[k] = `${prev}, ${v}`;
  }
  return out;
}
