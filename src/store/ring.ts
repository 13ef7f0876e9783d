// Consistent (ketama-style) hashing: which server owns a key.
//
// Modulo hashing (what memjs does) remaps most keys when a server is added or lost;
// on a ring only the keys of the changed server move. The layout follows libketama with
// equal weights, so it is predictable and matches other ketama clients: for each server,
// 40 md5 digests of "host:port-i" each give 4 points (160 points per server), and a key
// belongs to the first point at or after the key's own hash, wrapping round.

import { createHash } from 'node:crypto';

/** libketama's POINTS_PER_SERVER for equal weights. */
export const POINTS_PER_SERVER = 160;

/** The 4 little-endian 32-bit words of md5(text), as libketama reads them. */
function md5Words(text: string): Uint32Array {
  const d = createHash('md5').update(text).digest();
  return Uint32Array.of(d.readUInt32LE(0), d.readUInt32LE(4), d.readUInt32LE(8), d.readUInt32LE(12));
}

/** The ring position of a key: the first word of its md5. */
export function keyHash(key: string): number {
  return md5Words(key)[0];
}

/** The ring positions of one server: libketama's 40 digests of "name-i", 4 points each. */
export function serverPoints(node: string): number[] {
  const points: number[] = [];
  for (let i = 0; i < POINTS_PER_SERVER / 4; i++) points.push(...md5Words(`${node}-${i}`));
  return points;
}

export class HashRing {
  private readonly points: Uint32Array;
  private readonly owners: string[];
  /** Set when there is a single server (the common setup): it owns everything, no md5 needed. */
  private readonly only: string | undefined;

  /** nodes: server names ("host:port"); their order does not matter. */
  constructor(readonly nodes: readonly string[]) {
    const distinct = [...new Set(nodes)];
    const all: { point: number; node: string }[] = [];
    for (const node of distinct) {
      for (const point of serverPoints(node)) all.push({ point, node });
    }
    // Ties (vanishingly rare) are broken by name so the ring never depends on input order.
    all.sort((a, b) => a.point - b.point || (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    this.points = Uint32Array.from(all, (p) => p.point);
    this.owners = all.map((p) => p.node);
    this.only = distinct.length === 1 ? distinct[0] : undefined;
  }

  /** The node owning `key`, or undefined for an empty ring. */
  get(key: string): string | undefined {
    if (this.only !== undefined) return this.only;
    return this.ownerOfHash(keyHash(key));
  }

  /** The node owning ring position `h` (a 32-bit unsigned hash). */
  ownerOfHash(h: number): string | undefined {
    const n = this.points.length;
    if (n === 0) return undefined;
    // Binary search for the first point >= h; past the last point wraps to the first.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.points[mid] < h) lo = mid + 1;
      else hi = mid;
    }
    return this.owners[lo === n ? 0 : lo];
  }
}
