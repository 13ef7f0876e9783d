// Pages memfront gzipped itself are stored at cache.gzipLevel (1 by default: after a
// purge-all every page is filled at once, and the fill pays the level). A page that turns out
// popular is gzipped again at cache.hotGzip.level once one process has served its L1 copy
// cache.hotGzip.hits times, so every later hit of it writes the smaller body: the bench's
// 100 KB page is 25.2 KB at level 1 and 19.3 KB at 6, and its gzip-client hits ran at 1.12x
// the requests/s for 0.95x the CPU per hit (docs/bench.md). The work is the thread pool's,
// one page at a time per process, hot pages waiting their turn.
//
// The new bytes replace the old in the store only while it still holds the very item they
// were made from (a conditional write on its version, CacheAccess.replaceHeld): a purge, an
// update or another process's regzip in between wins, and nothing deleted comes back. It is
// the same response in other bytes: the answer's ETag for a body memfront gzipped is weak
// already (representation.ts), and a weak tag never satisfies If-Range, so no client splices
// old bytes with new ones.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { entryOf, type Entry } from '../store/entry-codec.js';
import { inflateAsync } from './gzip-body.js';

const gzipAsync = promisify(zlib.gzip);

export type HotGzipResult = 'stored' | 'changed' | 'no-gain' | 'skipped' | 'failed';

/** Whether gzipping this entry's body again at `level` may make it smaller: only bodies memfront gzipped, at a lower level (or one it did not record), held whole. */
export function regzippable(entry: Entry, level: number): boolean {
  return entry.gzip && entry.gzippedHere === true && entry.chunks === undefined && entry.identityLength !== undefined && (entry.gzipLevel ?? 0) < level;
}

/** What HotGzip needs of the cache (CacheAccess). */
export interface HotGzipHost {
  /** The entry L1 holds for the key, with the store version it was read or written at. */
  held(key: string): { entry: Entry; version: string } | undefined;
  /** The key's version in the store now; undefined when the store cannot tell. */
  currentVersion(key: string): Promise<string | null | undefined>;
  /** Writes `next` over `entry` while the store holds `version`, then holds it in L1 in its place: the entry L1 now holds. */
  replaceHeld(key: string, entry: Entry, version: string, next: Entry, exptimeSeconds: number): Promise<Entry | 'changed' | 'failed'>;
}

export interface HotGzipOptions {
  level: number;
  /** The store lifetime (seconds) for an entry written again at `now`: what is left of the one it had. */
  exptime(entry: Entry, now: number): number;
  /** Hands the inflated body from the entry replaced to the one replacing it (deliver.ts's carryIdentity). */
  carryIdentity(before: Entry, entry: Entry, identity: Buffer): void;
  done(result: HotGzipResult, savedBytes: number): void;
  /** A failure inside memfront (store trouble is told by replaceHeld, as 'failed'). */
  error(err: unknown): void;
  now?: () => number;
}

/** Hot pages waiting their turn, at most: more are asked for again after as many hits. */
const MAX_WAITING = 256;

export class HotGzip {
  /** Keys waiting, oldest first (a Set iterates in insertion order). */
  private readonly waiting = new Set<string>();
  private running = false;
  private readonly now: () => number;

  constructor(
    private readonly host: HotGzipHost,
    private readonly opts: HotGzipOptions,
  ) {
    this.now = opts.now ?? Date.now;
  }

  /**
   * L1's onHot: queued, and gzipped in turn, one at a time. A queue rather than "one at a
   * time, the others asked again later": pages of one site turn hot together (a bench's
   * hundred URLs crossed their count within a millisecond of each other), and refused
   * together they came back together, one gzipped per round (2 a second under load).
   */
  take(key: string): boolean {
    if (this.waiting.size >= MAX_WAITING) return false;
    this.waiting.add(key);
    this.next();
    return true;
  }

  private next(): void {
    if (this.running) return;
    for (const key of this.waiting) {
      this.waiting.delete(key);
      const held = this.host.held(key);
      if (held === undefined || !regzippable(held.entry, this.opts.level)) continue;
      this.running = true;
      void this.run(key, held.entry, held.version)
        .catch((err: unknown) => {
          this.opts.error(err);
          return { result: 'failed' as const, saved: 0 };
        })
        .then((r) => {
          this.running = false;
          this.opts.done(r.result, r.saved);
          this.next();
        });
      return;
    }
  }

  private async run(key: string, entry: Entry, version: string): Promise<{ result: HotGzipResult; saved: number }> {
    // Written since (another process's regzip, an update, a purge): that one wins, and the
    // thread pool is spared a body no one will keep. Asked while the body inflates.
    const [current, identity] = await Promise.all([this.host.currentVersion(key), inflateAsync(entry.body, entry.identityLength!)]);
    if (current !== undefined && current !== version) return { result: 'changed', saved: 0 };
    // Not inflating as it says: the hit path finds that out and deletes it.
    if (identity === null) return { result: 'skipped', saved: 0 };
    const body = await gzipAsync(identity, { level: this.opts.level });
    if (body.length >= entry.body.length) return { result: 'no-gain', saved: 0 };
    const now = this.now();
    // No longer fresh: the next request refreshes it anyway.
    if (entry.staleAt <= now) return { result: 'skipped', saved: 0 };
    const next = entryOf({ ...entry, body, gzipLevel: this.opts.level, discard: undefined });
    const held = await this.host.replaceHeld(key, entry, version, next, this.opts.exptime(entry, now));
    if (held === 'changed' || held === 'failed') return { result: held, saved: 0 };
    this.opts.carryIdentity(entry, held, identity);
    return { result: 'stored', saved: entry.body.length - body.length };
  }
}
