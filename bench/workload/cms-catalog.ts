// The synthetic CMS's URLs in order of popularity, with the size and lifetime each one will
// have in a cache: what the workload requests and what the theoretical hit rate is built from.

import { postHasCachingHeaders, cmsAnswer } from '../../demo/cms-routes.js';
import { postTargetBytes } from '../../demo/cms-pages.js';
import { hashString, seededRandom } from '../../demo/seeded-random.js';

export interface CatalogPage {
  path: string;
  /** Body size in bytes, as the backend sends it (identity). */
  bytes: number;
  /** Seconds a cache keeps it fresh (s-maxage or max-age); undefined: no caching headers, so
   * the cache's own default TTL applies. */
  ttlS?: number;
}

/** The lifetime a shared cache gives a response from its Cache-Control (RFC 9111 4.2.1);
 * undefined when it says nothing, and the cache falls back to its default. */
export function ttlFromHeaders(headers: Record<string, string>): number | undefined {
  const cc = Object.entries(headers).find(([k]) => k.toLowerCase() === 'cache-control')?.[1] ?? '';
  const sMaxAge = /(?:^|,)\s*s-maxage\s*=\s*"?(\d+)/i.exec(cc);
  const maxAge = /(?:^|,)\s*max-age\s*=\s*"?(\d+)/i.exec(cc);
  return sMaxAge ? Number(sMaxAge[1]) : maxAge ? Number(maxAge[1]) : undefined;
}

/** How many /post/<n> the backend must have for a catalog of `pages` URLs. */
export function postsFor(pages: number): number {
  return pages >= 4 ? pages - 3 : pages;
}

/**
 * `pages` URLs: the home page first, then the feed and the image, then the posts in a seeded
 * shuffle (post numbers say nothing about popularity). Fewer than 4 pages: posts only.
 */
export function cmsCatalog(pages: number, seed = 1): CatalogPage[] {
  const posts = postsFor(pages);
  const out: CatalogPage[] = [];
  if (pages >= 4) {
    for (const path of ['/', '/feed', '/image.png']) {
      const a = cmsAnswer(path, undefined, posts);
      out.push({ path, bytes: a.body.length, ttlS: ttlFromHeaders(a.headers) });
    }
  }
  const order = Array.from({ length: posts }, (_, i) => i + 1);
  const rand = seededRandom(hashString(`catalog:${seed}`));
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  for (const n of order) {
    // The same rule cms-routes applies: max-age=60, or no caching headers at all.
    out.push({ path: `/post/${n}`, bytes: postTargetBytes(n), ttlS: postHasCachingHeaders(n) ? 60 : undefined });
  }
  return out;
}

/** The expected body size of one request, weighting each page by how often it is requested. */
export function weightedMeanBytes(pages: readonly CatalogPage[], probabilities: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < pages.length; i++) sum += pages[i].bytes * probabilities[i];
  return sum;
}
